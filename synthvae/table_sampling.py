"""Synthetic tables from a fitted generator: its encoded rows decoded into DataFrames.

:class:`TableSampler` draws batches of encoded rows from the generator (unconditioned, or
meeting bound conditions, see :mod:`synthvae.conditions`), decodes them with the table
transformer, and hands them to the constraints layer (:mod:`synthvae.constraints`), which
turns the modelled columns back into the table's, restores its dtypes and checks the rules;
the few rows a check refuses are redrawn, in a bounded number of rounds
(:mod:`synthvae.constraints.redraw`). :func:`rechunk` regroups the batches into the chunks
the caller asked for, so the rows do not depend on the chunk size.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
import torch

from synthvae.constraints.redraw import RejectionGuard, complete
from synthvae.errors import ConfigError
from synthvae.params import check_seed, model_seed
from synthvae.threads import each_within, threaded
from synthvae.torch_dtype import float32_default

SAMPLE_BATCH_ROWS = 65_536  # encoded rows drawn and decoded at once, at most
# ... and at most this many encoded cells (512 MiB of float32): a wide table's batch of
# 65,536 rows would be several GiB (31,697 encoded columns: 8.3 GB). Fewer rows a batch
# only from 2,049 encoded columns up, in whole multiples of SAMPLE_BATCH_ALIGN rows.
SAMPLE_BATCH_CELLS = 2**27
SAMPLE_BATCH_ALIGN = 4_096  # the decoder's CPU chunks divide it
EMPTY_TEMPLATE_ROWS = 256  # rows drawn to read an empty sample's dtypes and Arrow types
MAX_ROWS = 2**63 - 1  # the most rows one call samples: row numbers are int64


class TableSampler:
    """DataFrames of sampled rows from ``generator`` (synthvae.generator) through
    ``transformer`` and the fitted ``constraints`` layer (a ConstraintLayer);
    ``effective_sizes`` records each conditional batch's pool ESS."""

    def __init__(self, generator, transformer, constraints):
        self.generator = generator
        self.transformer = transformer
        self.constraints = constraints
        self.effective_sizes: list[float] = []

    def frames(self, n: int, generator: torch.Generator, rng: np.random.Generator,
               offset: int = 0, residual=(), conditions: dict | None = None
               ) -> Iterator[pd.DataFrame]:
        """``n`` rows in batches; ``offset`` numbers the first row (identifiers). Rows that
        a constraint check or a ``residual`` condition (one the constraints model through
        another column) refuses are redrawn."""

        def draw(rows: int, row_offset: int) -> tuple[pd.DataFrame, np.ndarray]:
            matrix = self.generator.sample(rows, generator)
            return self.constraints.output(self.transformer.inverse_transform(
                matrix.cpu().numpy(), rng, row_offset=row_offset), residual)

        guard = RejectionGuard(conditions)
        batch = sample_batch_rows(self.generator.layout.width)
        for start in range(0, n, batch):
            rows = min(batch, n - start)
            yield complete(draw, rows, offset + start, self.constraints.id_columns, guard)

    def empty(self) -> pd.DataFrame:
        """No rows, with the columns and dtypes of a sample, and the Arrow schema its rows
        get (:func:`synthvae.frames.declare_arrow_schema`), read off ``EMPTY_TEMPLATE_ROWS``
        rows drawn for the purpose (enough that a column with empty cells shows a value),
        so an empty Parquet file has the types of a full one."""
        from synthvae.frames import declare_arrow_schema
        from synthvae.io import arrow_table

        generator = torch.Generator(device=self.generator.device).manual_seed(0)
        rows = next(self.frames(EMPTY_TEMPLATE_ROWS, generator, np.random.default_rng(0)))
        return declare_arrow_schema(rows.iloc[:0].copy(), arrow_table(rows).schema)

    def conditional(self, n: int, generator: torch.Generator, rng: np.random.Generator,
                    bound: list, conditions: dict, residual=()) -> Iterator[pd.DataFrame]:
        """``n`` rows meeting every bound condition, the ``residual`` ones and the
        constraints; rows that rounding or a check pushes out are redrawn (three empty
        batches in a row: the model gives the conditions no probability)."""
        from synthvae.conditions import BATCH_ROWS

        guard = RejectionGuard(conditions)
        sampler = self.generator.conditional_sampler(bound)
        produced = decoded = empty_batches = 0
        while produced < n:
            rows = min(BATCH_ROWS, guard.rows_to_draw(n - produced))
            matrix, possible = sampler.matrix(rows, generator)
            frame = self.transformer.inverse_transform(matrix.cpu().numpy(), rng,
                                                       row_offset=decoded)
            decoded += rows  # identifiers stay unique across redrawn rows
            for condition in bound:
                condition.finish(frame)
            keep = possible.cpu().numpy()
            for condition in bound:
                keep &= condition.holds(frame)
            frame, passed = self.constraints.output(frame, residual)
            keep &= passed
            guard.add(rows, keep.sum())
            if not keep.any():
                empty_batches += 1
                if empty_batches >= 3:
                    raise ConfigError(f"The model gives rows meeting {conditions!r} no "
                                      f"probability; widen the conditions.")
                continue
            frame = frame[keep].iloc[:n - produced].reset_index(drop=True)
            produced += len(frame)
            yield frame
        self.effective_sizes = sampler.effective_sizes


def sample_batch_rows(width: int) -> int:
    """Encoded rows drawn and decoded at once for a layout ``width`` columns wide:
    ``SAMPLE_BATCH_ROWS``, or fewer where that many would hold more than
    ``SAMPLE_BATCH_CELLS`` cells. The rows of a seed depend on it (each batch draws its
    random numbers in turn), so it is a function of the model alone: every process that
    samples the model, sharded or not, batches alike."""
    fitting = SAMPLE_BATCH_CELLS // max(width, 1) // SAMPLE_BATCH_ALIGN * SAMPLE_BATCH_ALIGN
    return min(SAMPLE_BATCH_ROWS, max(SAMPLE_BATCH_ALIGN, fitting))


def sample_stream(synth, n: int, chunk_size: int, seed: int | None, conditions: dict | None,
                  shard: tuple[int, int] | None) -> Iterator[pd.DataFrame]:
    """:meth:`Synthesizer.iter_sample` for the fitted ``synth``: the arguments checked and
    the conditions bound to the encoded layout now (a bad argument raises at the call, not
    at the first chunk, after a caller has started its progress display or output file),
    then a stream of the sampler's frames, regrouped into ``chunk_size`` rows."""
    from synthvae.sharding import check_shard

    synth._check_fitted()
    n, chunk_size, shard = check_n(n), check_chunk_size(chunk_size), check_shard(shard)
    if shard is not None and conditions is not None:
        raise ConfigError("Sharded sampling does not combine with conditions: conditional "
                          "rows are drawn in redrawn batches whose identifiers cannot be "
                          "split ahead of time. Sample the conditional rows unsharded.")
    bound, residual = None, []
    if conditions is not None:
        from synthvae.conditions import bind_conditions, normalize_conditions

        # read as users write them (NaN / NA / NaT empty, dates whole days) before the
        # constraints map any: a constrained column reads them so too
        conditions = normalize_conditions(conditions, synth.schema_.columns)
        modelled, residual = synth.constraints_.split_conditions(conditions)
        bound = bind_conditions(modelled, synth.transformer_, synth.layout_) \
            if modelled or not conditions else []
    seed = model_seed(synth) if seed is None else check_seed(seed, "The sampling seed")
    return _stream(synth, n, chunk_size, seed, shard, bound, conditions, residual)


def _stream(synth, n: int, chunk_size: int, seed: int, shard, bound, conditions: dict | None,
            residual: list) -> Iterator[pd.DataFrame]:
    """The frames of :func:`sample_stream`, its arguments checked."""
    torch_seed, numpy_seed, start = seed, seed, 0
    if shard is not None:
        start, stop = shard.rows(n)
        n = stop - start
        torch_seed, numpy_seed = shard.seeds(seed)
    sampler = TableSampler(synth.generator_, synth.transformer_, synth.constraints_)
    if n == 0:
        with float32_default():
            empty = sampler.empty()
        yield empty
        return
    if bound:
        from synthvae.conditions import warn_excluded_pairs

        warn_excluded_pairs(bound, synth.generator_.excluded, n)  # once, before drawing
    generator = torch.Generator(device=synth.device_).manual_seed(torch_seed)
    rng = np.random.default_rng(numpy_seed)
    frames = sampler.conditional(n, generator, rng, bound, conditions, residual) \
        if bound else sampler.frames(n, generator, rng, start, residual, conditions)
    yield from rechunk(each_within(threaded(frames, synth.n_threads), float32_default), n,
                       chunk_size)
    if bound:
        synth.conditional_effective_sizes_ = sampler.effective_sizes

def rechunk(frames: Iterator[pd.DataFrame], n: int, chunk_size: int
            ) -> Iterator[pd.DataFrame]:
    """Regroup a stream of frames totalling ``n`` rows into frames of ``chunk_size`` rows."""
    pending: list[pd.DataFrame] = []
    buffered = seen = 0
    for frame in frames:
        pending.append(frame)
        buffered += len(frame)
        seen += len(frame)
        while buffered >= chunk_size or (seen == n and buffered):
            joined = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            out, rest = joined.iloc[:chunk_size], joined.iloc[chunk_size:]
            yield out.reset_index(drop=True)
            pending = [rest] if len(rest) else []
            buffered = len(rest)


def whole_number_columns(synth) -> list[str]:
    """The columns whose sampled values are always whole numbers: integer numbers, and
    category columns whose categories all are (a rating of 1-5 with blanks, floats to
    pandas), so a CSV writer can write ``2``, not ``2.0``, in every chunk alike."""
    names = [spec.name for spec in synth.schema_.columns if spec.integer]
    values = {column.spec.name: getattr(column, "categories_", None)
              for column in synth.transformer_.transformers_}
    values.update(synth.constraints_.combination_values())  # columns a rule models jointly
    names += [name for name, known in values.items()
              if known and all(_whole_or_missing(value) for value in known)]
    return names


def _whole_or_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return bool(np.isnan(value) or float(value).is_integer())


MEMORY_CHECK_ROWS = 1_000_000  # sample() estimates its DataFrame's memory from this many rows
MEMORY_PROBE_ROWS = 2_000  # ... on this many rows drawn first


def check_output_memory(synth, n: int, shard: tuple[int, int] | None) -> None:
    """Refuse, before drawing, a ``sample(n)`` whose DataFrame would not fit in memory: its
    chunks and their concatenation are held at once, about twice the frame. The bytes per row
    are measured on ``MEMORY_PROBE_ROWS`` rows."""
    from synthvae.devices import available_memory
    from synthvae.sharding import check_shard

    rows = check_n(n)
    checked = check_shard(shard)
    if checked is not None:
        start, stop = checked.rows(rows)
        rows = stop - start
    if rows < MEMORY_CHECK_ROWS:
        return
    available = available_memory(torch.device("cpu"))
    if available is None:
        return
    probe = pd.concat(list(sample_stream(synth, MEMORY_PROBE_ROWS, MEMORY_PROBE_ROWS, 0, None,
                                         None)))
    per_row = probe.memory_usage(deep=True, index=False).sum() / len(probe)
    needed = 2 * rows * per_row
    if needed > 0.8 * available:
        raise ConfigError(
            f"sample({rows:,}) would hold about {needed / 2**30:,.1f} GiB ({rows:,} rows x "
            f"~{per_row:,.0f} bytes, twice while its chunks are joined) but "
            f"{available / 2**30:,.1f} GiB is free; draw the rows in chunks with "
            f"iter_sample(n, chunk_size=...) or write them to a file with 'synthvae sample "
            f"-n N -o rows.parquet', which streams.")


def check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"The number of rows to sample must be a non-negative int. "
                          f"Got {n!r} instead.")
    if n > MAX_ROWS:  # rows are numbered in int64 (identifiers, shards, seeds' streams)
        raise ConfigError(f"The number of rows to sample must be at most {MAX_ROWS:,}. "
                          f"Got {n:,} instead.")
    return int(n)


def check_chunk_size(chunk_size) -> int:
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size (--chunk-size) must be a positive int. Got "
                          f"{chunk_size!r} instead.")
    return chunk_size
