"""The benchmark harness's quick mode runs end to end (issue 4: CI runs it)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import DATASETS, ROOT


@pytest.mark.skipif(not DATASETS.exists(), reason="shared datasets not available")
def test_quick_benchmark_runs_both_models_side_by_side(tmp_path):
    pytest.importorskip("ctgan", reason="install the 'bench' extra to run the harness")
    env = dict(os.environ, SYNTHVAE_BENCH_RESULTS=str(tmp_path))
    subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--max-wait", "0"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    results = json.loads((tmp_path / "run-quick.json").read_text())
    text = json.dumps(results)
    assert "synthvae" in text and "ctgan" in text
    assert (tmp_path / "run-quick.md").read_text().count("|") > 20


def test_ablation_summary_averages_the_seeds_of_each_variant():
    from benchmarks.ablation import summary

    run = {"dataset": "adult", "variant": "linear", "fit_s": 100.0, "load_at_start": 1.0,
           "active_units": 40}
    table = summary([{"machine": {}},
                     dict(run, seed=0, shapes_error=0.02, trends_error=0.06),
                     dict(run, seed=1, shapes_error=0.03, trends_error=0.08, active_units=50)])
    row = table.splitlines()[-1]
    assert row.startswith("| adult | linear | 2 | 2.50 % | 7.00 % | 2.00/6.00, 3.00/8.00 | 45 |")
