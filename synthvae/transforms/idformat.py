"""Format-preserving generated text: a template learned from values that stores none of them.

Each value is cut into *runs*: ASCII digits, ASCII lower-case letters, ASCII upper-case
letters, and single other characters (``@``, ``.``, ``-``, a space, ``é``). The *skeleton*
of a value is its sequence of run classes and other characters: ``user12@example.com`` is
``[a-z] [0-9] @ [a-z] . [a-z]``. The template keeps

* the skeletons that at least ``MIN_GROUP_ROWS`` training rows share, with their shares of
  rows (at most ``MAX_GROUPS``);
* per run of a kept skeleton, its text only when that text is the same in at least
  ``CONSTANT_SHARE`` of the skeleton's rows (``user``, ``example``, ``com``), else the range
  of its lengths.

So the template holds no training value: only characters shared by at least
``MIN_GROUP_ROWS`` rows, lengths and shares. When no skeleton is shared by enough rows (free
text), the template is one run of lower-case letters (or digits, for digit strings). Skeletons
of dates (``25/12/2020``) are never kept: their counter would write invalid dates.

Generation never reproduces a training value, by construction: in each skeleton one run, the
*counter run* (the longest varying digit run, else the longest varying run), is one character
longer than that run is in any training value of the skeleton (the fallback run is longer than
every training value), and a string's runs are recovered from the string alone, so a generated
string cannot equal a training string. The counter run's characters spell the row number
through a keyed bijection (see :func:`counter_codes`), so generated values are unique across
rows (also across shards, which number rows globally) and look unordered; the other varying
runs are random characters of their class drawn from the sampling generator.
Same model, same rows and same seed give the same values.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from synthvae.errors import SchemaError
from synthvae.frames import fixed_binary_size
from synthvae.schema import DATE_LIKE, TIME_LIKE
from synthvae.transforms.textpieces import assemble_codes, strings_of

MIN_GROUP_ROWS = 10  # a skeleton (and any text it keeps) is shared by at least this many rows
CONSTANT_SHARE = 0.98  # a run's text is kept when this share of the skeleton's rows have it
MAX_GROUPS = 20
MIXING_ROUNDS = 2  # of the counter's bijection (see _mix)
MIN_TABLE_PLACES = 64  # counter positions whose mixing tables are drawn at once
DATE_CHECKS = 20  # values of a skeleton looked at to tell whether it is one of dates
TEMPLATE_VERSION = 1

CLASSES = {"[0-9]": "0123456789", "[a-z]": "abcdefghijklmnopqrstuvwxyz",
           "[A-Z]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_RUNS = re.compile(r"[0-9]+|[a-z]+|[A-Z]+|.", re.S)
_PLACEHOLDERS = re.compile("[\x01\x02\x03]")  # mark runs in skeletons; dropped first
_DIGITS, _LOWER, _UPPER = re.compile("[0-9]+"), re.compile("[a-z]+"), re.compile("[A-Z]+")


def run_class(text: str) -> str:
    """``[0-9]``, ``[a-z]``, ``[A-Z]``, or the character itself for any other character."""
    for name, alphabet in CLASSES.items():
        if text[0] in alphabet:
            return name
    return text


def learn_template(values, counts=None, seed: int = 0) -> dict:
    """A JSON-ready template from distinct ``values`` (strings) seen ``counts`` times each.

    Skeleton shares and kept texts follow ``counts``; lengths span every value, also those
    counted 0, so generated text differs from all of ``values`` (a categorical column's
    'other' slot counts only its rare rows but must not produce a frequent value either).
    """
    values = [_PLACEHOLDERS.sub("", str(v)) for v in values]
    counts = [1] * len(values) if counts is None else [int(c) for c in counts]
    groups: dict[str, list[int]] = {}
    for i, skeleton in enumerate(_skeleton(v) for v in values):
        groups.setdefault(skeleton, []).append(i)
    rows = {key: sum(counts[i] for i in members) for key, members in groups.items()}
    kept = sorted((k for k in groups if rows[k] >= MIN_GROUP_ROWS and _has_class(k)
                   and not _dates(values[i] for i in groups[k][:DATE_CHECKS])),
                  key=lambda k: -rows[k])[:MAX_GROUPS]
    template = {"version": TEMPLATE_VERSION, "key": template_key(seed)}
    if not kept:
        template["groups"] = [_fallback_group(values)]
        return template
    total = sum(rows[k] for k in kept)
    template["groups"] = [_learn_group([values[i] for i in groups[k]],
                                       [counts[i] for i in groups[k]], rows[k] / total)
                          for k in kept]
    return template


def _skeleton(value: str) -> str:
    """The value's runs as one string: digit, lower and upper runs become \\x01..\\x03."""
    return _UPPER.sub("\x03", _LOWER.sub("\x02", _DIGITS.sub("\x01", value)))


def _dates(values) -> bool:
    """Whether the values read as dates or times of day: a skeleton of them is not kept,
    because new digits in a day, month, hour or minute make invalid ones (25/12/2020 ->
    644/86/2020, 13:05:59 -> 644:86:69)."""
    return all(DATE_LIKE.match(value) or TIME_LIKE.match(value) for value in values)


def _has_class(skeleton: str) -> bool:
    return any(mark in skeleton for mark in "\x01\x02\x03")


def _fallback_group(values: list[str]) -> dict:
    lengths = [len(v) for v in values]
    digits = all(_DIGITS.fullmatch(v) for v in values)
    run = {"kind": "[0-9]" if digits else "[a-z]", "min": max(1, min(lengths, default=1)),
           "max": max(lengths, default=0)}
    return {"weight": 1.0, "runs": [run], "counter": 0}


def _learn_group(values: list[str], counts: list[int], weight: float) -> dict:
    total = sum(counts)
    learned = []
    for texts in zip(*(_RUNS.findall(v) for v in values)):  # one tuple per run position
        kind = run_class(texts[0])
        if kind not in CLASSES:
            learned.append({"kind": "literal", "text": kind})
            continue
        lengths = list(map(len, texts))
        run = {"kind": kind, "min": min(lengths), "max": max(lengths)}
        text, rows = _most_common(texts, counts)
        if rows >= CONSTANT_SHARE * total:
            run["text"] = text
        learned.append(run)
    return {"weight": float(weight), "runs": learned, "counter": _counter_run(learned)}


def _most_common(texts: tuple, counts: list[int]) -> tuple[str, int]:
    if all(c == 1 for c in counts):
        return Counter(texts).most_common(1)[0]
    tally = Counter()
    for text, count in zip(texts, counts):
        tally[text] += count
    return tally.most_common(1)[0]


def _counter_run(runs: list[dict]) -> int:
    """The run that makes values new and unique: longest varying digits, else longest run."""
    def best(candidates):
        return max(candidates, key=lambda i: runs[i]["max"]) if candidates else None

    classed = [i for i, r in enumerate(runs) if r["kind"] != "literal"]
    varying = [i for i in classed if "text" not in runs[i]]
    for choice in (best([i for i in varying if runs[i]["kind"] == "[0-9]"]), best(varying)):
        if choice is not None:
            return choice
    return best(classed)


def template_key(seed: int) -> int:
    """The key of a template's row-number bijection, drawn from ``seed``."""
    return int(np.random.default_rng(seed).integers(0, 2 ** 62))


def check_variable_size(spec) -> None:
    """New identifiers have other lengths than the training values (one character longer,
    or a fake's own): a ``fixed_size_binary`` column cannot hold them, so the fit of a
    generated column (an identifier, a personal-data fake) is refused, not a model that
    could never sample (detection and reports, which generate nothing, take such a
    column)."""
    size = fixed_binary_size(spec.dtype)
    if size is not None:
        raise SchemaError(f"Column {spec.name!r} ({spec.dtype}) is an identifier, whose "
                          f"values are regenerated with other lengths; a fixed-size binary "
                          f"type holds exactly {size} bytes. Cast the column to variable-size "
                          f"binary (pa.binary()) first.")


def check_template(template) -> dict:
    """Raise ValueError unless ``template`` is a well-formed template (read from a file)."""
    if not isinstance(template, dict) or template.get("version") != TEMPLATE_VERSION:
        raise ValueError("identifier template has an unknown version")
    groups = template.get("groups")
    if not isinstance(groups, list) or not groups:
        raise ValueError("identifier template has no groups")
    for group in groups:
        runs = group["runs"]
        if not 0 <= int(group["counter"]) < len(runs) \
                or runs[int(group["counter"])]["kind"] not in CLASSES:
            raise ValueError("identifier template names a counter run it does not have")
        for run in runs:
            if run["kind"] != "literal" and run["kind"] not in CLASSES:
                raise ValueError(f"identifier template has a run of unknown kind {run['kind']!r}")
    int(template["key"])
    return template


# ----------------------------------------------------------------------------- generation


def generate(template: dict, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One generated string per global row number in ``rows``; an object array."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty(len(rows), dtype=object)
    groups = template["groups"]
    weights = np.array([g["weight"] for g in groups], dtype=np.float64)
    choice = rng.choice(len(groups), size=len(rows), p=weights / weights.sum()) \
        if len(groups) > 1 else np.zeros(len(rows), dtype=np.int64)
    for g, group in enumerate(groups):
        members = np.flatnonzero(choice == g)
        if len(members):
            out[members] = _generate_group(group, rows[members], template, rng)
    return out


def _generate_group(group: dict, rows: np.ndarray, template: dict,
                    rng: np.random.Generator) -> np.ndarray:
    m = len(rows)
    pieces = []  # (lengths (m,), code points (m, widest)) per run
    for position, run in enumerate(group["runs"]):
        if position == group["counter"]:
            pieces.append(counter_codes(run, rows, template))
        elif "text" in run:
            codes = np.array([ord(c) for c in run["text"]], dtype=np.uint32)
            pieces.append((np.full(m, len(codes)), np.broadcast_to(codes, (m, len(codes)))))
        else:
            lengths = rng.integers(run["min"], run["max"] + 1, size=m)
            pieces.append((lengths, _random_codes(run["kind"], (m, run["max"]), rng)))
    return _assemble(pieces, m)


def _random_codes(kind: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    alphabet = np.array([ord(c) for c in CLASSES[kind]], dtype=np.uint32)
    return alphabet[rng.integers(0, len(alphabet), size=shape)]


def counter_codes(run: dict, rows: np.ndarray, template: dict):
    """The counter run: ``max + 1`` characters (more for rows beyond that many values).

    The row number is spelled in the run's base, then mixed by invertible rounds (:func:`_mix`),
    a bijection of the digit vectors: distinct rows give distinct text, neighbours look
    unrelated.
    """
    alphabet = np.array([ord(c) for c in CLASSES[run["kind"]]], dtype=np.uint32)
    base = len(alphabet)
    m = len(rows)
    widths = np.maximum(run["max"] + 1, _digits_in_base(rows, base))  # (m,)
    widest = int(widths.max()) if m else 0
    digits = np.zeros((m, widest), dtype=np.int64)  # (m, widest), least significant first
    quotient = rows.copy()
    for place in range(widest):
        digits[:, place], quotient = quotient % base, quotient // base
    # Keyed shift permutations, positions first, the same whatever the rows: shards agree.
    places = max(MIN_TABLE_PLACES, widest)
    tables = np.random.default_rng(template["key"]).random(
        (places, MIXING_ROUNDS, 2, base)).argsort(axis=-1)[:widest]
    for round_ in range(MIXING_ROUNDS):
        _mix(digits, widths, tables[:, round_], base)
    column = widths[:, None] - 1 - np.arange(widest)[None, :]  # (m, widest) output position
    codes = np.zeros((m, widest), dtype=np.uint32)
    row, place = np.nonzero(column >= 0)
    codes[row, column[row, place]] = alphabet[digits[row, place]]
    return widths, codes


def _mix(digits: np.ndarray, widths: np.ndarray, table: np.ndarray, base: int) -> None:
    """One invertible round on (m, widest) digits, in place: each digit is shifted by a keyed
    permutation of the already-mixed digit below it (upwards), then of the one above it
    (downwards, from each row's own top digit); a permutation keeps rows that differ below
    apart above. Invert by undoing the shifts in reverse order."""
    below = np.zeros(len(digits), dtype=np.int64)
    for place in range(digits.shape[1]):
        digits[:, place] = (digits[:, place] + table[place, 0, below]) % base
        below = digits[:, place]
    above = np.zeros(len(digits), dtype=np.int64)
    for place in range(digits.shape[1] - 1, -1, -1):
        active = place < widths
        digits[:, place] = np.where(active, (digits[:, place] + table[place, 1, above]) % base,
                                    digits[:, place])
        above = np.where(active, digits[:, place], above)


def _digits_in_base(rows: np.ndarray, base: int) -> np.ndarray:
    width = np.ones(len(rows), dtype=np.int64)
    limit = np.full(len(rows), base, dtype=np.int64)
    while True:
        more = rows >= limit
        if not more.any():
            return width
        width += more
        limit = np.where(more, limit * base, limit)


def _assemble(pieces: list, m: int) -> np.ndarray:
    """Concatenate per-row runs of varying lengths into strings, without a per-row loop."""
    return strings_of(assemble_codes(pieces, m))


def as_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-null values of ``values`` as strings, and how many rows hold each."""
    counts = values.dropna().astype(str).value_counts(sort=False)
    return counts.index.to_numpy(dtype=object), counts.to_numpy()
