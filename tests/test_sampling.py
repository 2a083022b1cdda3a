"""Sampling from a saved model as the CLI does it: nothing loaded that only fitting needs."""

import subprocess
import sys

import numpy as np
import pandas as pd

from conftest import ROOT
from synthvae import Synthesizer


def test_sampling_a_saved_model_does_not_import_scikit_learn(tmp_path):
    # scikit-learn (~300 modules) is needed to fit the latent mixture prior, not to sample
    # from it: `synthvae sample` starts faster without it.
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(list("abc"), 200)})
    path = tmp_path / "m.safetensors"
    Synthesizer(epochs=1, seed=0, verbose=False).fit(df).save(path)
    code = ("import sys; import cli.main; from synthvae import Synthesizer; "
            f"Synthesizer.load({str(path)!r}).sample(100); "
            "print(sorted(m for m in sys.modules if m.startswith('sklearn'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout
