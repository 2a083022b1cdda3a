"""Nested tail modes, probed against the default's one tail mode a side (issue 16,
structure.md "seventeenth step"; not kept)::

    python -m benchmarks.tail_levels 0.1/0.03/0.01/0.003 shoppers,default 0,1,2 --name s45-levels

A heavy-tailed column's default tail modes are its top and bottom ``tail_share`` (1 %). Here
each side is cut at every share given, outermost first: ``0.1/0.03/0.01/0.003`` makes the
intervals [q99.7, inf), [q99, q99.7), [q97, q99) and [q90, q97) above (mirrored below), an
edge kept only when its interval holds at least ``min_mode_rows`` values (an outer interval
too light is merged into the next one in); with ``--gate 0.01``, only in columns whose top
1 % holds ``min_mode_rows`` values. Each fit is ``benchmarks.structure``'s per-table
fit at the defaults otherwise, appended to ``results/structure-<name>.jsonl`` as model
``synthvae[tail_levels=...]``; the default's rows come from ``python -m benchmarks.structure
--models synthvae`` (fits are deterministic for a seed on one thread).
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager


def nested_tails_class(shares, gate: float = 0.0):
    """A ModeSpecificNormalizer whose tail modes are the nested intervals of ``shares``; with
    ``gate``, only in columns whose top ``gate`` of the values holds ``min_mode_rows``."""
    from synthvae.transforms.continuous import ModeSpecificNormalizer, tail_intervals

    class NestedTails(ModeSpecificNormalizer):
        def _add_tail_modes(self, spread, n_observed):
            if not gate or gate * len(spread) >= max(self.min_mode_rows, 1):
                self._append_interval_modes(spread, n_observed,
                                            tail_intervals(spread, shares, self.min_mode_rows))

    return NestedTails


@contextmanager
def nested_tails(shares, gate: float = 0.0):
    """A block in which every fit's continuous columns (durations aside) take the nested
    tail modes (:func:`nested_tails_class`)."""
    import synthvae.transforms.table as table
    from synthvae.frames import is_duration_name

    kind = table.ColumnKind.CONTINUOUS
    original = table.TRANSFORMERS[kind]
    nested = table._numbers(nested_tails_class(shares, gate))
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
    p.add_argument("--gate", type=float, default=0.0,
                   help="tail modes only in columns whose top GATE share holds min_mode_rows "
                        "values (0: every column)")
    args = p.parse_args(argv)
    shares = [float(s) for s in args.shares.split("/")]
    gated = f" --gate {args.gate:g}" if args.gate else ""
    structure.probe_runs(args.name, f"python -m benchmarks.tail_levels {args.shares} "
                         f"{args.tables} {args.seeds} --name {args.name}{gated}",
                         f"tail_levels={args.shares}{gated.replace(' --gate ', ',gate=')}",
                         args.tables, args.seeds, lambda: nested_tails(shares, args.gate))


if __name__ == "__main__":
    main()
