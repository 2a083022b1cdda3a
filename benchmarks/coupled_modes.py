"""Probe (issue 16): each row's numeric modes drawn with one uniform shared by its columns.

TVAE encodes a continuous value as a mixture mode drawn from the value's posterior over the
modes, independently in each column. Two values that sit alike in their columns' mixtures
(a customer's two monthly bills) then often land in modes that do not match, and the
encoded relation between the columns is noisier than the values'. Here each row draws one
uniform ``u`` and every numeric column takes the mode at ``u`` of its posterior's inverse
CDF over the modes ordered by their means: each column's encoding is distributed exactly as
before (``u`` is uniform), but the columns' mode draws are coupled (comonotone)::

    python -m benchmarks.coupled_modes default,magic 0,1 --name coupled-a

Fits at the defaults otherwise (``benchmarks.structure``'s per-table run), appended to
``results/structure-<name>.jsonl`` as model ``synthvae[coupled]``.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack, contextmanager

import numpy as np

from benchmarks.common import patched

_shared: dict = {}


def coupled_draw(log_weights: np.ndarray, order: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """(n, K) log weights, the modes' order by mean, (n,) uniforms -> (n,) drawn modes: the
    inverse CDF of each row's posterior over the modes taken in ``order``."""
    ordered = log_weights[:, order]
    top = ordered.max(axis=1, keepdims=True)
    weights = np.exp(ordered - np.where(np.isfinite(top), top, 0.0))
    cumulative = np.cumsum(weights, axis=1)
    below = (cumulative < uniform[:, None] * cumulative[:, -1:]).sum(axis=1)
    return order[np.minimum(below, len(order) - 1)]


@contextmanager
def coupled_modes():
    """A block in which every table encoding draws its numeric modes coupled by row."""
    import synthvae.transforms.continuous as continuous
    from synthvae.transforms.table import TableTransformer

    table_transform = TableTransformer.transform
    column_transform = continuous.ModeSpecificNormalizer.transform
    sample_rows = continuous._sample_rows

    def transform(self, df, seed=None):
        base = self.seed if seed is None else seed
        _shared["u"] = np.random.default_rng([0 if base is None else base, 16]).random(len(df))
        try:
            return table_transform(self, df, seed)
        finally:
            _shared.pop("u", None)

    def column(self, series, rng):
        _shared["order"] = np.argsort(self.means_, kind="stable")
        try:
            return column_transform(self, series, rng)
        finally:
            _shared.pop("order", None)

    def draw(log_weights, rng):
        u = _shared.get("u")
        if u is None or len(u) != len(log_weights) or "order" not in _shared:
            return sample_rows(log_weights, rng)
        return coupled_draw(log_weights, _shared["order"], u)

    with ExitStack() as stack:
        stack.enter_context(patched(TableTransformer, "transform", transform))
        stack.enter_context(patched(continuous.ModeSpecificNormalizer, "transform", column))
        stack.enter_context(patched(continuous, "_sample_rows", draw))
        yield


def main() -> None:
    from benchmarks.structure import probe_runs

    p = argparse.ArgumentParser(prog="python -m benchmarks.coupled_modes")
    p.add_argument("tables")
    p.add_argument("seeds")
    p.add_argument("--name", required=True)
    args = p.parse_args()
    probe_runs(args.name, "python -m benchmarks.coupled_modes " + " ".join(sys.argv[1:]),
               "coupled", args.tables, args.seeds, coupled_modes)


if __name__ == "__main__":
    main()
