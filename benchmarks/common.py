"""Shared helpers of the benchmark scripts: data loading, timing, machine description."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# The shared tables; SYNTHVAE_DATASETS names another copy (the GPU machine gets one carried).
DATASETS = Path(os.environ.get("SYNTHVAE_DATASETS", ROOT.parent / "shared" / "datasets"))
RESULTS = Path(os.environ.get("SYNTHVAE_BENCH_RESULTS", ROOT / "benchmarks" / "results"))


def load(name: str) -> pd.DataFrame:
    path = DATASETS / f"{name}.csv.gz"
    if not path.exists():
        raise SystemExit(f"{path} not found: the benchmarks need ../shared/datasets")
    return pd.read_csv(path, low_memory=False)


def timed(fn, *args, **kwargs):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def median_seconds(fn, repeats: int = 3) -> tuple[float, list[float]]:
    runs = [timed(fn)[1] for _ in range(repeats)]
    return statistics.median(runs), runs


def machine() -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "cpu_model": _cpu_model(), "memory_gb": _memory_gb(), "gpu": gpu,
            "python": platform.python_version(), "torch": torch.__version__,
            "pandas": pd.__version__}


def _cpu_model() -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name")), None)


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError):
        return None


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict) -> dict:
    """sdmetrics QualityReport with every column pair counted (both thresholds at 0), the
    trends of the *strong* pairs only (sdmetrics' default thresholds: |real correlation| >=
    0.5 or real association >= 0.3), and the all-pairs trends with numbers binned on the
    real data's edges (see :func:`synthvae.reports.fidelity.pair_trends_real_bins`)."""
    import warnings

    from synthvae.reports.fidelity import pair_trends_real_bins

    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.real_correlation_threshold = 0
    report.real_association_threshold = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, metadata, verbose=False)
    scores = report.get_properties().set_index("Property")["Score"]
    return {"column_shapes": round(float(scores["Column Shapes"]), 4),
            "column_pair_trends": round(float(scores["Column Pair Trends"]), 4),
            "column_pair_trends_strong": strong_pair_trends(real, synthetic, metadata),
            "column_pair_trends_real_bins": round(pair_trends_real_bins(real, synthetic,
                                                                        metadata), 4)}


def strong_pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict
                       ) -> float | None:
    """Mean trend score of the pairs that meet sdmetrics' default thresholds (|real
    correlation| >= 0.5 or real association >= 0.3): a QualityReport at its defaults, which
    computes the real association only then. None when no pair meets them."""
    import warnings

    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, metadata, verbose=False)
    return mean_of_strong_pairs(report.get_details("Column Pair Trends"))


def mean_of_strong_pairs(details: pd.DataFrame) -> float | None:
    """Mean ``Score`` of the rows whose ``Meets Threshold?`` is true (None when none is; an
    empty flag, which sdmetrics gives a pair it could not score, counts as not met)."""
    meets = details["Meets Threshold?"].astype("boolean").fillna(False).astype(bool)
    scores = details.loc[meets, "Score"].dropna()
    return round(float(scores.mean()), 4) if len(scores) else None


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def dcr_share(data, synthetic: pd.DataFrame, schema, seed: int) -> float:
    """DCR train share of ``synthetic`` against ``data.train`` and ``data.test`` (0.5 = no
    copying), computed as ``synthvae.reports.evaluate`` does, without the other sections."""
    from synthvae.reports.encoding import Embedding, canonical_frame
    from synthvae.reports.privacy import distance_to_closest_record

    frames = {name: canonical_frame(df, schema)
              for name, df in (("train", data.train), ("test", data.test),
                               ("synthetic", synthetic))}
    embedding = Embedding.fit(frames["train"], schema)
    embedded = {name: embedding.transform(df) for name, df in frames.items()}
    return distance_to_closest_record(embedded["train"], embedded["synthetic"],
                                      embedded["test"], seed)["train_share"]


def ml_efficacy_scores(data, synthetic: pd.DataFrame, schema, seed: int) -> dict:
    """HistGradientBoosting trained on ``synthetic`` and on ``data.train``, both scored on
    ``data.test`` (ROC AUC for a categorical target, R² for a numeric one), as
    ``synthvae.reports.evaluate`` does: {"metric", "synthetic", "real"}."""
    from synthvae.reports.efficacy import ml_efficacy
    from synthvae.reports.encoding import canonical_frame

    tables = {name: canonical_frame(df, schema) for name, df in
              (("real", data.train), ("synthetic", synthetic), ("holdout", data.test))}
    found = ml_efficacy(tables, schema, data.target, seed)
    metric = found["primary_metric"]
    return {"metric": metric, "synthetic": round(found["synthetic"][metric], 4),
            "real": round(found["real"][metric], 4)}


def exact_copy_count(data, synthetic: pd.DataFrame, schema) -> int:
    """Synthetic rows equal to a training row, by the report's row hashes."""
    from synthvae.reports.encoding import canonical_frame, row_hashes

    train, fake = (row_hashes(canonical_frame(df, schema)) for df in (data.train, synthetic))
    return int(np.isin(fake, train).sum())


@contextmanager
def patched(owner, name: str, replacement, when: bool = True):
    """With ``when``, ``owner.name`` is ``replacement`` inside the block (this process only;
    the original is restored on exit, also after an error)."""
    original = getattr(owner, name)
    if when:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


def gap_modes_enabled(enabled: bool):
    """With ``enabled`` False, DP fits in this block use the released modes alone, as before
    ``synthvae.privacy._with_gap_modes``."""
    from synthvae import privacy

    return patched(privacy, "_with_gap_modes", lambda modes, edges: modes, not enabled)


def adult_one_epoch():
    """A Synthesizer fitted one epoch on adult's training split, one torch thread: what the
    sampling A/B scripts draw from (sampling cost depends on the encoded layout, not on the
    training length)."""
    import warnings

    import torch

    from benchmarks.data import load_dataset
    from synthvae import Synthesizer, detect_schema

    torch.set_num_threads(1)
    data = load_dataset("adult")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-epoch fit warns of posterior collapse
        return Synthesizer(epochs=1, seed=0, n_threads=1, verbose=False,
                           schema=detect_schema(data.train)).fit(data.train)


def sampling_ab_arguments(script: str, name: str, argv=None):
    """The sampling A/B scripts' arguments: ``--rows`` (100,000), ``--repeats`` (7) and
    ``--name`` of the results file (``name``), for ``python -m benchmarks.<script>``."""
    import argparse

    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{script}")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--name", default=name)
    return p.parse_args(argv)


def alternating_seconds(calls: dict, repeats: int) -> dict:
    """Seconds of each of ``calls`` (label -> a function of no argument), the labels
    alternating, ``repeats`` rounds, so that load drift hits all alike."""
    seconds = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[label].append(round(time.perf_counter() - start, 3))
    return seconds


def alternating_sample_seconds(synth, rows: int, repeats: int, blocks: dict) -> dict:
    """:func:`alternating_seconds` of ``synth.sample(rows, seed=1)`` inside each of
    ``blocks`` (label -> a function returning a context manager)."""
    def sampled_in(block):
        def call():
            with block():
                synth.sample(rows, seed=1)
        return call

    return alternating_seconds({label: sampled_in(block) for label, block in blocks.items()},
                               repeats)
