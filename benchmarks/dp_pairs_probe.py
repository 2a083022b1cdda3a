"""Would DP-measured 2-way marginals lift a DP fit's pair trends? A probe (issue 18).

After a DP fit of Adult at the dp benchmark's settings (public schema), the softmax spans
(categories, modes) are joined into a maximum spanning tree of the mutual information of
the *model's own* samples (post-processing: no budget), each tree edge's 2-way counts of the
real rows are measured with the Gaussian mechanism (the noise of a release of ``--share`` of
the budget at sensitivity sqrt(edges)), the model's rows are reweighted to the noisy
marginals by iterative proportional fitting (log weights a sum of per-cell terms, clipped to
[1/20, 20]), and a train-size sample is drawn from 3x candidates (Gumbel top-k by weight).
Both samples, plain and reweighted, are scored side by side::

    python -m benchmarks.dp_pairs_probe 1 0 >> benchmarks/results/dp-pairs-probe.jsonl

Options (dp.md's eighth step, ``dp-pairs-probe-2.jsonl``): ``--top K`` keeps
the K tree edges of highest mutual information (less noise on each); ``--post project``
projects each noisy table onto the closest non-negative counts of its own noisy total
(:func:`synthvae.privacy.project_span_counts`, as the one-way release now does) instead of
setting negative counts to 0; ``--keep-marginals`` adds every span's one-way share of the
model's own calibrated rows to the proportional fitting, so the reweighting may move the
pairs but not the columns; ``--draw multinomial`` picks the rows with replacement, exactly
in proportion to their weights, instead of without (Gumbel top-k, which caps each row at one
pick).

The release here is measured *beside* the fit's own budget (the fit is not made to pay
for it), so the probe is optimistic for the reweighting: if it shows no gain, a shipped
version that paid for it would not either.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings

import numpy as np
import torch

from benchmarks.common import ml_efficacy_scores, quality
from benchmarks.data import load_dataset
from benchmarks.dp import adult_public_schema
from synthvae import Synthesizer, privacy

SHARE, OVERSAMPLE, MAX_CELLS, MAX_FACTOR, ROUNDS = 0.1, 3, 1_000, math.log(20), 30


def local_slots(synth, matrix) -> torch.Tensor:
    """(rows, spans) the slot each row holds in each softmax span, numbered within it."""
    layout = synth.layout_
    hot = torch.as_tensor(matrix, dtype=torch.float32)[:, layout.slot_index]
    within = (torch.arange(hot.shape[1]) - layout.group_starts[layout.slot_group]).float()
    return layout.group_sum(hot * within).round().long()


def spanning_tree(slots: torch.Tensor, sizes: list[int]) -> list[tuple[int, int]]:
    """Kruskal's maximum spanning tree of the spans' mutual information in ``slots``: its
    edges, strongest first."""
    scored = []
    for a in range(len(sizes)):
        for b in range(a + 1, len(sizes)):
            if 1 < sizes[a] and 1 < sizes[b] and sizes[a] * sizes[b] <= MAX_CELLS:
                joint = torch.bincount(slots[:, a] * sizes[b] + slots[:, b],
                                       minlength=sizes[a] * sizes[b]).double()
                scored.append((mutual_information(joint.view(sizes[a], sizes[b])), a, b))
    parent = list(range(len(sizes)))

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    edges = []
    for _, a, b in sorted(scored, reverse=True):
        if root(a) != root(b):
            parent[root(a)] = root(b)
            edges.append((a, b))
    return edges


def mutual_information(counts: torch.Tensor) -> float:
    p = counts / counts.sum()
    outer = p.sum(1, keepdim=True) @ p.sum(0, keepdim=True)
    seen = p > 0
    return float((p[seen] * torch.log(p[seen] / outer[seen])).sum())


def fit_cell_weights(cells: list[torch.Tensor], targets: list[torch.Tensor]
                     ) -> list[torch.Tensor]:
    """Per-edge log factors (one per cell) that reweight the rows to ``targets`` (IPF)."""
    theta = [torch.zeros(len(t), dtype=torch.float64) for t in targets]
    log_w = torch.zeros(len(cells[0]), dtype=torch.float64)
    for _ in range(ROUNDS):
        for e, (cell, target) in enumerate(zip(cells, targets)):
            w = torch.exp(log_w - log_w.max())
            p = torch.bincount(cell, weights=w, minlength=len(target)).double()
            p = p / p.sum()
            step = torch.where(p > 0, torch.log(target.clamp_min(1e-6))
                               - torch.log(p.clamp_min(1e-12)), torch.zeros_like(p))
            new = (theta[e] + step).clamp(-MAX_FACTOR, MAX_FACTOR)
            log_w += (new - theta[e])[cell]
            theta[e] = new
    return theta


def categorical_pairs(real, synthetic, metadata) -> float:
    """Mean contingency similarity over the pairs of categorical columns."""
    import itertools

    from sdmetrics.column_pairs import ContingencySimilarity

    names = [n for n, c in metadata["columns"].items() if c["sdtype"] == "categorical"]
    return float(np.mean([ContingencySimilarity.compute(real[list(pair)],
                                                        synthetic[list(pair)])
                          for pair in itertools.combinations(names, 2)]))


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("epsilon", type=float)
    parser.add_argument("seed", type=int)
    parser.add_argument("--top", type=int, default=0, help="keep the K strongest tree edges")
    parser.add_argument("--post", choices=("clamp", "project"), default="clamp")
    parser.add_argument("--keep-marginals", action="store_true")
    parser.add_argument("--draw", choices=("top-k", "multinomial"), default="top-k",
                        help="pick the rows without (Gumbel top-k) or with replacement")
    return parser.parse_args(argv)


def noisy_shares(counts: np.ndarray, std: float, post: str, rng) -> torch.Tensor:
    """One edge's released 2-way table as shares: counts plus Gaussian noise, negatives set
    to 0 (``clamp``) or projected onto the noisy total (``project``)."""
    noisy = counts + rng.normal(0.0, std, len(counts))
    if post == "project":
        noisy = privacy.project_span_counts(noisy, np.zeros(len(noisy), dtype=int),
                                            max(noisy.sum(), 1.0))
    noisy = np.clip(noisy, 0.0, None)
    return torch.as_tensor(noisy / max(noisy.sum(), 1.0))


def main(argv=None) -> None:
    warnings.simplefilter("ignore")
    args = parse(argv)
    eps, seed = args.epsilon, args.seed
    data = load_dataset("adult")
    synth = Synthesizer(epsilon=eps, seed=seed, verbose=False,
                        schema=adult_public_schema(data.train, data.test)).fit(data.train)
    sizes = torch.bincount(synth.layout_.slot_group).tolist()
    generator = torch.Generator().manual_seed(seed + 7)
    model_rows = local_slots(synth, synth.generator_.sample(50_000, generator))
    edges = spanning_tree(model_rows, sizes)
    if args.top:  # Kruskal adds the edges strongest first
        edges = edges[:args.top]
    std = privacy.gaussian_noise_multiplier(eps * SHARE, synth.privacy_["target_delta"] * SHARE,
                                            "prv") * math.sqrt(max(len(edges), 1))
    real = local_slots(synth, synth.transformer_.transform(data.train))
    rng = np.random.default_rng(seed)
    targets = [noisy_shares(torch.bincount(real[:, a] * sizes[b] + real[:, b],
                                           minlength=sizes[a] * sizes[b]).double().numpy(),
                            std, args.post, rng) for a, b in edges]
    cells = [model_rows[:, a] * sizes[b] + model_rows[:, b] for a, b in edges]
    singles = [k for k in range(len(sizes)) if sizes[k] > 1] if args.keep_marginals else []
    theta = fit_cell_weights(cells + [model_rows[:, k] for k in singles], targets + [
        torch.bincount(model_rows[:, k], minlength=sizes[k]).double() / len(model_rows)
        for k in singles])
    n = len(data.train)
    generator = torch.Generator().manual_seed(seed + 1)
    candidates = synth.generator_.sample(OVERSAMPLE * n, generator)
    slots = local_slots(synth, candidates)
    log_w = sum(theta[e][slots[:, a] * sizes[b] + slots[:, b]] for e, (a, b) in enumerate(edges))
    log_w = log_w + sum(theta[len(edges) + i][slots[:, k]] for i, k in enumerate(singles))
    if args.draw == "multinomial":  # exactly weight-proportional, rows may repeat
        chosen = torch.multinomial(torch.exp(log_w - log_w.max()), n, replacement=True,
                                   generator=generator).sort().values
    else:  # without replacement: a row is picked at most once, so heavy weights are capped
        gumbel = -torch.log(-torch.log(torch.rand(len(slots), generator=generator,
                                                  dtype=torch.float64)))
        chosen = torch.topk(log_w + gumbel, n).indices.sort().values
    reweighted, _ = synth.constraints_.output(synth.transformer_.inverse_transform(
        candidates[chosen].numpy(), np.random.default_rng(seed)))
    metadata = synth.schema_.to_sdmetrics_metadata()
    for variant, synthetic in (("plain", synth.sample(n, seed=seed + 1)),
                               ("pair-reweighted", reweighted)):
        scores = quality(data.train, synthetic, metadata)
        print(json.dumps({"epsilon": eps, "seed": seed, "variant": variant, "edges": len(edges),
                          "post": args.post, "keep_marginals": args.keep_marginals,
                          "draw": args.draw,
                          "noise_std_rows": round(std, 1),
                          "ml_auc": ml_efficacy_scores(data, synthetic, synth.schema_,
                                                       seed)["synthetic"],
                          "categorical_pairs": round(categorical_pairs(
                              data.train, synthetic, metadata), 4),
                          **{k: round(v, 4) for k, v in scores.items()
                             if isinstance(v, float)}}), flush=True)


if __name__ == "__main__":
    main()
