"""Sampling from a saved model as the CLI does it: nothing loaded that only fitting needs."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

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


def test_a_batch_holds_at_most_the_cell_budget_in_whole_chunks():
    from synthvae.table_sampling import (SAMPLE_BATCH_ALIGN, SAMPLE_BATCH_CELLS,
                                         SAMPLE_BATCH_ROWS, sample_batch_rows)

    assert sample_batch_rows(452) == sample_batch_rows(2048) == SAMPLE_BATCH_ROWS  # adult
    assert sample_batch_rows(2049) == 61_440  # the first width that draws fewer rows
    assert sample_batch_rows(31_697) == 4_096  # 10,000 x 3,000 mixture columns
    assert sample_batch_rows(10**7) == SAMPLE_BATCH_ALIGN  # never fewer than one chunk
    for width in (2049, 5272, 31_697, 100_000):
        rows = sample_batch_rows(width)
        assert rows % SAMPLE_BATCH_ALIGN == 0
        assert rows * width <= SAMPLE_BATCH_CELLS or rows == SAMPLE_BATCH_ALIGN


def test_a_wide_model_draws_in_smaller_batches_and_its_chunks_make_one_sample(monkeypatch):
    # a 65,536-row batch of a 31,697-column encoding was 8.3 GB; the budget is scaled down
    # here so that a small model is "wide"
    from synthvae import table_sampling

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(list("abcdef"), 300)})
    synth = Synthesizer(epochs=1, seed=0, n_threads=1, verbose=False).fit(df)
    width = synth.layout_.width
    monkeypatch.setattr(table_sampling, "SAMPLE_BATCH_CELLS", 4_096 * 2 * width)
    drawn = []
    sample = synth.generator_.sample
    monkeypatch.setattr(synth.generator_, "sample",
                        lambda n, generator: drawn.append(n) or sample(n, generator))
    whole = synth.sample(20_000, seed=3)
    assert drawn == [8_192, 8_192, 3_616]
    chunks = pd.concat(synth.iter_sample(20_000, chunk_size=7_000, seed=3), ignore_index=True)
    assert chunks.equals(whole)


def test_factorized_draws_are_written_column_major_as_one_unchunked_draw_gives_them():
    import torch

    from synthvae.sampling import CPU_CHUNK_ROWS, decode_matrix, span_logits

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.lognormal(size=400), "k": rng.choice(list("abcde"), 400),
                       "y": rng.normal(size=400)})
    synth = Synthesizer(epochs=2, seed=0, n_threads=1, verbose=False,
                        decoder="factorized").fit(df)
    model, layout = synth.generator_.model, synth.layout_
    n = 2 * CPU_CHUNK_ROWS + 5
    z = torch.randn((n, model.config.latent_dim), generator=torch.Generator().manual_seed(0))
    out = decode_matrix(model, layout, z, torch.Generator().manual_seed(7))
    assert out.stride() == (1, n)  # each span a contiguous block for the inverse transform
    generator = torch.Generator().manual_seed(7)  # the same draws, in the same order
    noise = torch.randn((n, layout.n_scalars), generator=generator)
    uniform = torch.rand((n, layout.n_groups), generator=generator)
    with torch.no_grad():
        scalars, slots = span_logits(model, layout, z, None, None)
        sigma = model.decoder.sigma(z.new_ones((1, 1)))
        expected = torch.zeros((n, layout.width))
        expected[:, layout.scalar_index] = (torch.tanh(scalars) + noise * sigma).clamp(-1, 1)
        expected.scatter_(1, layout.slot_index[layout.group_sample(slots, uniform)], 1.0)
    slot_columns = layout.slot_index
    assert torch.equal(out[:, slot_columns], expected[:, slot_columns])
    assert torch.allclose(out[:, layout.scalar_index], expected[:, layout.scalar_index],
                          atol=1e-6)
    # the GPU's way, written in place into the column-major matrix: the same values
    import synthvae.sampling as sampling

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sampling, "writes_row_major", lambda device: False)
        in_place = decode_matrix(model, layout, z, torch.Generator().manual_seed(7))
    assert torch.equal(in_place, out) and in_place.stride() == (1, n)
