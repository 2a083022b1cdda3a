"""The fence that keeps generated PII apart from every real value, storing none of them.

A *code* maps any string to a residue modulo a prime ``m``. At fit, ``m`` is the smallest
prime at least twice the number of distinct real values (and at least ``MIN_MODULUS``), so
at most half the residues are the code of a real value; the fence keeps a random set of
*allowed* residues that no real value has (at most ``MAX_ALLOWED``, and at most
``MAX_ALLOWED_SHARE`` of all residues). Every generated value is steered so that its code is
allowed, and checked after generation; so no generated value equals a real one, whatever
vocabulary produced it. The model file holds ``m``, a mixing constant and the allowed
residues: no real value, and (with at most a quarter of the residues allowed) little about
which values are real: a value whose code is allowed is certainly not real, one whose code
is not allowed is at most 4/3 times likelier to be real than before.

Three codes, each steerable by what its kind of value can vary realistically:

* ``text``: ``(D + mix * P) mod m``, where ``D`` is the number formed by all the string's
  ASCII digits and ``P`` a polynomial hash of its other characters. The generator leaves
  the last ``digits`` digits free and sets them to hit an allowed residue (e-mails, phone
  numbers, addresses, URLs, id numbers): ``D = high * 10**digits + x``, so
  ``x = (target - code(high)) mod m`` plus a random multiple of ``m`` below ``10**digits``;
* ``name``: the sum of a polynomial hash of each word (a run of letters) of two letters or
  more that is not a title (Mr, Mrs, Dr, ...), mod ``m``. Names have no digits to steer: the
  generator draws (first name, last name) pairs from the pairs whose code is allowed;
* ``ipv4``: the address as a 32-bit number mod ``m``, steered through its low bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthvae.transforms.textpieces import codepoints

MIN_MODULUS = 101
MAX_ALLOWED = 4096
MAX_ALLOWED_SHARE = 0.25
CHUNK_ROWS = 65_536  # code point matrices are built this many strings at a time
_BASE = 1_000_003  # of the polynomial hash; (m * _BASE + code point) stays in int64
WORD = r"[^\W\d_]+"
TITLES = frozenset(("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "madam",
                    "master", "mme", "mlle", "messrs", "jr", "sr"))
CODES = ("text", "name", "ipv4")
_IPV4 = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"


def _chunks(strings: np.ndarray):
    for start in range(0, len(strings), CHUNK_ROWS):
        yield codepoints(strings[start:start + CHUNK_ROWS])


# ----------------------------------------------------------------------------- codes


def matrix_text_codes(matrix: np.ndarray, modulus: int, mix: int) -> np.ndarray:
    """The ``text`` code of each row of code points: (D + mix * P) mod m."""
    n = len(matrix)
    number = np.zeros(n, dtype=np.int64)
    other = np.zeros(n, dtype=np.int64)
    for column in range(matrix.shape[1]):  # loops over character positions, not rows
        char = matrix[:, column].astype(np.int64)
        digit = (char >= 48) & (char <= 57)
        number = np.where(digit, (number * 10 + char - 48) % modulus, number)
        other = np.where(~digit & (char != 0), (other * _BASE + char) % modulus, other)
    return (number + mix * other) % modulus


def word_codes(words: np.ndarray, modulus: int) -> np.ndarray:
    """A polynomial hash of each word, mod m."""
    out = []
    for matrix in _chunks(np.asarray(words, dtype=object)):
        code = np.zeros(len(matrix), dtype=np.int64)
        for column in range(matrix.shape[1]):
            char = matrix[:, column].astype(np.int64)
            code = np.where(char != 0, (code * _BASE + char) % modulus, code)
        out.append(code)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def counted_word(word: str) -> bool:
    """Whether a word enters the ``name`` code (two letters or more, not a title)."""
    return len(word) >= 2 and word.lower() not in TITLES


def name_codes(strings: np.ndarray, modulus: int) -> np.ndarray:
    """The ``name`` code of each string: its counted words' hashes summed, mod m."""
    series = pd.Series(np.asarray(strings, dtype=object), dtype=object)
    words = series.str.findall(WORD).explode().dropna()
    words = words[(words.str.len() >= 2) & ~words.str.lower().isin(TITLES)]
    out = np.zeros(len(series), dtype=np.int64)
    if len(words):
        sums = pd.Series(word_codes(words.to_numpy(), modulus), index=words.index)
        sums = sums.groupby(level=0).sum() % modulus
        out[sums.index.to_numpy()] = sums.to_numpy()
    return out


def ipv4_numbers(strings: np.ndarray) -> np.ndarray:
    """Each dotted-quad address as a number; -1 where the string is not one."""
    parts = pd.Series(np.asarray(strings, dtype=object), dtype=object).str.extract(_IPV4)
    octets = parts.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    valid = np.isfinite(octets).all(axis=1) & (np.nan_to_num(octets, nan=999) <= 255).all(axis=1)
    numbers = np.where(valid[:, None], np.nan_to_num(octets), 0).astype(np.int64)
    return np.where(valid, ((numbers[:, 0] * 256 + numbers[:, 1]) * 256 + numbers[:, 2]) * 256
                    + numbers[:, 3], -1)


# ----------------------------------------------------------------------------- the fence


@dataclass(frozen=True)
class Fence:
    code: str  # one of CODES
    modulus: int
    mix: int
    allowed: np.ndarray  # sorted residues no real value has

    @property
    def digits(self) -> int:
        """Free digits that reach every residue: 10**digits >= m."""
        return len(str(self.modulus - 1))

    @property
    def bits(self) -> int:
        """Free low bits that reach every residue: 2**bits >= m."""
        return (self.modulus - 1).bit_length()

    def codes(self, strings) -> np.ndarray:
        """The code of each string (-1: an ``ipv4`` code of a string that is no address)."""
        strings = np.asarray(strings, dtype=object)
        if self.code == "name":
            return name_codes(strings, self.modulus)
        if self.code == "ipv4":
            numbers = ipv4_numbers(strings)
            return np.where(numbers >= 0, numbers % self.modulus, -1)
        parts = [matrix_text_codes(m, self.modulus, self.mix) for m in _chunks(strings)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def targets(self, random, field: int) -> np.ndarray:
        """An allowed residue per row, drawn with ``random`` (a RowRandom)."""
        return self.allowed[random.integers(field, len(self.allowed))]

    def check(self, strings) -> None:
        """Raise unless every generated string's code is allowed (so none is a real value)."""
        codes = self.codes(strings)
        bad = ~np.isin(codes, self.allowed)
        if bad.any():
            raise RuntimeError(f"internal error: generated value {strings[np.argmax(bad)]!r} "
                               f"is outside the fence")

    def to_dict(self) -> dict:
        return {"code": self.code, "modulus": self.modulus, "mix": self.mix,
                "allowed": [int(r) for r in self.allowed]}

    @classmethod
    def from_dict(cls, data: dict) -> "Fence":
        fence = cls(str(data["code"]), int(data["modulus"]), int(data["mix"]),
                    np.asarray(data["allowed"], dtype=np.int64))
        if fence.code not in CODES or fence.modulus < 2 or not len(fence.allowed) \
                or fence.allowed.min() < 0 or fence.allowed.max() >= fence.modulus:
            raise ValueError("PII fence state is malformed")
        return fence


def learn_fence(code: str, values: np.ndarray, seed: int) -> Fence:
    """A fence around the distinct real ``values`` (strings), under code ``code``."""
    rng = np.random.default_rng(seed)
    modulus = next_prime(max(2 * len(values), MIN_MODULUS))
    probe = Fence(code, modulus, int(rng.integers(1, modulus)), np.zeros(1, dtype=np.int64))
    used = probe.codes(values)
    free = np.setdiff1d(np.arange(modulus), used[used >= 0])  # at least half of them
    keep = min(MAX_ALLOWED, int(MAX_ALLOWED_SHARE * modulus), len(free))
    allowed = np.sort(rng.choice(free, size=keep, replace=False))
    return Fence(code, modulus, probe.mix, allowed.astype(np.int64))


def next_prime(n: int) -> int:
    candidate = max(int(n), 2)
    while any(candidate % p == 0 for p in range(2, int(candidate ** 0.5) + 1)):
        candidate += 1
    return candidate


# ----------------------------------------------------------------------------- steering


def steer_digits(matrix: np.ndarray, fence: Fence, random, field: int) -> np.ndarray:
    """Set the last ``fence.digits`` ASCII digits of each row so its ``text`` code is allowed.

    ``matrix``: (n, width) code points, every row holding at least that many digits.
    """
    matrix = matrix.copy()
    j = fence.digits
    digit = (matrix >= 48) & (matrix <= 57)
    rank = np.cumsum(digit[:, ::-1], axis=1)[:, ::-1]  # digits at or right of each position
    free = digit & (rank <= j)
    if (free.sum(axis=1) < j).any():
        raise RuntimeError("internal error: a generated value has too few digits to steer")
    matrix[free] = 48
    base = matrix_text_codes(matrix, fence.modulus, fence.mix)
    x = (fence.targets(random, field) - base) % fence.modulus
    multiples = (10 ** j - 1 - x) // fence.modulus + 1  # x + k*m < 10**j for k < multiples
    x = x + random.integers(field + 1, multiples) * fence.modulus
    row, column = np.nonzero(free)
    matrix[row, column] = 48 + (x[row] // 10 ** (rank[row, column] - 1)) % 10
    return matrix
