"""Random numbers that are a function of (key, sample seed, global row number) alone.

Generated PII values must not depend on how a sample is cut: rows 1000..1999 drawn as the
second chunk, as the second of two shards or inside one call give the same values. A
stream drawn from the sampling generator cannot do that (a shard has its own stream), so
each row gets its own state, ``splitmix64(key, seed, row)``, and every draw is a further
mix of that state with a *field* number that names the draw (the first name, the digits of
a phone number, ...). No per-row Python loop: all of it is uint64 array arithmetic.

The sample seed is read from the sampling generator: :func:`sample_seed` returns the
entropy of its ``SeedSequence``, which ``Synthesizer.sample(seed=s)`` and every shard of
it share (shards differ only in their ``spawn_key``, see :mod:`synthvae.sharding`).
"""

from __future__ import annotations

import zlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_FIELD = np.uint64(0xD1B54A32D192ED03)
_MASK = (1 << 64) - 1


def column_key(seed: int, name: str) -> int:
    """The column's key, from the fit's seed and the column's name: two columns of one form
    (two e-mail or order-id columns) generate different values, not the same ones row by
    row."""
    salt = np.uint64(zlib.crc32(name.encode("utf-8")))
    return int(mix64(np.uint64(int(seed) & _MASK) ^ (salt << np.uint64(32))))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of uint64 that spreads every input bit."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sample_seed(rng: np.random.Generator | None) -> int:
    """The seed the sample was asked for (shared by its shards); random without one."""
    sequence = getattr(getattr(rng, "bit_generator", None), "seed_seq", None)
    entropy = getattr(sequence, "entropy", None)
    if entropy is None:
        return int(np.random.default_rng().integers(0, 2 ** 63))
    if isinstance(entropy, (int, np.integer)):
        return int(entropy) & _MASK
    folded = np.uint64(0)
    for word in np.atleast_1d(np.asarray(entropy, dtype=object)):
        folded = mix64(folded ^ np.uint64(int(word) & _MASK))
    return int(folded)


class RowRandom:
    """Per-row draws for global ``rows`` of the sample with ``seed``, under column ``key``."""

    def __init__(self, key: int, seed: int, rows: np.ndarray):
        self.key, self.rows = key, np.asarray(rows, dtype=np.int64)
        base = mix64(np.uint64(key & _MASK) ^ mix64(np.uint64(seed & _MASK)))
        with np.errstate(over="ignore"):
            self.state = mix64(base ^ (np.asarray(rows, dtype=np.uint64) * _GOLDEN))  # (n,)

    def __len__(self) -> int:
        return len(self.state)

    def bits(self, field: int, width: int | None = None) -> np.ndarray:
        """uint64 draws: (n,) or, with ``width``, (n, width) independent ones."""
        with np.errstate(over="ignore"):
            salt = np.uint64(field & _MASK) * _FIELD
            if width is None:
                return mix64(self.state + salt)
            columns = np.arange(1, width + 1, dtype=np.uint64) * _GOLDEN
            return mix64((self.state + salt)[:, None] ^ mix64(columns)[None, :])

    def uniform(self, field: int, width: int | None = None) -> np.ndarray:
        """Floats in [0, 1), 53 random bits each."""
        return (self.bits(field, width) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53

    def integers(self, field: int, high, width: int | None = None) -> np.ndarray:
        """int64 in [0, high); ``high`` a positive int or a (n,) array of them."""
        high = np.asarray(high, dtype=np.int64)
        if width is not None and high.ndim:
            high = high[:, None]
        return np.minimum((self.uniform(field, width) * high).astype(np.int64), high - 1)

    def choice(self, field: int, weights) -> np.ndarray:
        """Indices into ``weights`` (non-negative, any scale), one per row."""
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        picked = np.searchsorted(cumulative, self.uniform(field) * cumulative[-1], side="right")
        return np.minimum(picked, len(cumulative) - 1)
