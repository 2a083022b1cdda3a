"""Sampling on a Dask cluster: ``synthvae.dask.sample(model, n, partitions)``.

Each partition of the returned Dask DataFrame is one shard of :mod:`synthvae.sharding`:
partition ``i`` holds exactly the rows ``synthvae sample -n N --shards S --shard-index i``
writes for the same seed, so a cluster run, a Slurm array and a laptop agree row for row.
Dask does the scheduling, the transfer and the output (``to_parquet``, ``compute``); this
module only says how to build one partition. The partitions' index is the global row number
(known divisions), so ``ddf.loc[a:b]`` reads only the partitions that hold those rows.

Needs the optional extra: ``pip install "synthvae[dask]"``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthvae.errors import ConfigError
from synthvae.sharding import Shard


def sample(model, n: int, partitions: int, seed: int | None = None):
    """A lazy Dask DataFrame of ``n`` synthetic rows in ``partitions`` shards.

    ``model`` is a fitted :class:`synthvae.Synthesizer` (shipped to the workers by Dask) or
    the path of a saved model (each worker loads it; nothing large travels in the graph).
    ``seed`` is as for :meth:`Synthesizer.sample`.
    """
    try:
        import dask.dataframe as dd
    except ImportError:
        from synthvae.errors import ConfigError

        raise ConfigError('synthvae.dask needs Dask: pip install "synthvae[dask]".') from None

    from synthvae.params import check_seed
    from synthvae.synthesizer import Synthesizer
    from synthvae.table_sampling import check_n

    n = check_n(n)
    if seed is not None:  # here, not in a worker at compute time
        check_seed(seed, "The sampling seed")
    partitions = check_partitions(partitions)
    synth = model if isinstance(model, Synthesizer) else Synthesizer.load(model)
    synth._check_fitted()
    source = (str(model), fingerprint(model)) if isinstance(model, (str, Path)) else synth
    meta = synth.sample(0)
    shards = [Shard(i, partitions) for i in range(partitions)]
    starts = [shard.rows(n)[0] for shard in shards]
    divisions = (*starts, n - 1) if n >= partitions else None  # every partition non-empty
    return dd.from_map(_partition, shards, source=source, n=n, seed=seed, meta=meta,
                       divisions=divisions, enforce_metadata=False, label="synthvae-sample")


def _partition(shard: Shard, source, n: int, seed: int | None) -> pd.DataFrame:
    """Shard ``shard`` of the ``n``-row sample, indexed by its global row numbers."""
    from synthvae.synthesizer import Synthesizer

    synth = source if isinstance(source, Synthesizer) else _load(*source)
    frame = synth.sample(n, seed=seed, shard=shard)
    start, stop = shard.rows(n)
    frame.index = pd.RangeIndex(start, stop)
    return frame


_LOADED: dict[tuple[str, str], object] = {}


def _load(path: str, expected: str):
    """The saved model whose :func:`fingerprint` is ``expected``, loaded once per worker
    process. A file replaced since (a refit saved to the same path) is loaded afresh and
    refused: its rows would not be the graph's (the cache was keyed by the path alone, and
    a second ``sample`` after a refit computed the old model's rows)."""
    from synthvae.synthesizer import Synthesizer

    key = (path, expected)
    if key not in _LOADED:
        synth = Synthesizer.load(path)
        if fingerprint(path) != expected:
            raise ConfigError(f"Model file {path!r} changed after synthvae.dask.sample built "
                              f"its graph; call synthvae.dask.sample again.")
        _LOADED[key] = synth
    return _LOADED[key]


def fingerprint(path) -> str:
    """The model file's checksum from its header (no tensor is read), or its modification
    time and size for a file written before checksums."""
    from safetensors import safe_open

    from synthvae.persistence import CHECKSUM_KEY

    with safe_open(str(path), "pt") as f:
        checksum = (f.metadata() or {}).get(CHECKSUM_KEY)
    if checksum:
        return checksum
    stat = Path(path).stat()
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def check_partitions(partitions) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigError(f"partitions must be a positive int. Got {partitions!r} instead.")
    return partitions
