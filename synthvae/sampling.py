"""Decoder sampling in large batches: noise -> decoder -> encoded matrix (on the device).

A factorized decoder (TVAE's) draws every span at once. An autoregressive one
(:class:`synthvae.model.ColumnAutoregression`) draws the columns in order, each step
vectorized over the rows: step ``c``'s spans are drawn from logits that include the term
of the values drawn at steps ``< c``, whose own term is then added to the logits of the
steps after it. A step is a column, or half of a numeric one: its modes (and null
indicator), then its scalar, the position within the drawn mode
(:func:`synthvae.generator.column_rank`). The loop over steps is the model's definition, not
a per-column transform: its length is the number of steps, its work per step a few gathers
and one product of the step's hidden units into the later steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import embedding_bag, linear

from synthvae.exclusions import StepExclusions
from synthvae.layout import SpanLayout
from synthvae.model import VAE, bounded_value

# On the CPU the rows are decoded in chunks whose (rows, slots) blocks stay in cache: the
# softmax draw is several passes over that block, each memory-bound at sampling scale.
CPU_CHUNK_ROWS = 2_048
# Column-by-column draws pay a fixed cost per step: larger chunks, fewer steps.
CPU_AUTOREGRESSIVE_CHUNK_ROWS = 4_096
# Low-lift truncation (Synthesizer(min_lift=...)): a slot is not drawn where its probability
# is below this share of its frequency in the training rows.
MIN_LIFT = 0.03
# A condition on a two-step number computes its scalar's term for each mode in blocks of at
# most this many (row, mode, unit) cells.
SLOT_TERM_CELLS = 1 << 22


@dataclass(frozen=True)
class ColumnStep:
    """One drawing step's encoded positions (a column, or a number's modes or scalar), as
    host integers: what the step writes."""

    start: int  # first encoded position of the step
    stop: int
    groups: tuple[tuple[int, int, int], ...]  # (softmax span number, first position, width)
    scalars: tuple[tuple[int, int], ...]  # (scalar span number, position)
    # (value input number, its scalar's position): the masked layer's value inputs
    values: tuple[tuple[int, int], ...] = ()


def column_steps(layout: SpanLayout, rank: torch.Tensor,
                 value_scalars: torch.Tensor | None = None) -> list[ColumnStep]:
    """The drawing steps in order (``rank`` of each encoded position: each step one run of
    positions, as :class:`~synthvae.model.ModelConfig` checks), with the value inputs
    (``value_scalars``, their scalar positions) each step completes. One pass over the
    positions, spans and scalars (no scan per step)."""
    rank = rank.tolist()
    n_columns = max(rank) + 1 if rank else 0
    bounds = [[None, None] for _ in range(n_columns)]
    for position, column in enumerate(rank):
        bounds[column][0] = position if bounds[column][0] is None else bounds[column][0]
        bounds[column][1] = position + 1
    groups: list[list] = [[] for _ in range(n_columns)]
    slot_position = layout.slot_index.tolist()
    for g, (first, width) in enumerate(zip(layout.group_starts.tolist(),
                                           layout.group_widths.tolist())):
        groups[rank[slot_position[first]]].append((g, slot_position[first], width))
    scalars: list[list] = [[] for _ in range(n_columns)]
    for i, position in enumerate(layout.scalar_index.tolist()):
        scalars[rank[position]].append((i, position))
    values: list[list] = [[] for _ in range(n_columns)]
    for i, position in enumerate([] if value_scalars is None else value_scalars.tolist()):
        values[rank[position]].append((i, position))
    return [ColumnStep(start, stop, tuple(groups[c]), tuple(scalars[c]), tuple(values[c]))
            for c, (start, stop) in enumerate(bounds)]


@torch.no_grad()
def sample_matrix(model: VAE, layout: SpanLayout, prior, n: int, generator: torch.Generator,
                  device: torch.device, scalar_noise: bool = True,
                  offsets: torch.Tensor | None = None, floor: torch.Tensor | None = None,
                  excluded: torch.Tensor | None = None) -> torch.Tensor:
    """n rows of the encoded layout: scalars in [-1, 1], one one-hot per softmax span.

    Scalars are drawn from the decoder's Gaussian (mean tanh(logit), learned sigma) and
    categories from its softmax (inverse CDF, :meth:`SpanLayout.group_sample`), all spans
    at once. ``offsets`` (width,) are the marginal calibration's logit offsets
    (:mod:`synthvae.calibration`), ``floor`` (width,) the low-lift floor of each slot's
    probability (:func:`span_weights`), ``excluded`` (pairs, 3) the value pairs an
    autoregressive decoder never draws together, with their logits
    (:mod:`synthvae.exclusions`); each may be None.
    """
    model.eval()
    z = prior.sample(n, generator, device)  # (n, latent_dim)
    return decode_matrix(model, layout, z, generator, scalar_noise, offsets=offsets,
                         floor=floor, excluded=excluded)


def prior_logits(model: VAE, z: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
    """The decoder's logits for latents drawn from the prior, calibrated when ``offsets``."""
    logits = model.decoder(z)
    return logits if offsets is None else logits + offsets


@torch.no_grad()
def decode_matrix(model: VAE, layout: SpanLayout, z: torch.Tensor, generator: torch.Generator,
                  scalar_noise: bool = True, logits: torch.Tensor | None = None,
                  offsets: torch.Tensor | None = None, floor: torch.Tensor | None = None,
                  excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Decode latents ``z`` (n, latent_dim) into a drawn encoded matrix (n, width).

    ``logits`` (n, width) are the decoder's output when the caller has it already (else
    it is computed, plus ``offsets``). The random draws are made for all rows first (scalar
    noise, then one uniform per span), so the rows do not depend on the chunking.
    """
    n, device = len(z), z.device
    noise = torch.randn((n, layout.n_scalars), generator=generator, device=device) \
        if layout.n_scalars and scalar_noise else None
    uniform = torch.rand((n, layout.n_groups), generator=generator, device=device) \
        if layout.n_groups else None
    sigma = model.decoder.sigma(z.new_ones((1, 1)))  # (1, n_scalars)
    # Column-major: each column's span is then one contiguous block for the inverse transform
    # (a row-major span is a strided view that numpy reads several times slower).
    out = torch.empty((layout.width, n), device=device).T  # every row is written
    if model.decoder.autoregression is not None:
        out.zero_()  # the drawer writes the drawn slots only
        drawer = ColumnDrawer(model.decoder, layout, floor, excluded)
        chunk = CPU_AUTOREGRESSIVE_CHUNK_ROWS if device.type == "cpu" else max(n, 1)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            base = prior_logits(model, z[rows], offsets) if logits is None \
                else logits[rows].clone()
            drawer.draw(out[rows], base, sigma, uniform=None if uniform is None
                        else uniform[rows], noise=None if noise is None else noise[rows])
        return out
    chunk = CPU_CHUNK_ROWS if device.type == "cpu" else max(n, 1)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        scalars, slots = span_logits(model, layout, z[rows],
                                     None if logits is None else logits[rows], offsets)
        scratch = writes_row_major(device)
        block = out.new_zeros((len(scalars), layout.width)) if scratch else out[rows].zero_()
        if layout.n_scalars:
            mean = torch.tanh(scalars)
            if noise is not None:
                mean = mean + noise[rows] * sigma
            block.index_copy_(1, layout.scalar_index, mean.clamp_(-1.0, 1.0))
        if layout.n_groups:
            chosen = layout.group_sample(slots, uniform[rows], None if floor is None
                                         else floor[layout.slot_index])  # (rows, n_groups)
            block.scatter_(1, layout.slot_index[chosen], 1.0)
        if scratch:
            out[rows] = block
    return out


def writes_row_major(device: torch.device) -> bool:
    """Whether the factorized draw writes each chunk into a row-major block and copies it
    into the column-major matrix: on the CPU, where a scatter straight into that matrix
    lands each row's values a column apart (6.6x slower at 5,272 encoded columns); a GPU
    writes in place, without a second batch-sized buffer."""
    return device.type == "cpu"


def span_logits(model: VAE, layout: SpanLayout, z: torch.Tensor, logits: torch.Tensor | None,
                offsets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, n_scalars) scalar and (rows, n_slots) slot logits of latents ``z``.

    Without ``logits`` the output layer's rows are split into scalar and slot rows, so the
    two blocks come out of two matmuls instead of being gathered from a (rows, width) one.
    """
    if logits is not None:
        return logits[:, layout.scalar_index], logits[:, layout.slot_index]
    hidden = model.decoder.body(z)  # (rows, hidden[-1])
    weight, bias = model.decoder.out.weight, model.decoder.out.bias
    if offsets is not None:
        bias = bias + offsets
    return (linear(hidden, weight[layout.scalar_index], bias[layout.scalar_index]),
            linear(hidden, weight[layout.slot_index], bias[layout.slot_index]))


class ColumnDrawer:
    """Draws encoded rows from an autoregressive decoder, one step at a time (a column, or
    a number's modes and then its scalar).

    ``draw`` fills a (rows, width) block from the latent part of the logits: at step ``c``
    its softmax spans are drawn (inverse CDF with the given uniforms, or the most
    likely slot when there are none) and its scalars (tanh of the logit, plus ``noise`` x
    sigma when given); then its drawn values' term is added to the logits of the steps
    after it. Optional per-step hooks: ``conditions`` (:class:`synthvae.conditions.
    BoundCondition`) impose a column's draw and add log P(condition | z, earlier columns)
    to the returned log weights (a number's at its modes' step, with the scalar's logit
    for each mode, :meth:`_scalar_logits_by_slot`; its scalar step then draws nothing);
    ``slot_totals`` (n_slots,) accumulates each slot's probability at its step (what
    marginal calibration matches). With ``excluded`` pairs (:mod:`synthvae.exclusions`),
    each drawn column lowers the logits of the later
    categories it excludes before they are drawn.

    The masked layer's hidden units are held sorted by degree: a unit of degree ``d`` reads
    steps ``<= d`` and feeds steps ``> d``. Once step ``d`` is drawn, the units of
    degree ``d`` have all their inputs: their input sum is taken then, once, as a weighted
    bag of the encoded positions drawn so far (the slot drawn in each span with weight 1,
    each scalar with its value: ``embedding_bag``, not a matmul over one-hot columns), and
    their ReLU's term added at once to the logits of every later step (one matmul into
    the positions from the first later step's on, ``later_starts``), so step ``c``'s
    logits hold the units of degree ``< c`` when it is drawn. A draw costs about half the
    masked layer's output matmul plus a few gathers, whatever the number of columns.
    A numeric column's value input (:class:`~synthvae.model.ColumnAutoregression`) joins
    the bag as one more entry, at input ``width + i``, weighted by the value rebuilt from
    the drawn mode and scalar.
    """

    def __init__(self, decoder, layout: SpanLayout, floor: torch.Tensor | None = None,
                 excluded: torch.Tensor | None = None):
        self.layout = layout
        self.floor = floor  # (width,) low-lift floors of the slots' probabilities, or None
        autoregression = decoder.autoregression
        self.steps = column_steps(layout, autoregression.rank, autoregression.value_scalars)
        # value pairs never drawn together (synthvae.exclusions), or None
        self.exclusions = None if excluded is None or len(excluded) == 0 else \
            StepExclusions(excluded, self.steps, autoregression.rank.device)
        if autoregression.n_values:  # (width,) each mode slot's value offset and scale
            self.value_offset = autoregression.value_offset
            self.value_scale = autoregression.value_scale
            self.value_columns = value_column_slices(autoregression.value_positions,
                                                     autoregression.value_numbers)
        order = torch.argsort(autoregression.degree, stable=True)
        degree = autoregression.degree[order]
        columns = torch.arange(len(self.steps) + 1, device=degree.device)
        # units [unit_start[c], unit_start[c + 1]) have degree c
        self.unit_start = torch.searchsorted(degree, columns).tolist()
        inner_rows = without_subnormals(autoregression.inner.weight * autoregression.inner_mask
                                        )[order].T
        bias = autoregression.inner.bias[order]
        units = list(zip(self.unit_start, self.unit_start[1:]))
        # per degree: (in, units) input weights and (units,) bias of its units
        self.unit_weights = [inner_rows[:, a:b].contiguous() for a, b in units]
        self.unit_bias = [bias[a:b] for a, b in units]
        # (hidden, width): row u is unit u's weight into each encoded position
        self.outer_rows = without_subnormals(autoregression.outer.weight * autoregression.mask
                                             )[:, order].T.contiguous()
        self.slot_start = span_slot_starts(layout)
        self.feed_start = later_starts(self.steps)
        # a numeric column's softmax step -> its scalar step, drawn next (two-step numbers)
        self.scalar_step = {number: number + 1 for number, (step, after) in
                            enumerate(zip(self.steps, self.steps[1:]))
                            if after.stop == step.start == after.start + 1
                            and not after.groups}

    def step_start(self, position: int) -> int:
        """The first position of the first step drawn of the column holding encoded
        ``position`` (a two-step number's softmax step): where its conditions are imposed."""
        number = next(n for n, step in enumerate(self.steps)
                      if step.start <= position < step.stop)
        if self.scalar_step.get(number - 1) == number:
            number -= 1
        return self.steps[number].start

    def draw(self, block: torch.Tensor, base: torch.Tensor, sigma: torch.Tensor,
             uniform: torch.Tensor | None = None, noise: torch.Tensor | None = None,
             conditions: dict | None = None, generator: torch.Generator | None = None,
             slot_totals: torch.Tensor | None = None) -> torch.Tensor:
        """Fill ``block`` (rows, width, all zero) in place; return the rows' log weights.

        ``base`` (rows, width) is the latent's part of the logits; it is overwritten: each
        column's positions are built up step by step, complete when the column is drawn.
        """
        logits, n = base, len(base)
        conditions = conditions or {}
        bag = DrawnBag(n, [len(step.values) + (step.stop - step.start if step.start in conditions
                                               else len(step.groups) + len(step.scalars))
                           for step in self.steps], base.device, base.dtype)
        log_w = base.new_zeros(n)
        sigma = sigma.expand(n, -1)
        written = set()  # the scalar steps whose scalar a condition wrote
        for number, step in enumerate(self.steps):
            if number in written:  # its column imposed at its softmax step
                bag.add_drawn(step, [], block)
            else:
                choices = self._draw_column(step, block, logits, sigma, uniform, noise,
                                            slot_totals)
            imposed = conditions.get(step.start, ())
            for condition in imposed:
                scalar_logits = self._scalar_logits_by_slot(number, condition, bag, logits)
                log_w += condition.log_prob(logits, sigma, scalar_logits)
                condition.impose(block, logits, sigma, generator, scalar_logits)
                if scalar_logits is not None:
                    written.add(self.scalar_step[number])
            if imposed:  # the column as the conditions wrote it
                bag.add_column(step, block)
            elif number not in written:
                bag.add_drawn(step, choices, block)
            if self.exclusions is not None:
                self.exclusions.apply(number, step, block, logits)
            for number_of_value, scalar in step.values:
                bag.add(self.layout.width + number_of_value,
                        self._value(self.value_columns[number_of_value], scalar, block))
            units = slice(self.unit_start[number], self.unit_start[number + 1])
            if units.start < units.stop and number + 1 < len(self.steps):  # the last feeds none
                inputs = bag.sum(self.unit_weights[number]) + self.unit_bias[number]
                self._feed_later_columns(number, logits, inputs.clamp_(min=0), units)  # ReLU
        return log_w

    def _feed_later_columns(self, number: int, logits, active, units: slice) -> None:
        """Add the term of the units of degree ``number`` (``active``, their ReLU, final
        once step ``number`` is drawn) to the logits of every step after it: one matmul
        into the positions from the first later step's on (a wide product, where a product
        per later column into its own few positions took twice as long)."""
        later = self.feed_start[number]
        logits[:, later:].addmm_(active, self.outer_rows[units, later:])

    def _scalar_logits_by_slot(self, number: int, condition, bag: "DrawnBag",
                               logits: torch.Tensor) -> torch.Tensor | None:
        """(rows, k) the logit of a two-step number's scalar were each slot ``k`` of the
        condition's deciding span drawn at softmax step ``number``: what it has from the
        latent and the earlier columns, plus the term of the units of degree ``number`` that
        read the column's softmax step as the condition writes it (its null indicator and
        that slot). None where the scalar is not a step of its own after this one, or the
        condition decides no scalar."""
        scalar_number = self.scalar_step.get(number)
        if scalar_number is None or condition.scalar is None:
            return None
        position = self.steps[scalar_number].start
        units = slice(self.unit_start[number], self.unit_start[number + 1])
        out = logits[:, position:position + 1].repeat(1, len(condition.slot_log_weights))
        # the slots whose scalar can be drawn: allowed, and not a point mass (scalar 0)
        slots = torch.nonzero(torch.isfinite(condition.slot_log_weights)
                              & ~condition.exact).squeeze(1)
        if units.start == units.stop or not len(slots):
            return out
        weights = self.unit_weights[number]  # (in, units)
        inputs = bag.sum(weights) + self.unit_bias[number]  # the earlier columns' part
        if condition.null is not None:
            inputs = inputs + weights[condition.null.start]  # present
        slot_rows = weights[condition.slots][slots]  # (k', units)
        outer = self.outer_rows[units, position]
        # (rows, k', units) at a time, in chunks of rows: a value-by-value column has many
        step = max(1, SLOT_TERM_CELLS // (len(slots) * slot_rows.shape[1]))
        for start in range(0, len(out), step):
            rows = slice(start, start + step)
            by_slot = inputs[rows, None, :] + slot_rows
            out[rows, slots] += by_slot.clamp_(min=0) @ outer
        return out

    def _value(self, columns: slice, scalar: int, block: torch.Tensor) -> torch.Tensor:
        """(rows,) the numeric value of the column at ``columns`` as written in ``block``
        (one-hot modes and a scalar; or whatever a condition wrote), in the column's
        standard units."""
        encoded = block[:, columns]
        return bounded_value(encoded @ self.value_offset[columns]
                             + block[:, scalar] * (encoded @ self.value_scale[columns]))

    def _draw_column(self, step, block, logits, sigma, uniform, noise, slot_totals
                     ) -> list[torch.Tensor]:
        """Draw column ``step`` into ``block`` (zero there before); return the encoded
        position drawn in each of its softmax spans, (rows,) each."""
        choices = []
        for group, position, width in step.groups:
            span = logits[:, position:position + width]
            if uniform is None and slot_totals is None:
                choice = span.argmax(1)  # the most likely slot is never truncated
            else:
                weights = span_weights(span, None if self.floor is None
                                       else self.floor[position:position + width])
                if slot_totals is not None:
                    first = self.slot_start[position]
                    slot_totals[first:first + width] += (weights / weights.sum(1, keepdim=True)
                                                         ).sum(0)
                choice = span.argmax(1) if uniform is None \
                    else draw_from_weights(weights, uniform[:, group])
            block[:, position:position + width].scatter_(1, choice[:, None], 1.0)
            choices.append(choice + position)
        for index, position in step.scalars:
            mean = torch.tanh(logits[:, position])
            if noise is not None:
                mean = mean + noise[:, index] * sigma[:, index]
            block[:, position] = mean.clamp_(-1.0, 1.0)
        return choices


def later_starts(steps: list[ColumnStep]) -> list[int]:
    """For each step but the last, the first position of any step drawn after it (a
    two-step number's scalar sits before the softmax step drawn before it), where the
    masked units that the step completes start to feed."""
    starts, first = [], None
    for step in reversed(steps[1:]):
        first = step.start if first is None else min(first, step.start)
        starts.append(first)
    return starts[::-1]


def value_column_slices(positions: torch.Tensor, numbers: torch.Tensor) -> list[slice]:
    """Each value input's column (its scalar, modes and null indicator) as a slice of
    encoded positions, from :func:`synthvae.model.value_members`."""
    positions, numbers = positions.cpu(), numbers.cpu()
    n = int(numbers.max()) + 1 if len(numbers) else 0
    first = torch.full((n,), int(positions.max()) + 1 if n else 0, dtype=torch.long
                       ).scatter_reduce(0, numbers, positions, "amin")
    last = torch.zeros(n, dtype=torch.long).scatter_reduce(0, numbers, positions, "amax")
    return [slice(a, b + 1) for a, b in zip(first.tolist(), last.tolist())]


def span_slot_starts(layout: SpanLayout) -> dict[int, int]:
    """First encoded position of each softmax span -> its first slot number (where a
    column's draw adds to the per-slot totals)."""
    starts = layout.group_starts.tolist()
    return {position: starts[g] for g, position in
            enumerate(layout.slot_index[layout.group_starts].tolist())}


def without_subnormals(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` with subnormal values (below the dtype's smallest normal, ~1e-38 in
    float32; training leaves some behind) set to 0: the CPU computes with them many times
    slower (a sixth of the gathers' speed on the demo model) for no visible difference."""
    return weights.masked_fill(weights.abs() < torch.finfo(weights.dtype).tiny, 0.0)


class DrawnBag:
    """The encoded positions drawn so far in each row, with their values: (rows, entries)
    indices and weights, filled column by column (a drawn slot with weight 1, a scalar with
    its value, or every position of a column a condition rewrote). ``sum(weights)`` is the
    input of a layer to those rows, ``weights`` (in, units): the matmul of the rows with it,
    as a weighted bag of its rows."""

    def __init__(self, n: int, entries: list[int], device, dtype):
        self.index = torch.zeros((n, sum(entries)), dtype=torch.long, device=device)
        self.weight = torch.ones((n, sum(entries)), dtype=dtype, device=device)
        self.filled = 0

    def add_drawn(self, step: ColumnStep, choices: list[torch.Tensor],
                  block: torch.Tensor) -> None:
        """Column ``step`` as drawn: ``choices`` the position drawn in each span."""
        for position in choices:
            self.add(position)  # weight 1: the bag starts at ones
        for _, position in step.scalars:
            self.add(position, block[:, position])

    def add(self, index, weight: torch.Tensor | None = None) -> None:
        """One more entry: input ``index`` (an int, or (rows,) per row) with ``weight``
        (rows,), or 1 when None."""
        self.index[:, self.filled] = index
        if weight is not None:
            self.weight[:, self.filled] = weight
        self.filled += 1

    def add_column(self, step: ColumnStep, block: torch.Tensor) -> None:
        """Every position of column ``step`` with its value in ``block``."""
        width, entries = step.stop - step.start, slice(self.filled, self.filled + step.stop
                                                       - step.start)
        self.index[:, entries] = torch.arange(step.start, step.stop, device=block.device)
        self.weight[:, entries] = block[:, step.start:step.stop]
        self.filled += width

    def sum(self, weights: torch.Tensor) -> torch.Tensor:
        """(rows, units): the drawn positions' rows of ``weights`` (in, units), weighted."""
        if not self.filled:
            return weights.new_zeros((len(self.index), weights.shape[1]))
        return embedding_bag(self.index[:, :self.filled], weights, mode="sum",
                             per_sample_weights=self.weight[:, :self.filled])


def span_weights(span: torch.Tensor, floor: torch.Tensor | None = None) -> torch.Tensor:
    """(rows, k) logits of one softmax span -> its unnormalised probabilities (the largest
    is 1). With ``floor`` (k,), low-lift truncation: a slot whose probability is below its
    floor gets weight 0; the most likely slot is always kept."""
    weights = torch.exp(span - span.amax(1, keepdim=True))
    if floor is None:
        return weights
    keep = (weights >= floor * weights.sum(1, keepdim=True)) | (weights == 1.0)
    return weights.mul_(keep)


def draw_from_weights(weights: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """(rows, k) unnormalised probabilities and (rows,) uniforms -> (rows,) drawn slots
    (inverse CDF)."""
    cumulative = torch.cumsum(weights, dim=1)
    threshold = uniform[:, None] * cumulative[:, -1:]
    return (cumulative <= threshold).sum(1).clamp_(max=weights.shape[1] - 1)


