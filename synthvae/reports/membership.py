"""Membership inference: can an attacker holding the synthetic table tell training rows apart?

Candidates, balanced: ``n`` training rows (members) and ``n`` holdout rows (non-members). The
holdout is shuffled and split in two disjoint halves: the first half is the attacker's
*reference* sample of the population (used only by the density-ratio attack), the second
provides the non-member candidates, so no candidate is also a reference row.
``n = min(len(holdout) // 2, len(train), MAX_CANDIDATES)``.

* ``distance`` attack: score = -(distance of the candidate to its nearest synthetic row);
  members of an overfitted or copying model sit closer to synthetic rows.
* ``domias`` attack (van Breugel et al., AISTATS 2023): score = density of the synthetic rows
  / density of the reference rows at the candidate. Densities are 1-nearest-neighbour
  estimates in the embedding, ``p(x) = 1 / (n * V_d * r(x)^d)``; the log-ratio is
  ``d * (log r_ref(x) - log r_syn(x))`` plus a constant, so its ranking (and every ROC number)
  does not depend on the dimension ``d``, unlike a Gaussian KDE whose bandwidth dominates in
  a wide one-hot space. High where the synthetic data is denser than the population: local
  overfitting, the signal DOMIAS looks for.

Each attack reports ROC AUC (0.5 = no better than guessing), the TPR at 1 % FPR (1 % =
guessing) and ROC curve points on a fixed FPR grid (the best TPR at FPR <= x).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from synthvae.reports.neighbors import nearest_distance

MAX_CANDIDATES = 10_000  # per side (members, non-members)
MIN_HOLDOUT_ROWS = 20
LOW_FPR = 0.01
FPR_GRID = np.unique(np.r_[np.geomspace(1e-3, 1e-1, 41), np.linspace(0.1, 1.0, 46), 0.0])


def membership_inference(train: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray,
                         seed: int) -> dict:
    """Both attacks on embedded tables (see module docs)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(holdout))
    half = len(holdout) // 2
    n = min(half, len(train), MAX_CANDIDATES)
    reference = holdout[order[:half]]
    candidates = np.vstack([train[rng.choice(len(train), n, replace=False)],
                            holdout[order[half:half + n]]])
    labels = np.r_[np.ones(n), np.zeros(n)]
    to_synthetic = nearest_distance(candidates, synthetic)  # (2n,)
    to_reference = nearest_distance(candidates, reference)
    return {
        "members": n, "non_members": n, "reference_rows": len(reference),
        "distance": attack_summary(labels, -to_synthetic),
        "domias": attack_summary(labels, _log_ratio(to_reference, to_synthetic)),
    }


def _log_ratio(to_reference: np.ndarray, to_synthetic: np.ndarray) -> np.ndarray:
    """log r_ref - log r_syn, with a floor so that exact matches (r = 0) stay finite."""
    positive = np.r_[to_reference, to_synthetic]
    positive = positive[positive > 0]
    floor = 1e-6 * (np.median(positive) if len(positive) else 1.0)
    return np.log(to_reference + floor) - np.log(to_synthetic + floor)


def attack_summary(labels: np.ndarray, scores: np.ndarray) -> dict:
    """ROC AUC, TPR at 1 % FPR and the ROC curve sampled on ``FPR_GRID``."""
    fpr, tpr, _ = roc_curve(labels, scores)
    at_grid = tpr[np.searchsorted(fpr, FPR_GRID, side="right") - 1]  # best TPR with FPR <= x
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "tpr_at_1pct_fpr": float(tpr[fpr <= LOW_FPR].max()),
        "roc": {"fpr": FPR_GRID.round(6).tolist(),
                "tpr": at_grid.round(6).tolist()},
    }
