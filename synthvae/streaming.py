"""Fitting from Parquet larger than memory: one pass draws a uniform reservoir sample (the
column transforms, the latent prior and the drift profile are fitted on it); training then
streams row groups through pyarrow in a shuffled order, through a bounded shuffle buffer.

Memory holds the reservoir, one row group and the shuffle buffer, never the table.
:func:`fit_stream` is ``Synthesizer.fit_parquet``: no rows are held out (every epoch runs);
differential privacy and distributed training are refused.

A folder is read as pandas reads it: Hive partition keys (``col=value/`` folders) are
columns. Files whose types for a column differ where one type holds the other (a part where
it is all empty, integer widths, integers and floats) are read in that type; other
differences are a DataError naming the column, the types and the files.
The reservoir pass reads every row, so it also records which columns have a missing cell
anywhere: those are nullable even where the reservoir holds none.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from synthvae import distributed
from synthvae.devices import resolve_device
from synthvae.dialect import check_unique_names
from synthvae.errors import ConfigError, DataError
from synthvae.fitting import finish_fit, start_generator
from synthvae.io import parquet_frame
from synthvae.params import (auto_epochs, batch_size, check_positive_int, fit_plan,
                             fit_seed)
from synthvae.preparation import check_frame, learn_transformer
from synthvae.progress import EpochProgress
from synthvae.schema import Schema, detect_column, schema_from_any
from synthvae.training import train

PRIOR_FIT_ROWS = 50_000  # reservoir rows encoded for the prior and profile
SAMPLE_ROWS = 200_000  # reservoir rows that fit the column transforms
BUFFER_ROWS = 100_000  # encoded rows shuffled together before batching
READ_ROWS = 65_536  # rows converted to pandas at once


@dataclass(frozen=True)
class ReservoirSample:
    """The reservoir pass's result: ``rows``, a uniform sample in random order, and
    ``missing``, the columns with a missing cell in any row of the whole table."""

    rows: pd.DataFrame
    missing: frozenset[str]


class ParquetSource:
    """A Parquet file, or a folder of them, read through ``pyarrow.dataset``."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise DataError(f"Input {str(path)!r} does not exist.")
        if path.is_file() and not path.name.lower().endswith((".parquet", ".pq")):
            raise DataError(f"Streaming reads Parquet: a .parquet file or a folder of them. "
                            f"Got {str(path)!r}; convert it first (see docs/scale.md).")
        try:
            self.dataset = open_dataset(path)
            self.rows = self.dataset.count_rows()
        except DataError:
            raise  # files whose types disagree: already names them
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(f"Cannot read {str(path)!r} as Parquet: {_first_line(exc)}") \
                from None
        if self.rows == 0:
            raise DataError(f"Input {str(path)!r} has no rows; there is nothing to learn from.")
        check_unique_names(self.dataset.schema.names, repr(str(path)))
        self.path = path

    def row_groups(self) -> list:
        """One dataset fragment per row group, the unit of the shuffled read order."""
        return [piece for fragment in self.dataset.get_fragments()
                for piece in fragment.split_by_row_group()]

    def reservoir(self, k: int, seed: int) -> ReservoirSample:
        """A uniform sample of ``min(k, rows)`` rows in random order, in one pass that also
        finds the columns with a missing cell anywhere.

        Every row gets a uniform key; the rows with the ``k`` smallest keys are kept
        (a batch-wise reservoir), so memory holds ``k`` rows plus one read batch.
        """
        import pyarrow as pa

        rng = np.random.default_rng(seed)
        kept, keys, missing = None, np.empty(0), set()
        for batch in self._scan():
            missing |= missing_columns(batch)
            batch_keys = rng.random(batch.num_rows)
            if kept is not None and len(keys) >= k:  # only rows that beat the k-th key
                chosen = np.flatnonzero(batch_keys < keys.max())
                batch, batch_keys = batch.take(pa.array(chosen)), batch_keys[chosen]
            table = pa.Table.from_batches([batch])
            kept = table if kept is None else pa.concat_tables([kept, table])
            keys = np.concatenate([keys, batch_keys])
            if len(keys) > k:
                best = np.argpartition(keys, k)[:k]
                kept, keys = kept.take(pa.array(best)), keys[best]
        order = np.argsort(keys, kind="stable")  # random order: any prefix is uniform too
        return ReservoirSample(parquet_frame(kept.take(pa.array(order))), frozenset(missing))

    def _scan(self) -> Iterator:
        """Every row in read batches; a value the dataset's types cannot hold (a cast that
        would lose it) is a DataError naming the input, before any training."""
        import pyarrow as pa

        try:
            yield from self.dataset.to_batches(batch_size=READ_ROWS)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"Cannot read {str(self.path)!r} as one table: "
                            f"{_first_line(exc)}") from None

    def encoded_batches(self, transformer, batch_size: int, buffer_rows: int,
                        rng: np.random.Generator, device) -> Iterator[torch.Tensor]:
        """One epoch of encoded batches: row groups in random order, rows shuffled within a
        buffer of at least ``buffer_rows``; every row once, the last batch maybe shorter."""
        pieces = self.row_groups()
        pending: list[np.ndarray] = []
        buffered = 0
        for i in rng.permutation(len(pieces)):
            # the dataset's schema: partition keys as columns, the parts' types unified
            for batch in pieces[i].to_batches(schema=self.dataset.schema,
                                              batch_size=READ_ROWS):
                matrix = _transform(transformer, parquet_frame(batch), rng)
                pending.append(matrix)
                buffered += len(matrix)
                if buffered >= buffer_rows:
                    pending, tail = _shuffled_batches(pending, batch_size, rng, keep_tail=True)
                    yield from (torch.from_numpy(b).to(device) for b in tail)
                    buffered = sum(len(m) for m in pending)
        _, tail = _shuffled_batches(pending, batch_size, rng, keep_tail=False)
        yield from (torch.from_numpy(b).to(device) for b in tail)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def missing_columns(batch) -> set[str]:
    """The names of a record batch's columns holding a missing cell: a null, or a NaN
    in a float column (pandas reads both as missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return {name for name, column in zip(batch.schema.names, batch.columns)
            if column.null_count or (pa.types.is_floating(column.type)
                                     and pc.any(pc.is_nan(column)).as_py())}


# ----------------------------------------------------------------------------- the dataset


def open_dataset(path: Path):
    """The Parquet file or folder as one ``pyarrow.dataset``: Hive partition keys
    (``col=value/`` folders, as Spark, Dask and ``write_to_dataset`` write them) are columns,
    as pandas reads them, and each column has the type that holds every file's."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    parts = [(fragment.path, fragment.physical_schema)
             for fragment in dataset.get_fragments()]
    unified = unified_schema(dataset.schema, parts)
    if unified.equals(dataset.schema, check_metadata=True):
        return dataset
    return ds.dataset(str(path), format="parquet", partitioning="hive", schema=unified)


def unified_schema(first, parts: list[tuple[str, object]]):
    """One schema for the files' schemas (``parts``: (file, schema)), starting from
    ``first`` (the first file's, with the partition keys): a column all-empty in one file
    takes the others' type, integers and floats become floats, narrow numbers wide, a
    dictionary (pandas ``category``) and text are one column (a dictionary where the first
    file has one, as pandas reads it); a column missing from a file is empty there. Types
    that do not unify (text in one file, numbers in another) are a DataError naming the
    column, the types and the files."""
    import pyarrow as pa

    try:
        unified = pa.unify_schemas([_plain(first)] + [_plain(schema) for _, schema in parts],
                                   promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        raise type_conflict(parts) from None
    unified = _dictionaries_kept(unified, first, [schema for _, schema in parts])
    changed = {field.name for field in first
               if unified.field(field.name).type != field.type}
    return _without_pandas_dtypes(unified, changed)


def _plain(schema):
    """``schema`` with dictionary columns as their values' type: a column written from a
    pandas ``category`` in one file and from text in another (or with more categories, so
    wider indices) holds the same values, and pandas reads such a folder."""
    import pyarrow as pa

    return pa.schema([field.with_type(field.type.value_type)
                      if pa.types.is_dictionary(field.type) else field for field in schema],
                     metadata=schema.metadata)


def _dictionaries_kept(unified, first, schemas: list):
    """``unified`` with the dictionary columns of ``first`` (the first file's) dictionaries
    again, as pandas reads a folder in its first file's types (a ``category``): the first
    file's own type where every file (``schemas``) has it, else 32-bit indices, which hold
    any file's values."""
    import pyarrow as pa

    fields = []
    for field in unified:
        kind = first.field(field.name).type if field.name in first.names else None
        if kind is not None and pa.types.is_dictionary(kind):
            agree = all(schema.field(field.name).type == kind for schema in schemas
                        if field.name in schema.names)
            field = field.with_type(kind if agree else
                                    pa.dictionary(pa.int32(), field.type, kind.ordered))
        fields.append(field)
    return pa.schema(fields, metadata=unified.metadata)


def type_conflict(parts: list[tuple[str, object]]) -> DataError:
    """The DataError for files whose types of one column do not unify: the column, the
    first file of the type held so far and the file that breaks it."""
    held: dict[str, tuple[object, str]] = {}  # name -> (type unified so far, file giving it)
    for file, schema in parts:
        for field in schema:
            kind, source = held.setdefault(field.name, (field.type, file))
            merged = _merged_type(kind, field.type)
            if merged is None:
                return DataError(
                    f"Column {field.name!r} is {kind} in {source!r} but {field.type} in "
                    f"{file!r}: the files of a streamed folder must agree on each column's "
                    f"type (all-empty parts and number types are unified); cast the column "
                    f"to one type in every file.")
            if merged not in (kind, getattr(kind, "value_type", None)):
                held[field.name] = (merged, file)
    return DataError(f"The files {[file for file, _ in parts][:3]} have column types that do "
                     f"not unify; cast each column to one type in every file.")


def _merged_type(a, b):
    """The type holding ``a`` and ``b`` (pyarrow's permissive promotion), or None."""
    import pyarrow as pa

    try:
        return pa.unify_schemas([_plain(pa.schema([("c", kind)])) for kind in (a, b)],
                                promote_options="permissive").field("c").type
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None


def _without_pandas_dtypes(schema, names: set[str]):
    """``schema`` without the pandas dtypes the first file recorded for ``names`` (columns
    whose type unification changed: its ``Int64`` would not hold the other files'
    decimals); pandas then reads them by their Arrow type."""
    pandas = (schema.metadata or {}).get(b"pandas")
    if not names or pandas is None:
        return schema
    recorded = json.loads(pandas)
    recorded["columns"] = [column for column in recorded.get("columns", [])
                           if column.get("name") not in names]
    return schema.with_metadata({**schema.metadata, b"pandas": json.dumps(recorded).encode()})


def _transform(transformer, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    with warnings.catch_warnings():  # values the reservoir never saw map to 'other'/nothing
        warnings.simplefilter("ignore")
        return transformer.transform(df, seed=int(rng.integers(2**31)))


def _shuffled_batches(pending: list[np.ndarray], batch_size: int, rng, keep_tail: bool
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(rows kept for later, full batches of the shuffled buffer); the partial last batch
    is kept when ``keep_tail``, else emitted."""
    if not pending:
        return [], []
    rows = np.concatenate(pending)
    rows = rows[rng.permutation(len(rows))]
    full = len(rows) // batch_size * batch_size if keep_tail else len(rows)
    batches = [rows[start:min(start + batch_size, full)]
               for start in range(0, full, batch_size)]
    return ([rows[full:]] if full < len(rows) else []), batches


def stream_loop(model, source: ParquetSource, transformer, layout, config,
                buffer_rows: int):
    """(batch source, step strategy) of a streamed fit: row groups through a shuffle buffer,
    plain Adam; no held-out rows (every epoch runs)."""
    from synthvae.batches import StreamedBatches
    from synthvae.steps import PlainStep

    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    batches = StreamedBatches(source, transformer, config.batch_size, buffer_rows, rng, device)
    return batches, PlainStep(model, layout, config, generator)


def fit_stream(synth, path: str | Path, sample_rows: int, buffer_rows: int) -> None:
    """Fit ``synth`` (parameters validated) from Parquet in bounded memory; sets its fitted
    attributes (see :mod:`synthvae.fit_memory` for the in-memory fit)."""
    started = time.perf_counter()
    check_positive_int("sample_rows", sample_rows)
    check_positive_int("buffer_rows", buffer_rows)
    check_streamable(synth)
    synth.fit_plan_ = fit_plan(synth)
    synth.device_ = resolve_device(synth.device)
    seed = fit_seed(synth)
    source = ParquetSource(path)
    t0 = time.perf_counter()
    head, data = _fit_reservoir(synth, source, sample_rows, seed)
    transform_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder = synth.constraints_.streamed(synth.transformer_, str(path))
    batches, step = stream_loop(synth.model_, source, encoder, synth.layout_,
                                synth.train_config_, buffer_rows)
    with EpochProgress(synth.train_config_.epochs, enabled=synth.verbose) as progress:
        history = train(step, batches, synth.train_config_, progress.update)
    # the training pass read every row: the calibration matches the whole table's frequencies
    # (the reservoir's miss what it holds no row of: a declared, unused category was drawn)
    finish_fit(synth, data, head, history, seed, source.rows, (started, transform_seconds, t0),
               batches.slot_frequencies(synth.layout_),
               all_rows=False, processes=1, streamed=True,
               reservoir_rows=min(sample_rows, source.rows))


def _fit_reservoir(synth, source: ParquetSource, sample_rows: int, seed: int
                   ) -> tuple[pd.DataFrame, torch.Tensor]:
    """Schema, constraints, column transforms, a new generator and the training config, from
    a reservoir sample; returns the rows the prior and drift profile read (modelled, as the
    constraints transform them, and encoded on the device)."""
    sample = source.reservoir(sample_rows, seed)
    rows = check_frame(sample.rows)
    overrides = streamed_overrides(synth, rows, sample.missing)
    learned = learn_transformer(synth, rows, seed, None, overrides)
    synth.schema_, synth.constraints_ = learned.schema, learned.constraints
    synth.transformer_ = learned.transformer
    synth.privacy_, synth.rank_ = None, 0
    # the reservoir is in random order: its head is a uniform subsample for the prior
    head = learned.modelled.iloc[:PRIOR_FIT_ROWS]
    data = start_generator(synth, synth.transformer_.transform(head), seed, source.rows)
    epochs = synth.epochs or auto_epochs(
        source.rows, batch_size(synth, synth.fit_plan_, source.rows, 0.0), 0.0)
    synth.train_config_ = replace(synth.train_config_, validation_fraction=0.0, epochs=epochs)
    return head, data


def streamed_overrides(params, rows: pd.DataFrame, missing: frozenset[str]
                       ) -> Schema | None:
    """The schema overrides of a streamed fit: the user's (SDV metadata read with the
    reservoir ``rows``, as the in-memory fit reads it with the table), and every column with
    a missing cell in the whole table (``missing``) but none in the reservoir declared
    nullable, so that such a cell met while training is encoded, not an error."""
    overrides = _sdv_read_with(schema_from_any(params.schema), rows)
    given = {spec.name: spec for spec in overrides.columns} if overrides else {}
    late = [name for name in rows.columns if name in missing and not rows[name].isna().any()]
    if not late:
        return overrides
    for name in late:
        spec = given.get(name) or detect_column(rows[name], params.categorical_threshold)
        given[name] = replace(spec, nullable=True)
    return Schema(columns=tuple(given.values()),
                  constraints=overrides.constraints if overrides else (),
                  extra=overrides.extra if overrides else {})


def _sdv_read_with(overrides: Schema | None, rows: pd.DataFrame) -> Schema | None:
    """A schema read from SDV metadata without the table (the CLI's ``--stream --metadata``:
    every column nullable, dtypes from the sdtypes) read again with the reservoir ``rows``,
    as ``--metadata`` is read with the table in memory; any other schema as it is."""
    from synthvae.sdv_metadata import schema_from_sdv

    sdv = overrides.extra.get("sdv") if overrides is not None else None
    if not isinstance(sdv, dict) or not isinstance(sdv.get("columns"), dict):
        return overrides
    metadata = {"columns": sdv["columns"], "primary_key": sdv.get("primary_key")}
    if schema_from_sdv(metadata).columns != overrides.columns:
        return overrides  # read with a table already, or edited since
    return replace(schema_from_sdv(metadata, rows), constraints=overrides.constraints)


def check_streamable(params) -> None:
    """Refuse what a streamed fit cannot do: DP and distributed training."""
    if params.epsilon is not None:
        raise ConfigError("Streaming fits do not support differential privacy: DP-SGD's "
                          "accounting assumes Poisson sampling of rows, which a row-group "
                          "stream does not give. Fit DP models in memory.")
    if distributed.wanted(params.distributed):
        raise ConfigError("Streaming fits run in one process; distributed training "
                          "needs the table in memory on each rank (see docs/scale.md).")
