"""Index tensors derived once from the spans, so loss and sampling need no per-column loop.

All softmax slots are gathered into one ``(batch, n_slots)`` block; ``slot_group`` says which
span each slot belongs to, and the spans are contiguous runs of slots. Per-span reductions
(max, sum, log-sum-exp) are one ``segment_reduce`` (or ``scatter_reduce``) / ``index_add_``
over the slots, and a draw from every span is one ``searchsorted`` over the row's running
sum, whatever the number of columns: the cost is linear in the number of slots (no
``(n_slots, n_groups)`` matrix, which grows with the square of the table's width).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synthvae.transforms.spans import Span, SpanKind

FLOAT32_MAX_SLOTS = 4_096  # a float32 running sum this long resolves ~1e-4 of a span's mass
SEGMENT_REDUCE_MIN_GROUPS = 24  # spans from which group_max uses a segment reduction


@dataclass(frozen=True)
class SpanLayout:
    width: int  # encoded columns
    scalar_index: torch.Tensor  # (n_scalars,) positions of scalar spans
    slot_index: torch.Tensor  # (n_slots,) positions of softmax slots
    slot_group: torch.Tensor  # (n_slots,) softmax span of each slot, 0..n_groups-1
    group_starts: torch.Tensor  # (n_groups,) position of each span's first slot among the slots
    group_widths: torch.Tensor  # (n_groups,) slots of each span (long)

    @classmethod
    def from_spans(cls, spans: list[Span], device: torch.device | str = "cpu") -> "SpanLayout":
        scalars, slots, groups, starts, widths, start = [], [], [], [], [], 0
        for span in spans:
            if span.kind is SpanKind.SCALAR:
                scalars.append(start)
            else:
                starts.append(len(slots))
                widths.append(span.width)
                slots.extend(range(start, start + span.width))
                groups.extend([len(widths) - 1] * span.width)
            start += span.width

        def tensor(values):
            return torch.tensor(values, dtype=torch.long).to(device)

        return cls(width=start, scalar_index=tensor(scalars), slot_index=tensor(slots),
                   slot_group=tensor(groups), group_starts=tensor(starts),
                   group_widths=tensor(widths))

    @property
    def n_scalars(self) -> int:
        return int(self.scalar_index.numel())

    @property
    def n_groups(self) -> int:
        return int(self.group_widths.numel())

    def group_max(self, slots: torch.Tensor) -> torch.Tensor:
        """(batch, n_slots) -> (batch, n_groups) maximum of each span.

        Many spans: one segment reduction over their contiguous runs of slots (several times
        faster than a ``scatter_reduce`` by span on wide tables); few spans: the
        ``scatter_reduce`` (benchmarks/results/scale.md). The segment lengths are valid by
        construction, so the reduction skips its input checks (``unsafe``), which would
        otherwise read two values back from the device on every call."""
        if self.n_groups >= SEGMENT_REDUCE_MIN_GROUPS:
            lengths = self.group_widths.expand(slots.shape[0], -1).contiguous()
            return torch.segment_reduce(slots, "max", lengths=lengths, axis=1, unsafe=True)
        out = slots.new_full((slots.shape[0], self.n_groups), -torch.inf)
        index = self.slot_group.expand(slots.shape[0], -1)
        return out.scatter_reduce(1, index, slots, reduce="amax", include_self=True)

    def group_sum(self, slots: torch.Tensor) -> torch.Tensor:
        """(batch, n_slots) -> (batch, n_groups) sum over each span's slots."""
        out = slots.new_zeros((slots.shape[0], self.n_groups))
        return out.index_add(1, self.slot_group, slots)

    def group_logsumexp(self, slots: torch.Tensor) -> torch.Tensor:
        """(batch, n_slots) logits -> (batch, n_groups) log-normaliser of each span."""
        peak, total = self.group_exp_(slots.clone())
        return torch.log(total) + peak

    def group_exp_(self, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """In place: each of the (batch, n_slots) logits becomes ``exp(logit - its span's
        maximum)`` (each span's largest is 1); returns the (batch, n_groups) maxima and the
        sums of the exponentials, so that ``log(sum) + max`` is each span's log-normaliser
        and ``slots / expand(sum)`` its softmax. The maxima only keep the exponentials in
        range: they carry no gradient."""
        peak = self.group_max(slots.detach())
        slots.sub_(self.expand(peak)).exp_()
        return peak, self.group_sum(slots)

    def group_sample(self, slots: torch.Tensor, uniform: torch.Tensor,
                     floor: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, n_slots) logits and (batch, n_groups) uniforms in [0, 1) -> (batch,
        n_groups) position (among the slots) of a draw from each span's softmax.

        With ``floor`` (n_slots,), low-lift truncation (``synthvae.sampling.span_weights``):
        a slot whose probability is below its floor is not drawn; each span's most likely
        slot always may be (a floor above 1 is read as 1).

        Inverse-CDF sampling with one uniform per span: the row's running sum of the
        unnormalised weights is one sorted sequence, and span g's draw is where
        ``before_g + u_g * total_g`` falls in it (one ``searchsorted`` for all spans). The
        running sum is float32 (each span's largest weight is 1, so it stays below the number
        of slots) up to ``FLOAT32_MAX_SLOTS`` slots, float64 beyond, so that a span's rare
        slots keep their share in wide tables.
        """
        weights = self.group_weights(slots, floor)  # (batch, n_slots)
        precise = torch.float64 if weights.shape[1] > FLOAT32_MAX_SLOTS else weights.dtype
        cumulative = torch.cumsum(weights, dim=1, dtype=precise)
        last = self.group_starts + self.group_widths - 1
        ends = cumulative[:, last]  # (batch, n_groups) running sum at each span's end
        before = cumulative[:, (self.group_starts - 1).clamp_min(0)] * (self.group_starts > 0)
        threshold = before + uniform.to(precise) * (ends - before)
        chosen = torch.searchsorted(cumulative, threshold, right=True)
        return torch.minimum(torch.maximum(chosen, self.group_starts), last)

    def group_weights(self, slots: torch.Tensor, floor: torch.Tensor | None = None
                      ) -> torch.Tensor:
        """(batch, n_slots) logits -> unnormalised probabilities, each span's largest 1.

        With ``floor`` (n_slots,), low-lift truncation (``synthvae.sampling.span_weights``
        for one span): a slot whose probability is below its floor gets weight 0; each
        span's most likely slot is kept (a floor above 1 is read as 1)."""
        weights = (slots - self.expand(self.group_max(slots))).exp_()
        if floor is not None:  # a span's largest weight is 1: a bar above 1 would drop it
            bar = self.expand(self.group_sum(weights)).mul_(floor).clamp_(max=1.0)
            weights.masked_fill_(weights < bar, 0.0)
        return weights

    def expand(self, per_group: torch.Tensor) -> torch.Tensor:
        """(batch, n_groups) -> (batch, n_slots): each slot gets its span's value."""
        return torch.index_select(per_group, 1, self.slot_group)
