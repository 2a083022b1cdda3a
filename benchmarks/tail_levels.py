"""Nested tail modes, probed against the default's one tail mode a side (issue 16,
structure.md "seventeenth step"; not kept)::

    python -m benchmarks.tail_levels 0.1/0.03/0.01/0.003 shoppers,default 0,1,2 --name s45-levels

A heavy-tailed column's default tail modes are its top and bottom ``tail_share`` (1 %). Here
each side is cut at every share given, outermost first: ``0.1/0.03/0.01/0.003`` makes the
intervals [q99.7, inf), [q99, q99.7), [q97, q99) and [q90, q97) above (mirrored below), an
edge kept only when its interval holds at least ``min_mode_rows`` values (an outer interval
too light is merged into the next one in). Each fit is ``benchmarks.structure``'s per-table
fit at the defaults otherwise, appended to ``results/structure-<name>.jsonl`` as model
``synthvae[tail_levels=...]``; the default's rows come from ``python -m benchmarks.structure
--models synthvae`` (fits are deterministic for a seed on one thread).
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager


def nested_tails_class(shares):
    """A ModeSpecificNormalizer whose tail modes are the nested intervals of ``shares``."""
    from synthvae.transforms.continuous import ModeSpecificNormalizer, tail_intervals

    class NestedTails(ModeSpecificNormalizer):
        def _add_tail_modes(self, spread, n_observed):
            self._append_interval_modes(spread, n_observed,
                                        tail_intervals(spread, shares, self.min_mode_rows))

    return NestedTails


@contextmanager
def nested_tails(shares):
    """A block in which every fit's continuous columns (durations aside) take the nested
    tail modes."""
    import synthvae.transforms.table as table
    from synthvae.frames import is_duration_name

    kind = table.ColumnKind.CONTINUOUS
    original = table.TRANSFORMERS[kind]
    nested = table._numbers(nested_tails_class(shares))
    table.TRANSFORMERS[kind] = lambda spec, options: original(spec, options) \
        if is_duration_name(spec.dtype) else nested(spec, options)
    try:
        yield
    finally:
        table.TRANSFORMERS[kind] = original


def main(argv=None) -> None:
    from benchmarks import structure

    p = argparse.ArgumentParser(prog="python -m benchmarks.tail_levels")
    p.add_argument("shares", help="tail shares, '/'-separated (0.1/0.03/0.01/0.003)")
    p.add_argument("tables", help="comma-separated benchmark tables (name or name@rows)")
    p.add_argument("seeds", help="comma-separated seeds")
    p.add_argument("--name", required=True, help="results/structure-<name>.jsonl")
    args = p.parse_args(argv)
    shares = [float(s) for s in args.shares.split("/")]
    structure.probe_runs(args.name, f"python -m benchmarks.tail_levels {args.shares} "
                         f"{args.tables} {args.seeds} --name {args.name}",
                         f"tail_levels={args.shares}", args.tables, args.seeds,
                         lambda: nested_tails(shares))


if __name__ == "__main__":
    main()
