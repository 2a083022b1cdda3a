"""Strings assembled from pieces of varying length, as code point matrices, without a
per-row loop.

A *piece* is ``(lengths, codes)``: (n,) lengths and (n, width) code points of which each
row's first ``lengths[i]`` are used. Pieces come from literal text, words picked from a
vocabulary, decimal numbers and random runs of a character class; :func:`assemble_codes`
concatenates them row by row into one (n, total) matrix (zero-padded), which
:func:`strings_of` turns into strings.
"""

from __future__ import annotations

import functools

import numpy as np

Piece = tuple  # (lengths (n,), codes (n, width))


def codepoints(strings) -> np.ndarray:
    """(n, widest) uint32 code points of ``strings``, zero-padded on the right."""
    array = np.asarray(list(strings) if not isinstance(strings, np.ndarray) else strings,
                       dtype=str)
    width = array.dtype.itemsize // 4
    if width == 0 or not len(array):
        return np.zeros((len(array), 0), dtype=np.uint32)
    return np.ascontiguousarray(array).view(np.uint32).reshape(len(array), width)


def strings_of(matrix: np.ndarray) -> np.ndarray:
    """The object array of strings that (n, width) code points spell."""
    n, width = matrix.shape
    if width == 0:
        return np.full(n, "", dtype=object)
    return np.ascontiguousarray(matrix, dtype=np.uint32).view(f"U{width}").ravel().astype(object)


def assemble_codes(pieces: list, n: int) -> np.ndarray:
    """Concatenate per-row pieces into (n, total) code points, zero-padded on the right."""
    if not pieces:
        return np.zeros((n, 0), dtype=np.uint32)
    lengths = np.column_stack([np.asarray(p[0]) for p in pieces]).astype(np.int64)
    starts = np.cumsum(lengths, axis=1) - lengths  # (n, pieces)
    total = int(lengths.sum(axis=1).max()) if n else 0
    out = np.zeros((n, total), dtype=np.uint32)
    for r, (run_lengths, codes) in enumerate(pieces):
        if codes.shape[1] == 0:
            continue
        row, place = np.nonzero(np.arange(codes.shape[1]) < np.asarray(run_lengths)[:, None])
        out[row, starts[row, r] + place] = codes[row, place]
    return out


def literal(text: str, n: int) -> Piece:
    codes = np.array([ord(c) for c in text], dtype=np.uint32)
    return np.full(n, len(codes)), np.broadcast_to(codes, (n, len(codes)))


@functools.lru_cache(maxsize=64)
def table(words: tuple[str, ...]) -> Piece:
    """A vocabulary as (V,) lengths and (V, width) code points, to pick rows from."""
    return np.array([len(w) for w in words], dtype=np.int64), codepoints(np.array(words))


def pick(vocabulary: Piece, index: np.ndarray) -> Piece:
    lengths, codes = vocabulary
    return lengths[index], codes[index]


def optional(piece: Piece, present: np.ndarray) -> Piece:
    """The piece on rows where ``present``, nothing elsewhere."""
    return np.where(present, piece[0], 0), piece[1]


def number(values: np.ndarray, width: int | np.ndarray | None = None) -> Piece:
    """Non-negative integers in decimal; zero-padded to ``width`` digits when given."""
    values = np.asarray(values, dtype=np.int64)
    natural = np.ones(len(values), dtype=np.int64)
    limit = np.full(len(values), 10, dtype=np.int64)
    while (more := values >= limit).any():
        natural += more
        limit = np.where(more, limit * 10, limit)
    lengths = natural if width is None else np.maximum(natural, width)
    widest = int(lengths.max()) if len(values) else 0
    place = lengths[:, None] - 1 - np.arange(widest)[None, :]  # power of ten per position
    digits = (values[:, None] // 10 ** np.clip(place, 0, 18)) % 10
    return lengths, np.where(place >= 0, 48 + digits, 0).astype(np.uint32)


def random_run(random, field: int, alphabet: str, low, high) -> Piece:
    """A run of ``alphabet`` characters, its length drawn in [low, high] per row."""
    n = len(random)
    low, high = np.broadcast_to(low, n), np.broadcast_to(high, n)
    lengths = low + random.integers(field, high - low + 1)
    widest = int(high.max()) if n else 0
    chars = np.array([ord(c) for c in alphabet], dtype=np.uint32)
    return lengths, chars[random.integers(field + 1, len(chars), widest)] if widest else \
        np.zeros((n, 0), dtype=np.uint32)
