"""Fake PII of each kind: what is learned from the real values, and vectorized generation.

Each kind has a ``learn(values, counts, fence, seed)`` that returns a JSON-ready *layout*
(the format to follow: kept e-mail domains, a phone number template, name order and case,
...), a ``DEFAULT`` layout for fits that read no rows (differential privacy), and a
``make(layout, words, random, fence)`` that returns one string per row of ``random`` (a
:class:`synthvae.transforms.rowrandom.RowRandom`), built from
:mod:`synthvae.transforms.textpieces` and steered inside the fence
(:mod:`synthvae.transforms.fence`) so that no generated value is a real one. A layout keeps
a real string only when at least ``MIN_SHARED_ROWS`` rows share it: an e-mail domain, a URL
host, the first octets of an IPv4 address, or characters of a template (as in
:mod:`synthvae.transforms.idformat`).

Kinds (code, an example, what the layout learns from the real values):

* email (text): ``maria.lopez4821@example.org``; the domains many rows share; local parts
  that share a fixed text (``user12``) keep that template; a unique column stays unique;
* phone, id_number (text): ``(415) 555-0187``, ``521-38-0496``: the real values' template
  (digit runs, separators, fixed prefixes); a unique column of id numbers stays unique (its
  last digits a row counter, so it grows a few digits longer), phone numbers may repeat;
* name (name): ``Lopez, Mrs. Maria K.``: order (``Last, First``), case, share of titles
  and of middle initials; first_name, last_name (name): one word, in the real case;
* address (text): ``4821 Maple Street, Glenview, OH 43021``: street only, or with town,
  state and ZIP code; the separator; the case;
* ipv4 (ipv4): ``93.184.12.7``: the leading octets many rows share;
* url (text): ``https://www.example.com/user/04821``: the https share, shared hosts; a
  unique column stays unique.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from synthvae.errors import DataError
from synthvae.transforms import textpieces as tp
from synthvae.transforms.fence import (TITLES, WORD, Fence, ipv4_numbers, steer_digits,
                                       word_codes)
from synthvae.transforms.idformat import CLASSES, counter_codes, learn_template
from synthvae.transforms.vocabulary import (EXAMPLE_DOMAINS, EXAMPLE_HOSTS, PATH_WORDS,
                                            TITLE_WORDS, ascii_words)

MIN_SHARED_ROWS = 10  # a domain, host or address prefix is kept when this many rows share it
EMAIL_DIGITS = 2  # fewest digits after a generated e-mail's name
COUNTER_DIGITS = 2  # fewest digits of the row counter of a unique column
_DIGIT_CHARS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PUBLIC_FIRST_OCTETS = np.array([o for o in range(1, 224) if o not in (10, 100, 127, 169, 172,
                                                                       192, 198, 203)])


def _needed_digits(fence: Fence | None, least: int = 0) -> int:
    return max(fence.digits if fence is not None else 0, least)


def _finish(matrix: np.ndarray, fence: Fence | None, random, field: int = 900) -> np.ndarray:
    """Steer the ``text`` code inside the fence (when there is one), check, return strings."""
    if fence is not None:
        matrix = steer_digits(matrix, fence, random, field)
    strings = tp.strings_of(matrix)
    if fence is not None:
        fence.check(strings)
    return strings


def _shared(keys: pd.Series, counts: np.ndarray, valid: pd.Series) -> tuple[list, int]:
    """[[key, rows]] for keys that at least MIN_SHARED_ROWS rows share, and the other rows."""
    rows = pd.Series(counts, index=keys.index).groupby(keys.where(valid)).sum()
    kept = rows[rows >= MIN_SHARED_ROWS].sort_values(ascending=False)
    return [[str(k), int(v)] for k, v in kept.items()], int(counts.sum() - kept.sum())


def _weighted_pick(random, field: int, kept: list, other: int) -> np.ndarray:
    """Index into ``kept`` per row, or -1 for 'other' (drawn by the rows they had)."""
    weights = [rows for _, rows in kept] + [other]
    picked = random.choice(field, weights) if sum(weights) else np.full(len(random), len(kept))
    return np.where(picked == len(kept), -1, picked)


def _pick_text(random, field: int, kept: list, other: int, fallback: tuple) -> tp.Piece:
    """A kept string (by its share of rows) or one of ``fallback``."""
    index = _weighted_pick(random, field, kept, other)
    choices = tuple(k for k, _ in kept) + tuple(fallback)
    replacement = len(kept) + random.integers(field + 1, len(fallback))
    return tp.pick(tp.table(choices), np.where(index < 0, replacement, index))


def _case(words: tuple, case: str) -> tuple:
    if case == "upper":
        return tuple(w.upper() for w in words)
    if case == "lower":
        return tuple(w.lower() for w in words)
    return words


def _case_of(values: pd.Series, counts: np.ndarray) -> str:
    total = max(counts.sum(), 1)
    if counts[values.str.isupper().to_numpy(bool)].sum() >= total / 2:
        return "upper"
    if counts[values.str.islower().to_numpy(bool)].sum() >= total / 2:
        return "lower"
    return "title"


# ----------------------------------------------------------------------------- templates


def ensure_digits(template: dict, digits: int) -> dict:
    """The template with at least ``digits`` digits in every value (to steer them)."""
    groups = []
    for group in template["groups"]:
        runs = [dict(r) for r in group["runs"]]
        have = sum(r["min"] for r in runs if r["kind"] == "[0-9]" and "text" not in r) + sum(
            sum(c.isdigit() for c in r.get("text", "")) for r in runs)
        deficit = digits - have
        varying = [i for i, r in enumerate(runs) if r["kind"] == "[0-9]" and "text" not in r]
        if deficit > 0 and varying:
            run = runs[varying[-1]]
            run["min"] += deficit
            run["max"] = max(run["max"], run["min"])
        elif deficit > 0:
            runs.append({"kind": "[0-9]", "min": deficit, "max": deficit})
        groups.append(dict(group, runs=runs))
    return dict(template, groups=groups)


def template_codes(template: dict, random, field: int) -> np.ndarray:
    """(n, width) code points of values following ``template``'s groups and runs."""
    groups = template["groups"]
    choice = random.choice(field, [g["weight"] for g in groups])
    parts = []
    for g, group in enumerate(groups):
        pieces = []
        for position, run in enumerate(group["runs"]):
            if run["kind"] == "literal" or "text" in run:
                pieces.append(tp.literal(run.get("text", ""), len(random)))
            else:
                pieces.append(tp.random_run(random, field + 10 * (g * 64 + position + 1),
                                            CLASSES[run["kind"]], run["min"], run["max"]))
        parts.append(tp.assemble_codes(pieces, len(random)))
    width = max(p.shape[1] for p in parts)
    out = np.zeros((len(random), width), dtype=np.uint32)
    for g, part in enumerate(parts):
        members = choice == g
        out[members, :part.shape[1]] = part[members]
    return out


def _is_fallback(template: dict) -> bool:
    """learn_template found no skeleton shared by enough rows (one free-form run)."""
    groups = template["groups"]
    return len(groups) == 1 and len(groups[0]["runs"]) == 1 and "text" not in groups[0]["runs"][0]


def _digit_template(*lengths: int, separator: str = "-") -> dict:
    runs = []
    for i, length in enumerate(lengths):
        if i:
            runs.append({"kind": "literal", "text": separator})
        runs.append({"kind": "[0-9]", "min": length, "max": length})
    return {"version": 1, "key": 0, "groups": [{"weight": 1.0, "runs": runs, "counter": 0}]}


def _learn_template(values, counts, fence, seed, default: dict, keys: bool = False) -> dict:
    """The values' template; with ``keys`` (id numbers), whether the column is unique."""
    template = learn_template(values, counts, seed=seed)
    if _is_fallback(template) and not all(str(v).isdigit() for v in values):
        template = default
    return {"template": ensure_digits(template, _needed_digits(fence)),
            "unique": keys and _unique(counts)}


def _make_template(layout, words, random, fence) -> np.ndarray:
    """Values of the template; for a unique column of id numbers (account numbers, one per
    row) its last digits are a row counter, as a unique e-mail's (random digits in
    ``AC00042``'s five free digits repeated 6,270 times in 20,000 rows), so the values grow
    a few digits longer with the rows. Phone numbers keep their length and may repeat."""
    if not layout.get("unique", False):
        template = ensure_digits(layout["template"], _needed_digits(fence))
        return _finish(template_codes(template, random, 10), fence, random)
    codes = template_codes(_without_last_digits(layout["template"]), random, 10)
    pieces = [((codes != 0).sum(axis=1), codes)] + _unique_digits(random, fence)
    return _finish(tp.assemble_codes(pieces, len(random)), fence, random)


# ----------------------------------------------------------------------------- e-mail

_EMAIL = re.compile(r"^(.+)@([A-Za-z.-]+\.[A-Za-z]{2,})$")


def learn_email(values, counts, fence, seed) -> dict:
    series = pd.Series(values, dtype=object)
    parts = series.str.extract(_EMAIL)
    domains, other = _shared(parts[1].str.lower(), counts, parts[1].notna())
    locals_ = parts[0].dropna()
    template = learn_template(locals_.to_numpy(), counts[locals_.index.to_numpy()], seed=seed)
    structured = any("text" in r and r["kind"] in ("[a-z]", "[A-Z]")
                     for g in template["groups"] for r in g["runs"])
    unique = _unique(counts)
    local = None
    if structured:
        local = _without_last_digits(template) if unique \
            else ensure_digits(template, _needed_digits(fence, EMAIL_DIGITS))
    return {"domains": domains, "other_domains": other, "local_template": local,
            "unique": unique}


def make_email(layout, words, random, fence) -> np.ndarray:
    n = len(random)
    unique = layout.get("unique", False)
    digits = _needed_digits(fence, EMAIL_DIGITS)
    if layout.get("local_template") is not None:
        template = layout["local_template"] if unique else ensure_digits(
            layout["local_template"], digits)
        codes = template_codes(template, random, 10)
        local = ((codes != 0).sum(axis=1), codes)
    else:
        local = _name_local(words, random)
    pieces = [local] + (_unique_digits(random, fence) if unique else
                        [] if layout.get("local_template") is not None else
                        [tp.random_run(random, 23, _DIGIT_CHARS, digits, digits)])
    domain = _pick_text(random, 40, layout["domains"], layout["other_domains"],
                        EXAMPLE_DOMAINS)
    matrix = tp.assemble_codes(pieces + [tp.literal("@", n), domain], n)
    return _finish(matrix, fence, random)


def _unique(counts: np.ndarray) -> bool:
    """Every real value is on one row only: generated values are made unique too."""
    return len(counts) >= 2 and bool((counts == 1).all())


def _unique_digits(random, fence) -> list:
    """A counter that spells the global row number through a keyed bijection (at least
    ``COUNTER_DIGITS`` digits; more for later rows), then the digits the fence steers. The
    two make the value's last run of digits, so no two rows can share a value."""
    counter = counter_codes({"kind": "[0-9]", "max": COUNTER_DIGITS - 1}, random.rows,
                            {"key": random.key & (2 ** 62 - 1)})
    steered = _needed_digits(fence, 1)
    return [counter, tp.random_run(random, 24, _DIGIT_CHARS, steered, steered)]


def _without_last_digits(template: dict) -> dict:
    """The template with an empty last run where that run is varying digits (the counter
    takes its place, so the value's last digits are the counter's and the fence's only)."""
    groups = []
    for group in template["groups"]:
        runs = [dict(r) for r in group["runs"]]
        if runs and runs[-1]["kind"] == "[0-9]" and "text" not in runs[-1]:
            runs[-1].update(min=0, max=0)
        groups.append(dict(group, runs=runs))
    return dict(template, groups=groups)


def _name_local(words, random) -> tp.Piece:
    """first.last, firstlast, flast or first_last, in lower case."""
    n = len(random)
    first = tp.table(tuple(w.lower() for w in ascii_words(words["first"])))
    last = tp.table(tuple(w.lower() for w in ascii_words(words["last"])))
    f = tp.pick(first, random.integers(20, len(first[0])))
    surname = tp.pick(last, random.integers(21, len(last[0])))
    style = random.integers(22, 4)
    initial = (np.where(style == 2, 1, f[0]), f[1])
    separator = tp.optional(tp.pick(tp.table((".", "_")), (style == 3).astype(int)),
                            (style == 0) | (style == 3))
    return _joined([initial, separator, surname], n)


def _joined(pieces: list, n: int) -> tp.Piece:
    matrix = tp.assemble_codes(pieces, n)
    return (matrix != 0).sum(axis=1), matrix


# ----------------------------------------------------------------------------- names


def learn_name(values, counts, fence, seed) -> dict:
    series = pd.Series(values, dtype=object).astype(str)
    total = max(counts.sum(), 1)
    words = series.str.findall(WORD).explode()
    titled = words.str.lower().isin(TITLES).groupby(level=0).any().reindex(
        series.index, fill_value=False)
    initial = series.str.contains(r"(?:^|\s)[^\W\d_]\.?(?:\s|$)", regex=True)
    return {"order": "last_first" if counts[series.str.contains(",").to_numpy(bool)].sum()
            >= total / 2 else "first_last",
            "case": _case_of(series, counts),
            "title_share": round(float(counts[titled.to_numpy(bool)].sum() / total), 3),
            "initial_share": round(float(counts[initial.to_numpy(bool)].sum() / total), 3)}


def learn_single_name(values, counts, fence, seed) -> dict:
    return {"case": _case_of(pd.Series(values, dtype=object).astype(str), counts)}


@functools.lru_cache(maxsize=16)
def _allowed_words(words: tuple, modulus: int, allowed: bytes) -> np.ndarray:
    codes = word_codes(np.array(words, dtype=object), modulus)
    return np.flatnonzero(np.isin(codes, np.frombuffer(allowed, dtype=np.int64)))


@functools.lru_cache(maxsize=16)
def _allowed_pairs(first: tuple, last: tuple, modulus: int, allowed: bytes) -> np.ndarray:
    """Flat indices ``f * len(last) + l`` of the pairs whose ``name`` code is allowed."""
    f = word_codes(np.array(first, dtype=object), modulus)
    s = word_codes(np.array(last, dtype=object), modulus)
    sums = (f[:, None] + s[None, :]) % modulus  # (first, last)
    return np.flatnonzero(np.isin(sums, np.frombuffer(allowed, dtype=np.int64)))


def _name_pool(pool: tuple, fence: Fence | None) -> np.ndarray:
    if fence is None:
        return np.arange(len(pool))
    index = _allowed_words(pool, fence.modulus, fence.allowed.tobytes())
    if not len(index):
        raise DataError(f"No generated name can be guaranteed apart from the real ones: "
                        f"the {len(pool)} words of the vocabulary all share a code with a "
                        f"real value. Install Faker (pip install 'synthvae[pii]') for a "
                        f"larger vocabulary, or give the column another kind.")
    return index


def make_single_name(role: str):
    def make(layout, words, random, fence) -> np.ndarray:
        pool = _case(words[role], layout["case"])
        index = _name_pool(pool, fence)
        piece = tp.pick(tp.table(pool), index[random.integers(20, len(index))])
        return _checked(tp.assemble_codes([piece], len(random)), fence)
    return make


def _checked(matrix: np.ndarray, fence: Fence | None) -> np.ndarray:
    strings = tp.strings_of(matrix)
    if fence is not None:
        fence.check(strings)
    return strings


def make_name(layout, words, random, fence) -> np.ndarray:
    n = len(random)
    case = layout["case"]
    first, last = _case(words["first"], case), _case(words["last"], case)
    if fence is None:
        pairs = np.arange(len(first) * len(last))
    else:
        pairs = _allowed_pairs(first, last, fence.modulus, fence.allowed.tobytes())
        if not len(pairs):
            raise DataError("No generated name can be guaranteed apart from the real ones "
                            "with this vocabulary; install Faker (pip install "
                            "'synthvae[pii]') or give the column another kind.")
    f, s = np.divmod(pairs[random.integers(20, len(pairs))], len(last))
    given, surname = tp.pick(tp.table(first), f), tp.pick(tp.table(last), s)
    title = tp.optional(tp.pick(tp.table(tuple(t + ". " for t in _case(TITLE_WORDS, case))),
                                random.integers(21, len(TITLE_WORDS))),
                        random.uniform(22) < layout["title_share"])
    letters = _UPPER.lower() if case == "lower" else _UPPER
    initial = tp.optional(_joined([tp.literal(" ", n),
                                   tp.random_run(random, 23, letters, 1, 1),
                                   tp.literal(".", n)], n),
                          random.uniform(24) < layout["initial_share"])
    if layout["order"] == "last_first":
        pieces = [surname, tp.literal(", ", n), title, given, initial]
    else:
        pieces = [title, given, initial, tp.literal(" ", n), surname]
    return _checked(tp.assemble_codes(pieces, n), fence)


# ----------------------------------------------------------------------------- addresses

_ZIP_END = r"\b\d{5}(?:-\d{4})?\s*$"


def learn_address(values, counts, fence, seed) -> dict:
    series = pd.Series(values, dtype=object).astype(str)
    total = max(counts.sum(), 1)
    full = counts[series.str.contains(_ZIP_END, regex=True).to_numpy(bool)].sum() >= total / 2
    lines = counts[series.str.contains("\n").to_numpy(bool)].sum() >= total / 2
    return {"full": bool(full), "separator": "\n" if lines else ", ",
            "case": "upper" if _case_of(series, counts) == "upper" else "title"}


def make_address(layout, words, random, fence) -> np.ndarray:
    n = len(random)
    case, j = layout["case"], _needed_digits(fence)
    title = (lambda t: t.upper()) if case == "upper" else (lambda t: t)
    house_low = 1 if layout["full"] else max(1, j + 1)
    house = _leading_digit_run(random, 30, house_low, max(4, house_low))
    street = tp.pick(tp.table(_case(words["street"], case)),
                     random.integers(31, len(words["street"])))
    suffix = tp.pick(tp.table(_case(words["suffix"], case)),
                     random.integers(32, len(words["suffix"])))
    pieces = [house, tp.literal(" ", n), street, tp.literal(" ", n), suffix]
    if layout["full"]:
        if j > 5:  # a unit number before the ZIP code carries the digits the ZIP lacks
            pieces += [tp.literal(title(" Apt "), n), _leading_digit_run(random, 33, j - 4, j - 4)]
        town = tp.pick(tp.table(_case(words["town"], case)),
                       random.integers(34, len(words["town"])))
        state = tp.pick(tp.table(words["state"]), random.integers(35, len(words["state"])))
        pieces += [tp.literal(layout["separator"], n), town, tp.literal(", ", n), state,
                   tp.literal(" ", n), tp.random_run(random, 36, _DIGIT_CHARS, 5, 5)]
    return _finish(tp.assemble_codes(pieces, n), fence, random)


def _leading_digit_run(random, field: int, low: int, high: int) -> tp.Piece:
    """A number of ``low``..``high`` digits whose first digit is not 0 (nor steered)."""
    n = len(random)
    head = tp.random_run(random, field, "123456789", 1, 1)
    tail = tp.random_run(random, field + 2, _DIGIT_CHARS, low - 1, high - 1)
    return _joined([head, tail], n)


# ----------------------------------------------------------------------------- IPv4 and URLs


def learn_ipv4(values, counts, fence, seed) -> dict:
    numbers = ipv4_numbers(np.asarray(values, dtype=object))
    bits = 16 if fence is None or fence.bits <= 14 else 8
    prefix = pd.Series(numbers >> (32 - bits))
    kept, other = _shared(prefix, counts, pd.Series(numbers >= 0))
    return {"prefix_bits": bits, "prefixes": [[int(float(k)), v] for k, v in kept],
            "other": other}


def make_ipv4(layout, words, random, fence) -> np.ndarray:
    n = len(random)
    bits = int(layout["prefix_bits"])
    index = _weighted_pick(random, 50, layout["prefixes"], layout["other"])
    kept = np.array([p for p, _ in layout["prefixes"]] + [0], dtype=np.int64)
    low = random.bits(51).astype(np.int64) & ((1 << 24) - 1)  # 24 random bits
    chosen = (kept[index] << (32 - bits)) | (low & ((1 << (32 - bits)) - 1))
    public = (_PUBLIC_FIRST_OCTETS[random.integers(52, len(_PUBLIC_FIRST_OCTETS))] << 24) | low
    number = np.where(index >= 0, chosen, public)
    if fence is not None:
        if fence.bits > 32 - bits:
            raise DataError("Too many distinct IPv4 addresses to steer generated ones apart "
                            "from them; give the column the kind 'identifier' without 'pii'.")
        number = _steer_low_bits(number, fence, random, 53)
    octets = [(number >> shift) & 255 for shift in (24, 16, 8, 0)]
    pieces = []
    for i, octet in enumerate(octets):
        pieces += ([tp.literal(".", n)] if i else []) + [tp.number(octet)]
    return _checked(tp.assemble_codes(pieces, n), fence)


def _steer_low_bits(number, fence: Fence, random, field: int) -> np.ndarray:
    """Set the low ``fence.bits`` bits so that the number mod m is an allowed residue."""
    k = fence.bits
    high = (number >> k) << k
    x = (fence.targets(random, field) - high % fence.modulus) % fence.modulus
    multiples = ((1 << k) - 1 - x) // fence.modulus + 1
    return high | (x + random.integers(field + 1, multiples) * fence.modulus)


_HOST = r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?([A-Za-z.-]+\.[A-Za-z]{2,})(?:[/:?#]|$)"


def learn_url(values, counts, fence, seed) -> dict:
    series = pd.Series(values, dtype=object).astype(str)
    hosts = series.str.extract(_HOST)[0].str.lower()
    kept, other = _shared(hosts, counts, hosts.notna())
    https = counts[series.str.startswith("https://").to_numpy(bool)].sum()
    plain = counts[series.str.startswith("http://").to_numpy(bool)].sum()
    return {"https_share": round(float(https / max(https + plain, 1)) if https + plain else 1.0,
                                 3), "hosts": kept, "other_hosts": other,
            "unique": _unique(counts)}


def make_url(layout, words, random, fence) -> np.ndarray:
    n = len(random)
    scheme = tp.pick(tp.table(("http://", "https://")),
                     (random.uniform(60) < layout["https_share"]).astype(int))
    host = _pick_text(random, 61, layout["hosts"], layout["other_hosts"], EXAMPLE_HOSTS)
    path = tp.pick(tp.table(PATH_WORDS), random.integers(63, len(PATH_WORDS)))
    digits = max(_needed_digits(fence), 4)
    number = _unique_digits(random, fence) if layout.get("unique") else \
        [tp.random_run(random, 64, _DIGIT_CHARS, digits, digits)]
    pieces = [scheme, host, tp.literal("/", n), path, tp.literal("/", n)] + number
    return _finish(tp.assemble_codes(pieces, n), fence, random)


# ----------------------------------------------------------------------------- registry

PHONE_TEMPLATE = {"version": 1, "key": 0, "groups": [{"weight": 1.0, "counter": 1, "runs": [
    {"kind": "literal", "text": "("}, {"kind": "[0-9]", "min": 3, "max": 3},
    {"kind": "literal", "text": ")"}, {"kind": "literal", "text": " "},
    {"kind": "[0-9]", "min": 3, "max": 3}, {"kind": "literal", "text": "-"},
    {"kind": "[0-9]", "min": 4, "max": 4}]}]}
ID_TEMPLATE = _digit_template(3, 2, 4)

# kind -> (code, learn, make, default layout for fits that read no rows)
KINDS = {
    "email": ("text", learn_email, make_email,
              {"domains": [], "other_domains": 1, "local_template": None}),
    "phone": ("text", lambda v, c, f, s: _learn_template(v, c, f, s, PHONE_TEMPLATE),
              _make_template, {"template": PHONE_TEMPLATE}),
    "id_number": ("text", lambda v, c, f, s: _learn_template(v, c, f, s, ID_TEMPLATE, True),
                  _make_template, {"template": ID_TEMPLATE}),
    "name": ("name", learn_name, make_name,
             {"order": "first_last", "case": "title", "title_share": 0.0,
              "initial_share": 0.0}),
    "first_name": ("name", learn_single_name, make_single_name("first"), {"case": "title"}),
    "last_name": ("name", learn_single_name, make_single_name("last"), {"case": "title"}),
    "address": ("text", learn_address, make_address,
                {"full": False, "separator": ", ", "case": "title"}),
    "ipv4": ("ipv4", learn_ipv4, make_ipv4, {"prefix_bits": 8, "prefixes": [], "other": 1}),
    "url": ("text", learn_url, make_url, {"https_share": 1.0, "hosts": [], "other_hosts": 1}),
}
