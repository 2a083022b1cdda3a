"""Fitting from Parquet larger than memory: one pass draws a uniform reservoir sample (the
column transforms, the latent prior and the drift profile are fitted on it); training then
streams row groups through pyarrow in a shuffled order, through a bounded shuffle buffer.

Memory holds the reservoir, one row group and the shuffle buffer, never the table.
:func:`fit_stream` is ``Synthesizer.fit_parquet``: no rows are held out (every epoch runs);
differential privacy and distributed training are refused.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
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
from synthvae.params import (auto_epochs, batch_size, check_positive_int, fit_plan,
                             fit_seed)
from synthvae.preparation import check_frame, learn_transformer
from synthvae.progress import EpochProgress
from synthvae.training import train

PRIOR_FIT_ROWS = 50_000  # reservoir rows encoded for the prior and profile
SAMPLE_ROWS = 200_000  # reservoir rows that fit the column transforms
BUFFER_ROWS = 100_000  # encoded rows shuffled together before batching
READ_ROWS = 65_536  # rows converted to pandas at once


class ParquetSource:
    """A Parquet file, or a folder of them, read through ``pyarrow.dataset``."""

    def __init__(self, path: str | Path):
        import pyarrow.dataset as ds

        path = Path(path)
        if not path.exists():
            raise DataError(f"Input {str(path)!r} does not exist.")
        if path.is_file() and not path.name.lower().endswith((".parquet", ".pq")):
            raise DataError(f"Streaming reads Parquet: a .parquet file or a folder of them. "
                            f"Got {str(path)!r}; convert it first (see docs/scale.md).")
        try:
            self.dataset = ds.dataset(str(path), format="parquet")
            self.rows = self.dataset.count_rows()
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"Cannot read {str(path)!r} as Parquet: {first}") from None
        if self.rows == 0:
            raise DataError(f"Input {str(path)!r} has no rows; there is nothing to learn from.")
        check_unique_names(self.dataset.schema.names, repr(str(path)))
        self.path = path

    def row_groups(self) -> list:
        """One dataset fragment per row group, the unit of the shuffled read order."""
        return [piece for fragment in self.dataset.get_fragments()
                for piece in fragment.split_by_row_group()]

    def reservoir(self, k: int, seed: int) -> pd.DataFrame:
        """A uniform sample of ``min(k, rows)`` rows in random order, in one pass.

        Every row gets a uniform key; the rows with the ``k`` smallest keys are kept
        (a batch-wise reservoir), so memory holds ``k`` rows plus one read batch.
        """
        import pyarrow as pa

        rng = np.random.default_rng(seed)
        kept, keys = None, np.empty(0)
        for batch in self.dataset.to_batches(batch_size=READ_ROWS):
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
        return kept.take(pa.array(order)).to_pandas()

    def encoded_batches(self, transformer, batch_size: int, buffer_rows: int,
                        rng: np.random.Generator, device) -> Iterator[torch.Tensor]:
        """One epoch of encoded batches: row groups in random order, rows shuffled within a
        buffer of at least ``buffer_rows``; every row once, the last batch maybe shorter."""
        pieces = self.row_groups()
        pending: list[np.ndarray] = []
        buffered = 0
        for i in rng.permutation(len(pieces)):
            for batch in pieces[i].to_batches(batch_size=READ_ROWS):
                matrix = _transform(transformer, batch.to_pandas(), rng)
                pending.append(matrix)
                buffered += len(matrix)
                if buffered >= buffer_rows:
                    pending, tail = _shuffled_batches(pending, batch_size, rng, keep_tail=True)
                    yield from (torch.from_numpy(b).to(device) for b in tail)
                    buffered = sum(len(m) for m in pending)
        _, tail = _shuffled_batches(pending, batch_size, rng, keep_tail=False)
        yield from (torch.from_numpy(b).to(device) for b in tail)


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
    finish_fit(synth, data, head, history, seed, source.rows, (started, transform_seconds, t0),
               all_rows=False, processes=1, streamed=True,
               reservoir_rows=min(sample_rows, source.rows))


def _fit_reservoir(synth, source: ParquetSource, sample_rows: int, seed: int
                   ) -> tuple[pd.DataFrame, torch.Tensor]:
    """Schema, constraints, column transforms, a new generator and the training config, from
    a reservoir sample; returns the rows the prior and drift profile read (modelled, as the
    constraints transform them, and encoded on the device)."""
    learned = learn_transformer(synth, check_frame(source.reservoir(sample_rows, seed)),
                                seed, None)
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


def check_streamable(params) -> None:
    """Refuse what a streamed fit cannot do: DP and distributed training."""
    if params.epsilon is not None:
        raise ConfigError("Streaming fits do not support differential privacy: DP-SGD's "
                          "accounting assumes Poisson sampling of rows, which a row-group "
                          "stream does not give. Fit DP models in memory.")
    if distributed.wanted(params.distributed):
        raise ConfigError("Streaming fits run in one process; distributed training "
                          "needs the table in memory on each rank (see docs/scale.md).")
