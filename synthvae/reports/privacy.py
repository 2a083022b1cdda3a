"""Copy checks: exact copies of training rows and distance to closest record (DCR).

These are sanity checks for copying, not privacy guarantees: a synthesizer can leak without
copying a row, and only differential privacy bounds what a model reveals.

* ``exact_copies``: synthetic rows equal to some training row on every modelled column
  (identifier columns are regenerated, so they are left out), found by a hash join of
  canonical rows. The holdout's share of rows equal to a training row is the baseline: tables
  with repeated rows (Adult has some) have copies even between two real samples.
* ``dcr``: Euclidean distance in the embedding (one standard deviation or one differing
  category adds 1 to the squared distance) from each synthetic row to its nearest training
  row. The baseline is the same distance for each holdout row (real rows the model never
  saw). ``train_share`` is the share of synthetic rows whose nearest row among an equal-size
  random sample of training rows and the holdout rows is a training row (ties count half):
  0.5 is ideal, higher means the synthetic rows sit nearer the training rows. The sizes must
  be equal for 0.5 to be the mark of privacy, so a copied row finds its source only when the
  sample holds it: with fewer holdout than training rows a table of copies scores about
  ``0.5 + 0.5 * holdout / train`` (``train_share_if_copied``; 0.625 with a 20 % holdout), not
  1. Exact copies and membership inference are the copy detectors; this share says whether
  the rows lean towards the training rows at all.
"""

from __future__ import annotations

import numpy as np

from synthvae.reports._util import subsample
from synthvae.reports.neighbors import nearest_distance

MAX_QUERY_ROWS = 50_000  # synthetic / holdout rows queried (seeded subsample beyond this)


def exact_copies(train: np.ndarray, synthetic: np.ndarray,
                 holdout: np.ndarray | None) -> dict:
    """From uint64 row hashes of each table."""
    copied = np.isin(synthetic, train)
    return {
        "count": int(copied.sum()),
        "share": float(copied.mean()),
        "distinct_training_rows_copied": int(len(np.unique(synthetic[copied]))),
        "holdout_share": None if holdout is None else float(np.isin(holdout, train).mean()),
    }


def distance_to_closest_record(train: np.ndarray, synthetic: np.ndarray,
                               holdout: np.ndarray | None, seed: int) -> dict:
    """From embedded tables; without a holdout only the synthetic distances are given."""
    rng = np.random.default_rng(seed)
    synthetic = subsample(synthetic, MAX_QUERY_ROWS, rng)
    if holdout is None:
        return _dcr_summary(nearest_distance(synthetic, train), None, None)
    order = rng.permutation(len(train))
    size = min(len(holdout), len(train))
    to_sample = nearest_distance(synthetic, train[order[:size]])  # (n_synthetic,)
    to_rest = (nearest_distance(synthetic, train[order[size:]]) if size < len(train)
               else np.full(len(synthetic), np.inf))
    to_holdout = nearest_distance(synthetic, holdout[rng.permutation(len(holdout))[:size]])
    share = float(np.mean(to_sample < to_holdout) + 0.5 * np.mean(to_sample == to_holdout))
    baseline = nearest_distance(subsample(holdout, MAX_QUERY_ROWS, rng), train)
    # a copy wins when the training sample holds its source (size / train), else a coin toss
    if_copied = 0.5 + 0.5 * size / len(train)
    return _dcr_summary(np.minimum(to_sample, to_rest), baseline, share, if_copied)


def _dcr_summary(synthetic: np.ndarray, baseline: np.ndarray | None,
                 share: float | None, if_copied: float | None = None) -> dict:
    return {
        "synthetic_median": float(np.median(synthetic)),
        "synthetic_p05": float(np.quantile(synthetic, 0.05)),
        "synthetic_zero_share": float(np.mean(synthetic == 0)),
        "holdout_median": None if baseline is None else float(np.median(baseline)),
        "holdout_p05": None if baseline is None else float(np.quantile(baseline, 0.05)),
        "holdout_zero_share": None if baseline is None else float(np.mean(baseline == 0)),
        "median_ratio": _ratio(synthetic, baseline),
        "train_share": share,
        "train_share_if_copied": if_copied,
        "synthetic_rows_used": int(len(synthetic)),
    }


def _ratio(synthetic: np.ndarray, baseline: np.ndarray | None) -> float | None:
    if baseline is None or np.median(baseline) == 0:
        return None
    return float(np.median(synthetic) / np.median(baseline))

