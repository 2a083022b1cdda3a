"""Batch sources: where each epoch's batches come from, for the one training loop.

A batch source has one method, ``epoch()``, that yields one epoch of :class:`Batch` lazily,
so random draws interleave with the steps exactly as a hand-written loop would make them:

- :class:`PermutedBatches`: a random permutation of in-memory rows, cut into batches;
- :class:`PoissonBatches`: each row independently with a fixed rate (what DP-SGD accounts
  for), a fixed number of steps per epoch;
- :class:`StreamedBatches`: row groups of a Parquet source, shuffled through a buffer;
- :class:`RankShare`: any of the above, keeping a distributed rank's share of every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch


@dataclass(frozen=True)
class Batch:
    data: torch.Tensor  # (rows, width) encoded rows this process trains on
    size: int  # rows of the whole batch (all ranks together); == len(data) in one process


class PermutedBatches:
    """Every row once per epoch, in batches of ``batch_size`` cut from a random order."""

    def __init__(self, data: torch.Tensor, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, batch_size, generator

    def epoch(self) -> Iterator[Batch]:
        order = torch.randperm(len(self.data), generator=self.generator,
                               device=self.data.device)
        for start in range(0, len(self.data), self.batch_size):
            rows = self.data[order[start:start + self.batch_size]]
            yield Batch(rows, len(rows))


class PoissonBatches:
    """``steps`` batches per epoch, each row in each independently with probability ``rate``
    (the sampling DP-SGD's accounting assumes; a batch may be empty)."""

    def __init__(self, data: torch.Tensor, rate: float, steps: int,
                 generator: torch.Generator):
        self.data, self.rate, self.steps, self.generator = data, rate, steps, generator

    def epoch(self) -> Iterator[Batch]:
        for _ in range(self.steps):
            rows = poisson_rows(len(self.data), self.rate, self.generator, self.data.device)
            yield Batch(self.data[rows], len(rows))


def poisson_rows(n: int, rate: float, generator, device) -> torch.Tensor:
    """Indices of the rows drawn: each of ``n`` independently with probability ``rate``."""
    return torch.nonzero(torch.rand(n, generator=generator, device=device) < rate).squeeze(1)


class StreamedBatches:
    """Batches encoded on the fly from a :class:`synthvae.streaming.ParquetSource`."""

    def __init__(self, source, transformer, batch_size: int, buffer_rows: int,
                 rng: np.random.Generator, device):
        self.source, self.transformer = source, transformer
        self.batch_size, self.buffer_rows, self.rng, self.device = \
            batch_size, buffer_rows, rng, device
        self.column_sums, self.rows_read = None, 0  # of the first complete epoch

    def epoch(self) -> Iterator[Batch]:
        """Every row once; the first complete epoch also sums the encoded columns, on the
        device (float64: counts stay exact past float32's 2**24), for the slot frequencies
        of the whole table (:meth:`slot_frequencies`)."""
        counting = self.column_sums is None
        sums, read = 0, 0
        for rows in self.source.encoded_batches(self.transformer, self.batch_size,
                                                self.buffer_rows, self.rng, self.device):
            if counting:
                sums, read = sums + rows.sum(0, dtype=torch.float64), read + len(rows)
            yield Batch(rows, len(rows))
        if counting and read:
            self.column_sums, self.rows_read = sums, read

    def slot_frequencies(self, layout) -> torch.Tensor | None:
        """(n_slots,) share of each slot among the rows holding a slot of its span (``layout``
        a SpanLayout), None before a complete epoch. A category the reservoir never saw is
        encoded as no slot where its column has no "other": the known values' shares are
        among the rows that have one, as the sampler, which always draws one, gives them."""
        if self.column_sums is None:
            return None
        counts = self.column_sums[layout.slot_index]
        held = torch.zeros(layout.n_groups, dtype=counts.dtype, device=counts.device
                           ).index_add_(0, layout.slot_group, counts)
        return (counts / held[layout.slot_group].clamp_min(1.0)).float()


class RankShare:
    """Rows ``rank::world_size`` of every batch of ``inner`` (the layout of
    ``torch.utils.data.DistributedSampler``); all ranks draw the same batches."""

    def __init__(self, inner, rank: int, world_size: int):
        self.inner, self.rank, self.world_size = inner, rank, world_size

    def epoch(self) -> Iterator[Batch]:
        for batch in self.inner.epoch():
            yield Batch(batch.data[self.rank::self.world_size], batch.size)
