"""Sharded sampling: shard ``i`` of ``S`` is a self-contained slice of one reproducible sample.

Any scheduler (a Slurm array, Ray, Spark, a shell loop) can run the shards independently, in
any order, on any machine; together they give exactly the ``n`` rows asked for:

- rows: shard ``i`` produces rows ``[i * n // S, (i + 1) * n // S)`` of the whole, so the
  sizes differ by at most one and sum to ``n``;
- randomness: its seed is ``SeedSequence(seed, spawn_key=(i,))`` (what
  ``SeedSequence(seed).spawn(S)[i]`` gives), so the shards draw from independent,
  non-overlapping streams, and the same (seed, i) always gives the same rows;
- identifier columns are numbered from the shard's first global row, so they stay unique
  across shards.

A single shard (``S = 1``) is the unsharded sample: it uses ``seed`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthvae.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based position of this shard
    count: int  # number of shards the whole sample is split into

    def rows(self, n: int) -> tuple[int, int]:
        """The [start, stop) rows of an ``n``-row sample that this shard produces."""
        return self.index * n // self.count, (self.index + 1) * n // self.count

    def seeds(self, seed: int) -> tuple[int, np.random.SeedSequence | int]:
        """(torch seed, numpy seed) of this shard's independent stream."""
        if self.count == 1:
            return seed, seed
        sequence = np.random.SeedSequence(seed, spawn_key=(self.index,))
        torch_seed = int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))
        return torch_seed, sequence

    def file_name(self) -> str:
        """``part-00007-of-00100.parquet``: sorts in row order, names the whole."""
        return f"part-{self.index:05d}-of-{self.count:05d}.parquet"


def check_shard(shard) -> Shard | None:
    """A :class:`Shard` from ``None``, a ``Shard`` or an ``(index, count)`` pair."""
    if shard is None or isinstance(shard, Shard):
        return shard
    ok = isinstance(shard, (tuple, list)) and len(shard) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shard)
    if not ok:
        raise ConfigError(f"shard must be an (index, count) pair of ints. Got {shard!r} "
                          f"instead.")
    index, count = int(shard[0]), int(shard[1])
    if count < 1:
        raise ConfigError(f"The number of shards must be a positive int. Got {count} instead.")
    if not 0 <= index < count:
        raise ConfigError(f"The shard index must be in [0, {count - 1}] for {count} shards "
                          f"(indices start at 0). Got {index} instead.")
    return Shard(index, count)


def shard_output(folder, shard: Shard):
    """The file of ``shard`` inside ``folder`` (created if missing); refuses a file path."""
    from pathlib import Path

    from synthvae.errors import DataError
    from synthvae.io import TABLE_SUFFIXES

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"Sharded sampling writes a Parquet dataset into a folder, but "
                        f"{str(folder)!r} is a file; give -o a folder such as 'out/'.")
    if not folder.exists() and folder.name.lower().endswith(TABLE_SUFFIXES):
        raise DataError(f"Sharded sampling writes a Parquet dataset into a folder; "
                        f"{str(folder)!r} looks like a file name. Give -o a folder such as "
                        f"'out/'.")
    try:
        folder.mkdir(parents=True, exist_ok=True)  # shards of an array job race here: fine
    except OSError as exc:
        raise DataError(f"Cannot create the output folder {str(folder)!r}: "
                        f"{exc.strerror}.") from None
    return folder / shard.file_name()
