"""Value pairs the sampler never draws together: the table's impossible combinations.

Two categories of two categorical columns that no training row holds together, although the
columns' shares would put at least ``unseen_pairs`` rows there were the columns independent
(``relationship=Husband & sex=Female`` in the bundled 8,000-row Adult slice: about 1,070
rows expected, none held), are a rule of the table, not chance: were the columns
independent, no row would hold the pair with a probability under e^-10 at the default 10
rows. So is every unseen pair of two
columns one of which determines the other (``pickup_zone -> pickup_borough``: a zone of 20
rows in Manhattan is in no other borough, however few rows independence would put there).
The report's rules section finds the same rules (:mod:`synthvae.reports.rules`, the same
thresholds) and counts the synthetic rows that break them. Numeric columns encoded value by
value (``education-num``: each mode one exact value) take part like categorical ones.

An autoregressive decoder draws the columns in order, so the sampler keeps these rules
cheaply: once a column is drawn, each value of a later column that its drawn value excludes
has a negative logit added (``EXCLUDED_LOGIT``, its weight times ~1e-13; twice that,
``DEPENDENCY_LOGIT``, where a dependency rules the pair out), so it is drawn only where
every value of that column is excluded, and then mostly among the values that break the
fewest and weakest rules (a pickup zone's own borough that the drop-off zone rules out: the
dependency wins). The exclusions are data: a ``(pairs, 3)`` tensor of two encoded positions
and the logit (the model file's ``sampler.excluded_pairs``); :class:`StepExclusions` turns
them into one small product per drawing step. A factorized decoder draws every column at once and
does not use them. A categorical's ``other`` slot (its rare values grouped, new values on
the way out) holds several values, so no dependency is read from it or applied to it.

The pairs are found from one product of the value slots' one-hot block with itself (the
co-occurrence counts of every slot pair), vectorized over all column pairs; tables whose
value slots number more than ``MAX_PAIR_SLOTS`` are examined over their first columns (in
table order) up to that many slots, as the report examines its first columns.
"""

from __future__ import annotations

import torch

from synthvae.transforms.spans import SpanKind

UNSEEN_PAIR_ROWS = 10.0  # expected rows under independence from which an unseen pair counts
# A column determines another (a functional dependency, as the report finds them): its values'
# most common partners together cover this share of its rows, it has this many rows per value
# on average, and the other column is not this share one value.
MIN_SUPPORT = 0.995
MIN_ROWS_PER_VALUE = 5.0
MAX_PAIR_SLOTS = 2_048  # slots examined (the pair counts are slots x slots)
EXCLUDED_LOGIT = -30  # added to the logit of a value an earlier one excludes
DEPENDENCY_LOGIT = -60  # ... where a dependency between the columns rules the pair out
CHUNK_CELLS = 1 << 24  # one-hot cells per chunk of rows when counting pairs


def code_positions(spans, code_columns=frozenset()) -> tuple[list[int], list[int]]:
    """Encoded positions of the slots that name a value (a categorical column's categories,
    and the modes of ``code_columns``, numeric columns encoded value by value) and the column
    number of each, up to ``MAX_PAIR_SLOTS`` slots in table order (whole columns)."""
    positions, columns, start, numbers = [], [], 0, {}
    for span in spans:
        names_values = span.role == "category" or (span.role == "mode"
                                                    and span.column in code_columns)
        if span.kind is SpanKind.SOFTMAX and names_values:
            if len(positions) + span.width > MAX_PAIR_SLOTS:
                break
            column = numbers.setdefault(span.column, len(numbers))
            positions.extend(range(start, start + span.width))
            columns.extend([column] * span.width)
        start += span.width
    return positions, columns


def unseen_pairs(data: torch.Tensor, spans, min_expected: float = UNSEEN_PAIR_ROWS,
                 code_columns=frozenset(), grouped=frozenset()) -> torch.Tensor:
    """(pairs, 3) int64: two encoded positions of a value pair of two different columns that
    no row of the encoded rows ``data`` (rows, width) holds, and the logit the sampler adds:
    ``DEPENDENCY_LOGIT`` where one column determines the other
    (:func:`determined_columns`) and both values occur, else ``EXCLUDED_LOGIT`` where
    independence of the columns expects at least ``min_expected`` rows there. The first
    position of each pair is the earlier one. Empty (0, 3) when there are none, or
    ``min_expected`` is 0 (off). Columns: categorical ones and the numeric ``code_columns``
    (value by value); ``grouped``: positions of slots holding several values (a
    categorical's ``other``), which take no part in dependencies."""
    positions, columns = code_positions(spans, code_columns)
    empty = torch.zeros((0, 3), dtype=torch.long, device=data.device)
    if min_expected <= 0 or len(set(columns)) < 2 or len(data) == 0:
        return empty
    index = torch.tensor(positions, dtype=torch.long, device=data.device)
    column = torch.tensor(columns, dtype=torch.long, device=data.device)
    single = torch.tensor([p not in grouped for p in positions], device=data.device)
    counts = co_occurrences(data, index)
    held = counts.diagonal()  # rows holding each slot
    expected = torch.outer(held, held) / len(data)
    determined = determined_columns(counts, column, single, len(data))
    occurs = (held > 0) & single
    linked = (determined | determined.T)[column][:, column] & occurs[:, None] & occurs[None, :]
    unseen = (counts == 0) & (column[:, None] != column[None, :])
    rule = unseen & (linked | (expected >= min_expected))
    rule |= unseen & implied_by_dependencies(rule, counts, column, determined, single)
    first, second = torch.nonzero(rule & (column[:, None] < column[None, :]), as_tuple=True)
    logit = torch.where(linked[first, second], DEPENDENCY_LOGIT, EXCLUDED_LOGIT)
    return torch.stack([index[first], index[second], logit], dim=1)


def implied_by_dependencies(rule: torch.Tensor, counts: torch.Tensor, column: torch.Tensor,
                            determined: torch.Tensor, single: torch.Tensor) -> torch.Tensor:
    """(slots, slots) bool, symmetric: x and y exclude each other when y's column determines
    a column in which y's value is d and x excludes d (``rule``): a pickup zone that no
    drop-off in Staten Island follows excludes every drop-off zone in Staten Island. Without
    it the drop-off zone could be drawn first, and then its borough's dependency or the
    pickup zone's rule must break."""
    held = counts.diagonal()
    partner = (2 * counts > held[:, None]) \
        & (column[:, None] != column[None, :])  # d: y's value of d's column in most rows
    partner &= determined[column][:, column] & single[:, None]  # ... which y's column fixes
    implied = (rule.to(counts.dtype) @ partner.T.to(counts.dtype)) > 0  # x excludes y
    return implied | implied.T


def most_common_partners(counts: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
    """(slots, columns): the rows that slot a shares with its most common value of each
    column, from the (slots, slots) co-occurrence ``counts``."""
    n_columns = int(column.max()) + 1
    return counts.new_zeros((len(counts), n_columns)).scatter_reduce(
        1, column.expand(len(counts), -1), counts, reduce="amax")


def co_occurrences(data: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(slots, slots) float64: how many rows of ``data`` hold both slots (positions
    ``index``), in chunks of rows whose one-hot blocks stay small (float32 products are exact
    below 2^24 rows a chunk; the chunks are summed in float64)."""
    counts = torch.zeros((len(index), len(index)), dtype=torch.float64, device=data.device)
    for chunk in torch.split(data, max(1, CHUNK_CELLS // len(index))):
        onehot = chunk.index_select(1, index).float()
        counts += (onehot.T @ onehot).double()
    return counts


def determined_columns(counts: torch.Tensor, column: torch.Tensor, single: torch.Tensor,
                       n_rows: int) -> torch.Tensor:
    """(columns, columns) bool: column i determines column j (i != j) in the rows whose
    (slots, slots) co-occurrence ``counts`` are given (``column`` the column of each slot),
    read over the rows of i's ``single``-value slots (a grouped ``other`` holds many
    values): each value of i has one value of j in all but ``1 - MIN_SUPPORT`` of those
    rows, i has at least ``MIN_ROWS_PER_VALUE`` of them per value it holds, and j is not
    one value in ``MIN_SUPPORT`` of the ``n_rows`` (then everything would "determine" it)."""
    n_columns = int(column.max()) + 1
    held = counts.diagonal()
    weight = single.to(counts.dtype)  # 0 for grouped slots

    def by_column(values: torch.Tensor) -> torch.Tensor:  # sum over each column's slots
        return values.new_zeros((n_columns,) + values.shape[1:]).index_add_(0, column, values)

    best = most_common_partners(counts, column)
    rows = by_column(held * weight).clamp_min(1)  # (columns,) rows of single values
    support = by_column(best * weight[:, None]) / rows[:, None]
    values = by_column(((held > 0) & single).to(counts.dtype))
    largest = counts.new_zeros(n_columns).scatter_reduce(0, column, held / n_rows,
                                                         reduce="amax")
    determined = (support >= MIN_SUPPORT) & (rows / values.clamp_min(1) >= MIN_ROWS_PER_VALUE
                                             )[:, None] & (largest < MIN_SUPPORT)[None, :]
    return determined & ~torch.eye(n_columns, dtype=torch.bool, device=counts.device)


def check_excluded_pairs(pairs: torch.Tensor, rank: torch.Tensor, slots: list[int]
                         ) -> str | None:
    """What is wrong with ``pairs`` for a layout whose positions belong to the drawing
    steps ``rank`` (:func:`synthvae.generator.column_rank`, one per position) and whose
    value slots (:func:`code_positions`) are ``slots``, or None: a (pairs, 3) int64 tensor
    of two value slots, the first in an earlier step than the second, and the logit of a
    rule (``EXCLUDED_LOGIT`` or ``DEPENDENCY_LOGIT``)."""
    if pairs.ndim != 2 or pairs.shape[1] != 3 or pairs.dtype != torch.long:
        return f"shape {tuple(pairs.shape)} and dtype {pairs.dtype}, expected (pairs, 3) int64"
    if len(pairs) == 0:
        return None
    first, second, logit = pairs.unbind(1)
    width = len(rank)
    outside = (pairs[:, :2] < 0) | (pairs[:, :2] >= width)
    if outside.any():
        return f"position {int(pairs[:, :2][outside][0])} outside 0..{width - 1}"
    is_slot = torch.zeros(width, dtype=torch.bool)
    is_slot[torch.tensor(slots, dtype=torch.long)] = True
    not_slot = ~is_slot[pairs[:, :2]]
    if not_slot.any():
        position = int(pairs[:, :2][not_slot][0])
        return (f"position {position} (drawing step {int(rank[position])}) holds no category "
                f"and no value of a number encoded value by value")
    unordered = rank[first] >= rank[second]
    if unordered.any():
        a, b = pairs[unordered][0, :2].tolist()
        return (f"the pair ({a}, {b}) whose first position is not in an earlier column than "
                f"its second")
    known = (logit == EXCLUDED_LOGIT) | (logit == DEPENDENCY_LOGIT)
    if not known.all():
        return (f"the logit {int(logit[~known][0])}, where {EXCLUDED_LOGIT} or "
                f"{DEPENDENCY_LOGIT} is expected")
    return None


class StepExclusions:
    """The exclusions as the drawer applies them: for each drawing step (column) that
    excludes categories of later columns, those later positions and a (column width,
    targets) table holding the pair's logit where a slot of the column excludes a target.
    Once the column is drawn, :meth:`apply` adds the drawn rows' table rows to the targets'
    logits: one product of the column's block (its one-hot, or what a condition wrote) with
    the table and one ``index_add_``. ``pairs`` as :func:`unseen_pairs` gives them (the
    first of each pair in the earlier column, then the logit)."""

    def __init__(self, pairs: torch.Tensor, steps, device):
        step_of = torch.empty(max(step.stop for step in steps), dtype=torch.long)
        for number, step in enumerate(steps):
            step_of[step.start:step.stop] = number
        # the step of each pair's first position; the pairs grouped by it (one sort)
        column = step_of.to(pairs.device)[pairs[:, 0]]
        order = torch.argsort(column, stable=True)
        numbers, sizes = torch.unique_consecutive(column[order], return_counts=True)
        self.tables: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for number, group in zip(numbers.tolist(), torch.split(pairs[order], sizes.tolist())):
            step = steps[number]
            source, target, logit = group.unbind(1)
            targets, target_column = torch.unique(target, return_inverse=True)
            table = torch.zeros((step.stop - step.start, len(targets)), device=device)
            table[(source - step.start).to(device), target_column.to(device)] = \
                logit.to(device, table.dtype)
            self.tables[number] = (targets.to(device), table)

    def apply(self, number: int, step, block: torch.Tensor, logits: torch.Tensor) -> None:
        """Column ``number`` (``step``) is drawn in ``block``: lower the logits of the later
        categories its drawn categories exclude."""
        found = self.tables.get(number)
        if found is not None:
            targets, table = found
            logits.index_add_(1, targets, block[:, step.start:step.stop] @ table)
