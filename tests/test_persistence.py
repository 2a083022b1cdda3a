"""Saved models: JSON + safetensors, identical samples after a round trip, no pickle."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import save_file
import torch

from conftest import rewrite_model_file
from synthvae import ModelFileError, Synthesizer

ROOT = Path(__file__).resolve().parents[1]


def test_save_load_gives_identical_samples(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    loaded = Synthesizer.load(path)
    pd.testing.assert_frame_equal(loaded.sample(1000, seed=5), fitted_adult.sample(1000, seed=5))
    assert loaded.schema_ == fitted_adult.schema_
    assert loaded.history_ == fitted_adult.history_


def test_save_load_with_normal_prior(adult_small, tmp_path):
    synth = Synthesizer(epochs=1, prior="normal", verbose=False).fit(adult_small)
    loaded = Synthesizer.load(synth.save(tmp_path / "n.safetensors"))
    pd.testing.assert_frame_equal(loaded.sample(100, seed=1), synth.sample(100, seed=1))


def test_truncated_file_is_refused(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        Synthesizer.load(path)


def test_foreign_files_are_refused(tmp_path):
    csv = tmp_path / "x.safetensors"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(ModelFileError, match="not a readable synthvae model"):
        Synthesizer.load(csv)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match="not a synthvae model"):
        Synthesizer.load(other)
    with pytest.raises(ModelFileError, match="not found"):
        Synthesizer.load(tmp_path / "missing.safetensors")


def test_newer_format_version_is_refused(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    rewrite_model_file(path, lambda meta, t: meta.update(format_version="99"))
    with pytest.raises(ModelFileError, match="newer than this synthvae reads"):
        Synthesizer.load(path)


def test_tampered_shapes_and_state_are_refused(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    key = "model.decoder.out.weight"
    rewrite_model_file(path, lambda meta, t: t.update({key: t[key][:, :3].contiguous()}))
    with pytest.raises(ModelFileError, match="decoder.out.weight"):
        Synthesizer.load(path)
    path = fitted_adult.save(tmp_path / "m2.safetensors")

    def break_state(meta, tensors):
        state = json.loads(meta["state"])
        state["transformer"]["columns"] = state["transformer"]["columns"][:2]
        meta["state"] = json.dumps(state)

    rewrite_model_file(path, break_state)
    with pytest.raises(ModelFileError, match="invalid model state"):
        Synthesizer.load(path)


def test_saving_is_atomic_and_leaves_no_temporary_files(fitted_adult, tmp_path):
    fitted_adult.save(tmp_path / "m.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_package_has_no_pickle_based_load_path():
    pattern = re.compile(r"\bimport pickle\b|cloudpickle|joblib|torch\.load|pickle\.load|"
                         r"weights_only=False|np\.load\(.*allow_pickle=True")
    offenders = [str(p) for folder in ("synthvae", "cli") for p in (ROOT / folder).rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []


def test_a_bad_log_scale_in_the_file_is_refused_on_load(tmp_path):
    import numpy as np

    payments = np.random.default_rng(0).lognormal(5, 2, 600).round(2)  # skewed: log-scaled
    df = pd.DataFrame({"payment": payments, "x": pd.Series(range(600)) / 600})
    path = Synthesizer(epochs=1, verbose=False).fit(df).save(tmp_path / "m.safetensors")

    def break_scale(meta, tensors):
        state = json.loads(meta["state"])
        assert state["transformer"]["columns"][0]["log_scale"] > 0
        state["transformer"]["columns"][0]["log_scale"] = -1.0
        meta["state"] = json.dumps(state)

    rewrite_model_file(path, break_scale)
    with pytest.raises(ModelFileError, match="log_scale"):
        Synthesizer.load(path)


def test_calibration_offsets_of_the_wrong_width_are_refused_on_load(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    key = "sampler.logit_offsets"
    rewrite_model_file(path, lambda meta, t: t.update({key: t[key][:5].contiguous()}))
    with pytest.raises(ModelFileError, match="logit offsets have shape"):
        Synthesizer.load(path)


def test_a_file_saved_before_a_transform_parameter_loads_with_what_it_was_fitted_with(
        fitted_adult, tmp_path):
    import json

    path = fitted_adult.save(tmp_path / "m.safetensors")

    def as_before(meta, tensors):
        state = json.loads(meta["state"])
        for key in ("discrete_threshold", "skew_threshold", "min_mode_rows", "unseen_pairs",
                    "tail_share"):
            del state["params"][key]
        meta["state"] = json.dumps(state)
        tensors.pop("sampler.excluded_pairs", None)  # nor sampled with excluded pairs

    rewrite_model_file(path, as_before)
    loaded = Synthesizer.load(path)
    params = loaded.get_params()
    assert (params["discrete_threshold"], params["skew_threshold"],
            params["min_mode_rows"], params["unseen_pairs"], params["tail_share"]) == \
        (0, None, 0, 0, 0)
    assert loaded.generator_.excluded is None
    assert len(loaded.sample(10, seed=0)) == 10
    current = Synthesizer.load(fitted_adult.save(tmp_path / "now.safetensors"))
    assert current.get_params()["min_mode_rows"] == fitted_adult.min_mode_rows == 100


def flip_one_weight_byte(path: Path) -> None:
    """Change one byte in the middle of the file's tensor data, as a disk or a transfer
    might (the header, and so its JSON, stays as written)."""
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header + (len(data) - header) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_file_damaged_after_saving_is_refused_by_its_checksum(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    Synthesizer.load(path)  # as written, it loads
    flip_one_weight_byte(path)
    with pytest.raises(ModelFileError, match="damaged: its model file does not match the checksum"):
        Synthesizer.load(path)


def test_a_value_changed_in_the_header_is_refused_by_the_checksum(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    at = data.index(b"Female", 0, header)  # a category of 'sex', in the JSON state
    data[at:at + 6] = b"Femalf"  # as a flipped bit would: the JSON stays valid
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged: its model file does not match"):
        Synthesizer.load(path)


def test_non_finite_weights_are_refused_on_load(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    key = "model.decoder.out.bias"
    # re-signed by the rewriter: the weight check itself refuses it
    rewrite_model_file(path, lambda meta, t: t.update({key: torch.full_like(t[key], 1e-3)
                                                       .index_fill(0, torch.tensor([3]),
                                                                   float("nan"))}))
    with pytest.raises(ModelFileError, match="'decoder.out.bias' holds non-finite values"):
        Synthesizer.load(path)


def test_a_prior_with_a_zero_spread_is_refused_on_load(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    rewrite_model_file(path, lambda meta, t: t["prior.stds"].zero_())
    with pytest.raises(ModelFileError, match="latent prior holds non-finite values"):
        Synthesizer.load(path)


def test_a_file_written_before_checksums_still_loads(fitted_adult, tmp_path):
    path = fitted_adult.save(tmp_path / "m.safetensors")
    rewrite_model_file(path, lambda meta, t: meta.pop("checksum_sha256"))
    pd.testing.assert_frame_equal(Synthesizer.load(path).sample(50, seed=2),
                                  fitted_adult.sample(50, seed=2))


# ----------------------------------------------------------------------------- checkpoints

CHECKPOINTED = dict(epochs=2, verbose=False, n_threads=1)


@pytest.fixture(scope="module")
def checkpointed(adult_small, tmp_path_factory):
    """(table, checkpoint) of a fit that wrote a checkpoint after each epoch."""
    table = adult_small.head(200)[["age", "sex", "hours-per-week", "income"]]
    checkpoint = tmp_path_factory.mktemp("ckpt") / "fit.ckpt"
    Synthesizer(**CHECKPOINTED).fit(table, checkpoint=checkpoint, checkpoint_every=1)
    return table, checkpoint


def _edited_state(edit):
    def rewrite(meta, tensors):
        state = json.loads(meta["state"])
        edit(state)
        meta["state"] = json.dumps(state)
    return rewrite


def _without_optimizer_state(meta, tensors):
    for name in [n for n in tensors if n.startswith("optim.")]:
        del tensors[name]


CHECKPOINT_EDITS = {  # edit(metadata, tensors), what the refusal says
    "optimizer state removed": (_without_optimizer_state,
                                r"lacks tensors it lists: \['optim\.0\."),
    "random state removed": (lambda meta, t: t.pop("rng"), r"lacks tensors it lists: \['rng'\]"),
    "fingerprint removed": (_edited_state(lambda s: s.pop("fingerprint")),
                            r"lacks the parts \['fingerprint'\]"),
    "history removed": (_edited_state(lambda s: s.pop("history")),
                        r"lacks the parts \['history'\]"),
    "epoch not a number": (_edited_state(lambda s: s.update(epoch="two")),
                           "invalid 'epoch': expected a whole number, found 'two'"),
    "epoch past the fit's epochs": (_edited_state(lambda s: s.update(epoch=9)),
                                    r"invalid 'epoch' \(9\): expected 1 to the fit's 2"),
    "format version not a number": (lambda meta, t: meta.update(format_version="x"),
                                    "not a synthvae checkpoint of a supported version"),
}


@pytest.mark.parametrize("edit", CHECKPOINT_EDITS)
def test_an_edited_and_resigned_checkpoint_is_refused_naming_the_part(checkpointed, tmp_path,
                                                                      edit):
    """A checkpoint rewritten by a tool (its checksum signed again) used to give a raw
    KeyError or ValueError, and one without its optimizer state resumed with a fresh Adam:
    not the uninterrupted fit's result."""
    import shutil

    from conftest import rewrite_model_file

    table, original = checkpointed
    checkpoint = shutil.copy(original, tmp_path / "fit.ckpt")
    change, message = CHECKPOINT_EDITS[edit]
    rewrite_model_file(checkpoint, change)
    with pytest.raises(ModelFileError, match=message):
        Synthesizer(**CHECKPOINTED).fit(table, checkpoint=checkpoint, resume=True)
