"""``evaluate(real, synthetic, holdout=...)``: fidelity and privacy of a synthetic table.

``real`` is the table the synthesizer was trained on; ``holdout`` (optional) holds real rows
of the same population that it never saw. Fidelity compares synthetic with real; machine-
learning efficacy needs a ``target`` (one column or several) and the holdout; the privacy
attacks need the holdout as their "not a member" reference; the rules section (functional
dependencies, zero-support combinations, inequalities of the real table) needs neither.
Sections and metrics that cannot run (the inputs above missing, too few rows, no column that
tells rows apart) are ``None`` and ``notes`` says why. The synthetic and holdout tables are
first put in the real table's column types (see ``conform``).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pandas as pd

from synthvae.reports import (conform, coverage, detection, disclosure, distributions,
                              efficacy, fidelity, inputs, membership, privacy, rules)
from synthvae.reports.encoding import (Embedding, TreeEncoding, canonical_frame, empty_columns,
                                       numeric_columns, row_hashes, without_rows)
from synthvae.reports.report import Report
from synthvae.reports.summary import headline
from synthvae.schema import ColumnKind, Schema

# Every section timed, in order; a section that does not run keeps None.
SECTIONS = ("encoding", "quality", "diagnostic", "logistic_detection", "gb_detection",
            "ml_efficacy", "coverage", "exact_copies", "dcr", "membership_inference",
            "attribute_inference", "rules", "distributions")


def evaluate(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
             target: str | list[str] | None = None, schema: Schema | dict | str | None = None,
             key_columns: list[str] | str | None = None,
             sensitive_columns: list[str] | str | None = None,
             model_path: str | Path | None = None, *, seed: int = 0) -> Report:
    """Score ``synthetic`` against ``real`` (and ``holdout``); see docs/reports.md.

    ``target`` names the column ML efficacy predicts, or a list of them: every one is scored
    (``fidelity["ml_efficacy_by_target"]``) and the first is the headline."""
    frames, schema = _checked_frames(real, synthetic, holdout, schema)
    targets = inputs.check_targets(target, schema)
    keys = inputs.column_list(key_columns, "key_columns", schema)
    sensitive = inputs.column_list(sensitive_columns, "sensitive_columns", schema)
    inputs.check_attack_columns(keys, sensitive)
    inputs.check_seed(seed)
    # a bad model file, or one fitted on other columns, fails before the work
    model = disclosure.model_record(model_path, schema.names)
    dp, exposure = disclosure.differential_privacy(model), disclosure.value_exposure(model)
    start = time.perf_counter()
    run = _Run(frames, schema, seed)
    fidelity_part = _fidelity(run, targets)
    privacy_part = _privacy(run, keys, sensitive, dp)
    privacy_part["value_exposure"] = exposure
    privacy_part["personal_data"] = disclosure.personal_data(run.frames["real"],
                                                             run.frames["synthetic"], schema)
    rules_part = run.timed("rules", rules.rules_section, run.canonical["real"],
                           run.canonical["synthetic"], schema)
    shares = run.timed("distributions", distributions.column_distributions,
                       run.canonical["real"], run.canonical["synthetic"], schema)
    run.timing["total_seconds"] = round(time.perf_counter() - start, 3)
    return Report(data=_data(run.frames, schema, targets, keys, sensitive, seed),
                  summary=headline(fidelity_part, privacy_part, rules_part),
                  fidelity=fidelity_part, privacy=privacy_part, rules=rules_part,
                  distributions=shares, notes=run.notes, timing=run.timing,
                  versions=_versions())


def _data(frames, schema, targets, keys, sensitive, seed) -> dict:
    target = targets[0] if targets else None
    return {"real_rows": len(frames["real"]), "synthetic_rows": len(frames["synthetic"]),
            "holdout_rows": len(frames["holdout"]) if "holdout" in frames else None,
            "columns": [{"name": c.name, "kind": c.kind.value} for c in schema.columns],
            "target": target, "task": efficacy.task_of(schema, target) if target else None,
            "targets": targets or None, "key_columns": keys or None,
            "sensitive_columns": sensitive or None, "seed": seed}


def _checked_frames(real, synthetic, holdout, schema) -> tuple[dict, Schema]:
    real = inputs.check_frame(real, "real")
    schema = inputs.resolve_schema(real, schema)
    given = {"real": real, "synthetic": synthetic, "holdout": holdout}
    frames = {name: inputs.align_columns(inputs.check_frame(df, name), list(real.columns), name)
              for name, df in given.items() if df is not None}
    return conform.conform_tables(frames, schema), schema


class _Run:
    """The inputs in every form the sections need, encoded once, plus timings and notes."""

    def __init__(self, frames: dict, schema: Schema, seed: int):
        self.frames, self.schema, self.seed = frames, schema, seed
        self.metadata = schema.to_sdmetrics_metadata()
        self.timing = {f"{name}_seconds": None for name in (*SECTIONS, "total")}
        self.notes = []
        self.canonical, self.embedded = self.timed("encoding", self._encode)
        self.comparable = self._has_comparable_columns()
        self.has_holdout = "holdout" in frames
        # the attacks and the train/holdout DCR share need enough unseen rows to compare with
        self.attack_holdout = (self.embedded["holdout"] if self.has_holdout and len(
            self.embedded["holdout"]) >= membership.MIN_HOLDOUT_ROWS else None)

    def _encode(self) -> tuple[dict, dict]:
        """Canonical frames (training rows only in "real"), and their embedding."""
        canonical = {n: canonical_frame(df, self.schema) for n, df in self.frames.items()}
        if "holdout" in canonical:
            self._drop_holdout_rows(canonical)
        embedding = Embedding.fit(canonical["real"], self.schema)
        return canonical, {n: embedding.transform(df) for n, df in canonical.items()}

    def _drop_holdout_rows(self, canonical: dict) -> None:
        """``synthvae fit --holdout-fraction`` leaves the holdout rows in the input file; when
        every holdout row is in ``real``, they are taken out so "real" is the training set."""
        keep = without_rows(row_hashes(canonical["real"]), row_hashes(canonical["holdout"]))
        if keep is None or keep.all() or not keep.any():
            return
        self.notes.append(f"All {len(keep) - keep.sum():,} holdout rows were also in the real "
                          f"table (synthvae fit --holdout-fraction keeps them in its input "
                          f"file); they were removed from it, leaving {keep.sum():,} "
                          f"training rows.")
        self.frames["real"] = self.frames["real"][keep].reset_index(drop=True)
        canonical["real"] = canonical["real"][keep].reset_index(drop=True)

    def _has_comparable_columns(self) -> bool:
        """Whether some column tells rows apart; noted when none does (every row would then
        be an exact copy at distance 0 of every other)."""
        empty = empty_columns(self.canonical["real"])
        if len(self.canonical["real"].columns) > len(empty):
            return True
        ids = [c.name for c in self.schema.columns if c.kind is ColumnKind.IDENTIFIER]
        why = [f"identifier columns {ids} are regenerated, so they are left out"] if ids else []
        why += [f"columns {empty} are empty in the real table"] if empty else []
        self.notes.append(f"Detection, coverage, exact copies, DCR and membership inference "
                          f"were not computed: no column can tell rows apart "
                          f"({'; '.join(why)}).")
        return False

    def can_run(self, reason: str | None) -> bool:
        """False, with ``reason`` noted, when a section cannot run on these tables."""
        if reason is not None:
            self.notes.append(reason)
        return reason is None

    def timed(self, name: str, function, *args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            self.timing[f"{name}_seconds"] = round(time.perf_counter() - start, 3)


def _fidelity(run: _Run, targets: list[str]) -> dict:
    real, synthetic = run.frames["real"], run.frames["synthetic"]
    _note_empty_columns(run)
    out = run.timed("quality", fidelity.quality, real, synthetic, run.metadata, run.seed)
    sampled = out["column_pair_trends"]["sampled_columns"]
    if sampled is not None:
        pairs = len(sampled) * (len(sampled) - 1) // 2
        run.notes.append(f"Column Pair Trends are over the {pairs:,} pairs of {len(sampled)} "
                         f"columns drawn at random (seed {run.seed}), not over every pair of "
                         f"this wide table: their mean estimates the whole's (docs/reports.md).")
    out["diagnostic"] = run.timed("diagnostic", fidelity.diagnostic, real, synthetic,
                                  run.metadata)
    out["detection"] = _detection(run)
    by_target = _ml_efficacy(run, targets)
    out["ml_efficacy"] = by_target[0] if by_target else None  # the first target: the headline
    out["ml_efficacy_by_target"] = by_target
    out["coverage"] = _coverage(run)
    return out


def _note_empty_columns(run: _Run) -> None:
    """Say how the metrics treat a synthetic column left empty (a failed synthesizer)."""
    numbers = {name for name, column in run.metadata["columns"].items()
               if column["sdtype"] in ("numerical", "datetime")}
    for name in fidelity.empty_synthetic_columns(run.frames["real"], run.frames["synthetic"]):
        pairs = ("leaves out its pairs with other numbers (no correlation to compare) and "
                 "compares its missing cells in the others" if name in numbers else
                 "compares its missing cells in its pairs")
        run.notes.append(f"Column {name!r} has no value in the synthetic table although the "
                         f"real table has values: Column Shapes scores it 0 and Column Pair "
                         f"Trends {pairs}.")


def _detection(run: _Run) -> dict:
    """Both classifiers, or both None (noted) when the tables are too small to cross-validate
    or hold no column to tell rows apart by."""
    real, synthetic = run.frames["real"], run.frames["synthetic"]
    if not (run.comparable and run.can_run(detection.rows_reason(len(real), len(synthetic)))):
        return {"logistic": None, "gradient_boosting": None}
    return {"logistic": _logistic(run),
            "gradient_boosting": run.timed("gb_detection", _boosting, run)}


def _logistic(run: _Run) -> dict | None:
    """sdmetrics' score; None, noted, where it has no feature or says it cannot fit."""
    from sdmetrics.errors import IncomputableMetricError

    real, synthetic = run.frames["real"], run.frames["synthetic"]
    if not run.can_run(detection.logistic_reason(real, run.metadata)):
        return None
    try:
        return run.timed("logistic_detection", detection.logistic_detection, real, synthetic,
                         run.metadata, run.seed)
    except IncomputableMetricError as exc:
        run.notes.append(f"LogisticDetection was not computed: {str(exc).splitlines()[0]}")
        return None


def _coverage(run: _Run) -> dict | None:
    real = run.embedded["real"]
    if not (run.comparable and run.can_run(coverage.rows_reason(len(real)))):
        return None
    return run.timed("coverage", coverage.alpha_precision_beta_recall, real,
                     run.embedded["synthetic"], run.seed)


def _boosting(run: _Run) -> dict:
    encoding = TreeEncoding.fit(run.canonical["real"], run.schema)
    return detection.boosting_detection(encoding.transform(run.canonical["real"]),
                                        encoding.transform(run.canonical["synthetic"]),
                                        encoding.categorical_mask, run.seed)


def _ml_efficacy(run: _Run, targets: list[str]) -> list[dict] | None:
    """One result per target column, in the order given; None when it cannot run."""
    if not targets:
        run.notes.append("ML efficacy was not computed: it needs a target column.")
        return None
    if not run.has_holdout:
        run.notes.append("ML efficacy was not computed: it needs holdout rows to test on "
                         "(give them, or fit with a holdout fraction).")
        return None
    return run.timed("ml_efficacy", lambda: [_target_efficacy(run, name) for name in targets])


def _target_efficacy(run: _Run, target: str) -> dict | None:
    """One target's scores, or None (noted) when the tables cannot support it: a target that
    cannot be scored leaves the other targets and sections computed."""
    if not run.can_run(efficacy.kind_reason(run.schema, target)
                       or efficacy.features_reason(run.schema, target)
                       or efficacy.rows_reason(run.canonical, target)):
        return None
    run.notes.extend(efficacy.class_notes(run.canonical, run.schema, target))
    return efficacy.ml_efficacy(run.canonical, run.schema, target, run.seed)


def _privacy(run: _Run, keys: list[str], sensitive: list[str], dp: dict) -> dict:
    return {
        "exact_copies": _exact_copies(run),
        "dcr": run.timed("dcr", privacy.distance_to_closest_record, run.embedded["real"],
                         run.embedded["synthetic"], run.attack_holdout, run.seed)
        if run.comparable else None,
        "membership_inference": _membership(run),
        "attribute_inference": _attribute(run, keys, sensitive),
        "differential_privacy": dp,
        "statement": disclosure.DP_STATEMENT,
    }


def _exact_copies(run: _Run) -> dict | None:
    if not run.comparable:
        return None
    hashes = {n: row_hashes(df) for n, df in run.canonical.items()}
    return run.timed("exact_copies", privacy.exact_copies, hashes["real"], hashes["synthetic"],
                     hashes.get("holdout"))


def _membership(run: _Run) -> dict | None:
    if not run.comparable:
        return None
    if run.attack_holdout is None:
        run.notes.append(f"Membership inference and the DCR baseline and train/holdout share "
                         f"were not computed: they need at least {membership.MIN_HOLDOUT_ROWS} "
                         f"holdout rows the model never saw (synthvae fit --holdout-fraction "
                         f"0.2).")
        return None
    return run.timed("membership_inference", membership.membership_inference,
                     run.embedded["real"], run.embedded["synthetic"], run.attack_holdout,
                     run.seed)


def _attribute(run: _Run, keys: list[str], sensitive: list[str]) -> dict | None:
    if not keys:
        run.notes.append("Attribute inference was not computed: give key_columns and "
                         "sensitive_columns to run it.")
        return None
    return run.timed("attribute_inference", disclosure.attribute_inference,
                     run.canonical["real"], run.canonical["synthetic"], keys, sensitive,
                     numeric_columns(run.schema), run.seed)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("synthvae", "sdmetrics", "scikit-learn", "torch", "pandas"):
        with contextlib.suppress(PackageNotFoundError):
            out[package] = version(package)
    return out
