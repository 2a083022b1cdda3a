"""Index tensors derived once from the spans, so loss and sampling need no per-column loop.

All softmax slots are gathered into one ``(batch, n_slots)`` block; ``slot_group`` says which
span each slot belongs to. Per-span reductions (max, log-sum-exp, argmax) are then one
``scatter_reduce`` or one small matmul with the ``(n_slots, n_groups)`` membership matrix,
whatever the number of columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synthvae.transforms.spans import Span, SpanKind


@dataclass(frozen=True)
class SpanLayout:
    width: int  # encoded columns
    scalar_index: torch.Tensor  # (n_scalars,) positions of scalar spans
    slot_index: torch.Tensor  # (n_slots,) positions of softmax slots
    slot_group: torch.Tensor  # (n_slots,) softmax span of each slot, 0..n_groups-1
    membership: torch.Tensor  # (n_slots, n_groups) one-hot of slot_group, float

    @classmethod
    def from_spans(cls, spans: list[Span], device: torch.device | str = "cpu") -> "SpanLayout":
        scalars, slots, groups, start = [], [], [], 0
        n_groups = 0
        for span in spans:
            if span.kind is SpanKind.SCALAR:
                scalars.append(start)
            else:
                slots.extend(range(start, start + span.width))
                groups.extend([n_groups] * span.width)
                n_groups += 1
            start += span.width
        slot_group = torch.tensor(groups, dtype=torch.long)
        membership = torch.nn.functional.one_hot(slot_group, n_groups).float() if n_groups \
            else torch.zeros((0, 0))
        return cls(width=start, scalar_index=torch.tensor(scalars, dtype=torch.long).to(device),
                   slot_index=torch.tensor(slots, dtype=torch.long).to(device),
                   slot_group=slot_group.to(device), membership=membership.to(device))

    @property
    def n_scalars(self) -> int:
        return int(self.scalar_index.numel())

    @property
    def n_groups(self) -> int:
        return int(self.membership.shape[1])

    def group_max(self, slots: torch.Tensor) -> torch.Tensor:
        """(batch, n_slots) -> (batch, n_groups) maximum of each span."""
        out = slots.new_full((slots.shape[0], self.n_groups), -torch.inf)
        index = self.slot_group.expand(slots.shape[0], -1)
        return out.scatter_reduce(1, index, slots, reduce="amax", include_self=True)

    def group_logsumexp(self, slots: torch.Tensor) -> torch.Tensor:
        """(batch, n_slots) logits -> (batch, n_groups) log-normaliser of each span."""
        peak = self.group_max(slots.detach())  # (batch, n_groups), for stability only
        shifted = torch.exp(slots - self.expand(peak))
        return torch.log(shifted @ self.membership) + peak

    def group_sample_onehot(self, slots: torch.Tensor, generator: torch.Generator
                            ) -> torch.Tensor:
        """(batch, n_slots) logits -> one-hot of a draw from each span's softmax.

        Inverse-CDF sampling: one uniform per span and one exp per slot (a Gumbel-max draw
        needs a uniform and two logs per slot, several times the work at sampling scale).
        """
        weights = torch.exp(slots - self.expand(self.group_max(slots)))  # (batch, n_slots)
        totals = weights @ self.membership  # (batch, n_groups)
        cumulative = torch.cumsum(weights / self.expand(totals), dim=1)
        # The running sum passes 1 at the end of each span: span g starts from g.
        uniform = torch.rand(totals.shape, generator=generator, device=slots.device)
        threshold = self.expand(uniform + torch.arange(self.n_groups, device=slots.device))
        # Slots of a span whose running sum is still below the uniform: their count is the
        # drawn slot's offset within the span.
        below = (cumulative <= threshold).float() @ self.membership  # (batch, n_groups)
        offset = torch.minimum(below, self.group_widths - 1).long()
        chosen = self.group_starts + offset  # (batch, n_groups) slot positions
        return torch.zeros_like(slots).scatter_(1, chosen, 1.0)

    @property
    def group_starts(self) -> torch.Tensor:
        """(n_groups,) position of each span's first slot among the slots."""
        return torch.cumsum(self.group_widths, 0).long() - self.group_widths.long()

    @property
    def group_widths(self) -> torch.Tensor:
        return self.membership.sum(0)  # (n_groups,)

    def expand(self, per_group: torch.Tensor) -> torch.Tensor:
        """(batch, n_groups) -> (batch, n_slots): each slot gets its span's value."""
        return torch.index_select(per_group, 1, self.slot_group)
