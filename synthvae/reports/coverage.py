"""alpha-precision, beta-recall and authenticity (Alaa et al., ICML 2022), in the embedding.

The paper embeds rows with a one-class network; here the embedding is the standardized /
one-hot space of :class:`synthvae.reports.encoding.Embedding`, as in common re-implementations.
With ``c`` the mean real row and alpha in ``ALPHAS`` (0..1):

* precision curve P(alpha): share of synthetic rows inside the ball around ``c`` that holds
  the alpha share of real rows (radius = alpha-quantile of real distances to ``c``);
* recall curve R(beta): share of real rows whose nearest synthetic row is nearer than the
  real row's own nearest real neighbour *and* lies inside the beta-quantile ball of those
  nearest synthetic rows around the synthetic mean;
* ``alpha_precision`` / ``beta_recall`` = 1 - 2 * mean |curve - diagonal| (1 = the curve
  follows the diagonal, i.e. the synthetic rows are as typical as the real ones). The
  diagonal is the share of the radii's own rows within each quantile radius: alpha itself
  when the radii are distinct, more where many rows share one (a table of few distinct rows:
  every row of the common value lies within the smallest ball), so that ties do not score
  a faithful table 0. Curve and diagonal are compared within each radius and strictly
  inside it, so that a tie counts with its whole mass on both sides and rows piled nearer
  the centre than a tie are seen;
* ``authenticity``: share of synthetic rows farther from their nearest real row than that
  real row is from its own nearest real neighbour (low = rows sit on top of real rows).

Both tables are subsampled to at most ``MAX_ROWS`` rows (seeded) to bound the cost.
"""

from __future__ import annotations

import numpy as np

from synthvae.reports._util import subsample
from synthvae.reports.neighbors import nearest

MAX_ROWS = 10_000
ALPHAS = np.linspace(0.0, 1.0, 31)


def rows_reason(real_rows: int) -> str | None:
    """Why the scores cannot be computed (no real row has another real row); None if they can."""
    if real_rows >= 2:
        return None
    return (f"alpha-precision, beta-recall and authenticity were not computed: they compare "
            f"each real row with its nearest other real row, so they need at least 2 real rows;"
            f" found {real_rows}.")


def alpha_precision_beta_recall(real: np.ndarray, synthetic: np.ndarray, seed: int) -> dict:
    """The three scores, the curves (for plots) and the rows used, from embedded tables."""
    rng = np.random.default_rng(seed)
    real, synthetic = subsample(real, MAX_ROWS, rng), subsample(synthetic, MAX_ROWS, rng)
    real_gap = nearest(real, real, k=2)[0][:, -1]  # (n_real,) to the nearest other real row
    precision, precision_diagonal = _precision_curve(real, synthetic)
    recall, recall_diagonal = _recall_curve(real, synthetic, real_gap)
    return {
        "alpha_precision": _integrated(precision, precision_diagonal),
        "beta_recall": _integrated(recall, recall_diagonal),
        "authenticity": _authenticity(real, synthetic, real_gap),
        "rows_used": [len(real), len(synthetic)],
        "curve": {"alpha": ALPHAS.tolist(), "precision": precision[0].tolist(),
                  "recall": recall[0].tolist()},
    }


def _precision_curve(real: np.ndarray, synthetic: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(curve, its diagonal), each (2, n_alphas): within each radius, strictly inside."""
    center = real.mean(axis=0)
    real_radius = np.linalg.norm(real - center, axis=1)
    radii = np.quantile(real_radius, ALPHAS)  # (n_alphas,)
    synthetic_radius = np.linalg.norm(synthetic - center, axis=1)  # (n_synthetic,)
    return _within(synthetic_radius, radii), _within(real_radius, radii)


def _recall_curve(real: np.ndarray, synthetic: np.ndarray, real_gap: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(curve, its diagonal), each (2, n_alphas): within each radius, strictly inside."""
    distance, index = nearest(real, synthetic, k=1)
    closest = synthetic[index[:, 0]]  # (n_real, width): each real row's nearest synthetic
    closest_radius = np.linalg.norm(closest - synthetic.mean(axis=0), axis=1)
    radii = np.quantile(closest_radius, ALPHAS)
    covered = distance[:, 0] <= real_gap  # (n_real,)
    inside = _inside(closest_radius, radii)  # (2, n_alphas, n_real)
    return (covered & inside).mean(axis=2), inside.mean(axis=2)


def _within(radius: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(2, n_alphas) share of ``radius`` within each of ``radii``, and strictly inside."""
    return _inside(radius, radii).mean(axis=2)


def _inside(radius: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(2, n_alphas, n) whether each of ``radius`` is within each of ``radii``, and
    strictly inside it."""
    return np.stack([radius[None, :] <= radii[:, None], radius[None, :] < radii[:, None]])


def _authenticity(real: np.ndarray, synthetic: np.ndarray, real_gap: np.ndarray) -> float:
    distance, index = nearest(synthetic, real, k=1)
    return float(np.mean(distance[:, 0] > real_gap[index[:, 0]]))


def _integrated(curve: np.ndarray, diagonal: np.ndarray) -> float:
    return float(1 - 2 * np.mean(np.abs(curve - diagonal)))

