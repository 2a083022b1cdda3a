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
