"""The span layout: per-span reductions and draws, linear in the number of slots."""

from __future__ import annotations

import torch

from synthvae.layout import FLOAT32_MAX_SLOTS, SpanLayout
from synthvae.transforms.spans import Span, SpanKind


def spans(widths: list[int], scalars: int = 0) -> list[Span]:
    out = [Span(f"s{i}", SpanKind.SCALAR, 1, "value") for i in range(scalars)]
    return out + [Span(f"c{i}", SpanKind.SOFTMAX, w, "category") for i, w in enumerate(widths)]


def test_a_wide_layout_holds_index_tensors_linear_in_its_slots():
    # 3,000 continuous columns: ~33,000 encoded columns. A (slots, spans) membership matrix
    # would hold ~10^8 floats; the layout must stay a few index vectors.
    layout = SpanLayout.from_spans(spans([10] * 3_000, scalars=3_000))
    held = sum(v.numel() for v in vars(layout).values() if isinstance(v, torch.Tensor))
    assert held <= 4 * layout.width


def test_draws_follow_each_spans_softmax_even_when_spans_differ_by_many_nats():
    layout = SpanLayout.from_spans(spans([3, 2, 4]))
    logits = torch.tensor([[80.0, 80.0 + 0.6931, 0.0,  # p = 1/3, 2/3, ~0
                            -90.0, -90.0,  # 1/2, 1/2 (all far below the row's maximum)
                            5.0, 5.0, 5.0, 5.0]])  # 1/4 each
    n = 60_000
    generator = torch.Generator().manual_seed(0)
    chosen = layout.group_sample(logits.expand(n, -1),
                                 torch.rand((n, 3), generator=generator))
    counts = torch.bincount(chosen.reshape(-1), minlength=9).float() / n
    expected = torch.tensor([1 / 3, 2 / 3, 0, 1 / 2, 1 / 2, 1 / 4, 1 / 4, 1 / 4, 1 / 4])
    assert torch.allclose(counts, expected, atol=0.01)
    # every draw lies inside its own span
    assert (chosen >= layout.group_starts).all()
    assert (chosen < layout.group_starts + layout.group_widths).all()


def test_draws_of_a_layout_past_the_float32_running_sum_follow_the_softmax():
    # Past FLOAT32_MAX_SLOTS the running sum is float64; draws still land in their spans
    # with the span's probabilities.
    widths = [4] * (FLOAT32_MAX_SLOTS // 4 + 100)
    layout = SpanLayout.from_spans(spans(widths))
    logits = torch.randn((1, sum(widths)), generator=torch.Generator().manual_seed(3)) * 3
    n = 4_000
    uniform = torch.rand((n, layout.n_groups), generator=torch.Generator().manual_seed(1))
    chosen = layout.group_sample(logits.expand(n, -1), uniform)
    assert (chosen >= layout.group_starts).all()
    assert (chosen < layout.group_starts + layout.group_widths).all()
    last = layout.n_groups - 1
    drawn = chosen[:, last] - layout.group_starts[last]
    shares = torch.bincount(drawn, minlength=4).float() / n
    assert torch.allclose(shares, torch.softmax(logits[0, -4:], 0), atol=0.03)


def test_group_logsumexp_and_sum_match_a_dense_reference():
    widths = [3, 1, 5, 2]
    layout = SpanLayout.from_spans(spans(widths, scalars=2))
    slots = torch.randn(7, sum(widths), generator=torch.Generator().manual_seed(2)) * 30
    parts = torch.split(slots, widths, dim=1)
    reference = torch.stack([torch.logsumexp(p, 1) for p in parts], 1)
    assert torch.allclose(layout.group_logsumexp(slots), reference, atol=1e-4)
    assert torch.allclose(layout.group_sum(slots), torch.stack([p.sum(1) for p in parts], 1),
                          atol=1e-4)


def test_group_max_and_logsumexp_match_a_reference_with_few_and_many_spans():
    # Few spans reduce with scatter_reduce, many with a segment reduction: both must give
    # each span's own maximum and log-normaliser, spans of one slot and -inf logits included.
    from synthvae.layout import SEGMENT_REDUCE_MIN_GROUPS

    generator = torch.Generator().manual_seed(5)
    for n_groups in (3, SEGMENT_REDUCE_MIN_GROUPS - 1, SEGMENT_REDUCE_MIN_GROUPS, 200):
        widths = [3] + torch.randint(1, 12, (n_groups - 1,), generator=generator).tolist()
        layout = SpanLayout.from_spans(spans(widths, scalars=1))
        slots = torch.randn(9, sum(widths), generator=generator) * 40
        slots[0, 0] = -torch.inf  # a slot the sampler's floor removed (its span keeps two)
        parts = torch.split(slots, widths, dim=1)
        expected_max = torch.stack([p.amax(1) for p in parts], 1)
        assert torch.equal(layout.group_max(slots), expected_max)
        expected_lse = torch.stack([torch.logsumexp(p, 1) for p in parts], 1)
        assert torch.allclose(layout.group_logsumexp(slots), expected_lse, atol=1e-4)
        assert layout.group_max(slots[:0]).shape == (0, n_groups)
