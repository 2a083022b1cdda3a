"""The structure harness with another ``DISCRETE_VALUE_ROWS`` (issue 16, structure.md "December,
tenth step")::

    python -m benchmarks.discrete_rows 0 --no-demo --datasets wine,iris --seeds 0,1,2 --name kv-0

A numeric column is encoded value by value when it has at most ``discrete_threshold`` distinct
values, each held by at least ``DISCRETE_VALUE_ROWS`` rows on average
(:meth:`synthvae.transforms.continuous.ModeSpecificNormalizer.is_discrete`). The first
argument sets that number for every fit of the run (0: the rule before it existed, any
column of at most 100 distinct values); the rest are ``python -m benchmarks.structure``'s
arguments. Fits are deterministic for a seed on one thread, so a run at the default value
gives the default's rows.
"""

from __future__ import annotations

import sys

from benchmarks.common import patched


def main(argv: list[str]) -> None:
    import synthvae.transforms.continuous as continuous
    from benchmarks.structure import main as structure

    if not argv:
        raise SystemExit(__doc__)
    with patched(continuous, "DISCRETE_VALUE_ROWS", float(argv[0])):
        structure(argv[1:], command=f"python -m benchmarks.discrete_rows {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
