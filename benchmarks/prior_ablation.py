"""Where the error comes from: the latent prior or the decoder (issue 5).

    python -m benchmarks.prior_ablation --datasets adult --seeds 0 --params '{"hidden": [256, 256]}'

Fits one synthesizer per dataset and seed, then draws a train-size sample from the same
decoder with each sampling variant and scores it (Column Shapes, all-pairs Column Pair Trends,
DCR train share). Sampling variants need no refit, so their differences are the prior's and
the output noise's alone:

* ``fitted``: the synthesizer's own prior (whatever ``prior`` the parameters choose);
* ``normal``: N(0, I), as TVAE;
* ``gmm<K>``: a K-component diagonal mixture on the training rows' latents;
* ``full<K>``: a K-component full-covariance mixture on the same latents;
* ``posterior``: z drawn from q(z | x) of random training rows. No deployable prior: it is the
  bound a perfect model of the aggregate posterior would reach, and it shows how much of the
  remaining error is the decoder's. Its DCR share says how close that bound is to copying.
* ``*-nonoise``: the same prior, scalars decoded at their mean (no learned output sigma).

Every prior is sampled with its own marginal calibration (``synthvae.calibration``, fitted for
that prior, as ``fit`` does for the fitted one) unless the synthesizer was fitted with
``calibrate=False``. Each row also holds the ML efficacy of the sample (train on synthetic,
test on the held-out rows) beside the real training table's.

Each run is appended as one JSON line to benchmarks/results/prior-<name>.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

from benchmarks.common import RESULTS, dcr_share, machine, ml_efficacy_scores, quality
from benchmarks.data import load_dataset

VARIANTS = ("fitted", "normal", "gmm10", "gmm50", "full10", "posterior", "fitted-nonoise",
            "posterior-nonoise")


class PosteriorDraws:
    """z ~ q(z | x) for uniformly drawn training rows: the aggregate posterior itself."""

    def __init__(self, mu: torch.Tensor, std: torch.Tensor):
        self.mu, self.std = mu, std  # (rows, latent_dim) each

    def sample(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        rows = torch.randint(len(self.mu), (n,), generator=generator, device=device)
        noise = torch.randn((n, self.mu.shape[1]), generator=generator, device=device)
        return self.mu[rows] + noise * self.std[rows]


class FullCovarianceMixture:
    """A full-covariance Gaussian mixture on the training rows' latents (sampling only)."""

    def __init__(self, latents: np.ndarray, n_components: int, seed: int):
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-4,
                              max_iter=100, random_state=seed).fit(latents)
        self.weights = torch.tensor(gmm.weights_, dtype=torch.float32)
        self.means = torch.tensor(gmm.means_, dtype=torch.float32)
        self.chol = torch.linalg.cholesky(torch.tensor(gmm.covariances_, dtype=torch.float32))

    def sample(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn((n, self.means.shape[1]), generator=generator, device=device)
        return self.means[component] + torch.einsum("nij,nj->ni", self.chol[component], noise)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.prior_ablation",
                                description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="adult")
    p.add_argument("--seeds", default="0")
    p.add_argument("--params", default="{}", help="Synthesizer parameters as JSON")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default="decomposition")
    return p.parse_args(argv)


def fitted_synthesizer(data, params: dict, seed: int):
    from synthvae import Synthesizer

    synth = Synthesizer(seed=seed, verbose=False, **params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth.fit(data.train)
    return synth, time.perf_counter() - start


def prior_for(variant: str, synth, data_matrix: torch.Tensor, seed: int):
    from synthvae.prior import MixturePrior, StandardNormalPrior, posterior_latents

    base = variant.removesuffix("-nonoise")
    if base == "fitted":
        return synth.prior_
    if base == "normal":
        return StandardNormalPrior(synth.model_config_.latent_dim)
    if base.startswith("gmm"):
        generator = torch.Generator().manual_seed(seed + 1)
        latents = posterior_latents(synth.model_, data_matrix, generator)
        return MixturePrior.fit(latents, int(base[3:]), seed)
    if base.startswith("full"):
        generator = torch.Generator().manual_seed(seed + 1)
        latents = posterior_latents(synth.model_, data_matrix, generator)
        return FullCovarianceMixture(latents, int(base[4:]), seed)
    if base == "posterior":
        with torch.no_grad():
            synth.model_.eval()
            mu, logvar = synth.model_.encoder(data_matrix)
        return PosteriorDraws(mu, torch.exp(0.5 * logvar))
    raise SystemExit(f"unknown variant {variant!r}")


def offsets_for(synth, prior, data_matrix: torch.Tensor, seed: int):
    """The marginal calibration fitted for ``prior`` (None when the synthesizer has none)."""
    from synthvae.calibration import fit_logit_offsets, slot_frequencies

    if synth.logit_offsets_ is None:
        return None
    if prior is synth.prior_:
        return synth.logit_offsets_
    generator = torch.Generator().manual_seed(seed + 3)
    return fit_logit_offsets(synth.model_.decoder, synth.layout_, prior,
                             slot_frequencies(data_matrix, synth.layout_), generator,
                             floor=synth.generator_.floor)[0]


def sample_with(synth, prior, n: int, seed: int, scalar_noise: bool, offsets=None):
    from synthvae.sampling import sample_matrix

    generator = torch.Generator().manual_seed(seed)
    matrix = sample_matrix(synth.model_, synth.layout_, prior, n, generator, synth.device_,
                           scalar_noise=scalar_noise, offsets=offsets,
                           floor=synth.generator_.floor)
    return synth.transformer_.inverse_transform(matrix.cpu().numpy(),
                                                np.random.default_rng(seed))


def run_dataset(name: str, seed: int, params: dict, variants: list[str]) -> list[dict]:
    data = load_dataset(name)
    synth, fit_s = fitted_synthesizer(data, params, seed)
    matrix = torch.as_tensor(synth.transformer_.transform(data.train, seed=seed))
    metadata = synth.schema_.to_sdmetrics_metadata()
    rows = []
    for variant in variants:
        prior = prior_for(variant, synth, matrix, seed)
        synthetic = sample_with(synth, prior, len(data.train), seed,
                                not variant.endswith("-nonoise"),
                                offsets_for(synth, prior, matrix, seed))
        scores = quality(data.train, synthetic, metadata)
        efficacy = ml_efficacy_scores(data, synthetic, synth.schema_, seed)
        rows.append({"dataset": name, "seed": seed, "params": params, "variant": variant,
                     "fit_s": round(fit_s, 1), "load_at_start": os.getloadavg()[0],
                     "shapes_error": round(1 - scores["column_shapes"], 4),
                     "trends_error": round(1 - scores["column_pair_trends"], 4),
                     "trends_real_bins_error": round(1 - scores["column_pair_trends_real_bins"], 4),
                     "dcr_train_share": round(dcr_share(data, synthetic, synth.schema_, seed),
                                              4),
                     "ml_metric": efficacy["metric"], "ml_synthetic": efficacy["synthetic"],
                     "ml_real": efficacy["real"]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    path = RESULTS / f"prior-{args.name}.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps({"machine": machine(), "command": " ".join(sys.argv)}) + "\n")
    for dataset in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for row in run_dataset(dataset, seed, json.loads(args.params),
                                   args.variants.split(",")):
                with path.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
