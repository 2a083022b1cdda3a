"""Saved models: one safetensors file whose header holds the JSON state. No pickle.

Layout of the file: the generator's tensors (``model.*``, ``prior.*``, the calibration's
offsets; :mod:`synthvae.generator`) and the metadata keys ``format = "synthvae"``,
``format_version``, ``state`` (JSON: schema, transformer state, configs, versions,
training summary, loss history) and ``checksum_sha256`` (over the other entries and the
tensors, so a file changed or damaged after it was written is refused; files written
before it load without). Loading parses only JSON and raw tensors, so a model file can never execute
code; every part is validated before use.

This module reads the estimator's fitted attributes and never imports the estimator's class:
:func:`load_synthesizer` builds one through the ``factory`` it is given
(``Synthesizer.load`` passes its class).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from synthvae.devices import resolve_device
from synthvae.diagnostics import PRIVATE_REASON, check_diagnostics
from synthvae.constraints.layer import ConstraintLayer
from synthvae import json_values
from synthvae.errors import ConfigError, DataError, ModelFileError, SynthvaeError
from synthvae.params import check_seed
from synthvae.generator import VAEGenerator
from synthvae.io import atomic_path
from synthvae.layout import SpanLayout
from synthvae.model import ModelConfig
from synthvae.schema import Schema
from synthvae.training import TrainConfig
from synthvae.transforms.table import TableTransformer
from synthvae.version import __version__

FORMAT_NAME = "synthvae"
FORMAT_VERSION = 1
CHECKSUM_KEY = "checksum_sha256"


def fitted_params(synth) -> dict:
    """The parameters the model was fitted with (``set_params`` since changes the next fit,
    not what the file says of this one)."""
    return dict(synth.get_params(), **getattr(synth, "fitted_params_", {}))


def save_synthesizer(synth, path: Path) -> Path:
    generator = synth.generator_.to_dict()
    state = {
        "synthvae_version": __version__,
        "torch_version": torch.__version__,
        "params": {k: v for k, v in fitted_params(synth).items()  # n_threads: the machine's
                   if k not in ("schema", "constraints", "n_threads")},
        "schema": synth.schema_.to_dict(),
        "constraints": synth.constraints_.get_state(),
        "transformer": synth.transformer_.get_state(),
        "model_config": generator["model_config"],
        "train_config": synth.train_config_.to_dict(),
        "training_summary": synth.training_summary_,
        "history": synth.history_,
        "monitoring": getattr(synth, "monitoring_", None),
        "diagnostics": getattr(synth, "diagnostics_", None),
        "extra": getattr(synth, "extra_state_", {}),
        "prior": generator["prior"],
        "privacy": getattr(synth, "privacy_", None),
    }
    tensors = synth.generator_.tensors()
    metadata = signed({"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
                       "state": state_json(state, synth.transformer_.schema.names)}, tensors)
    with atomic_path(path, private=True) as tmp:  # it holds real values
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def signed(metadata: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """``metadata`` with its checksum (CHECKSUM_KEY) over itself and ``tensors``."""
    return {**metadata, CHECKSUM_KEY: file_checksum(metadata, tensors)}


def file_checksum(metadata: dict, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the header's entries (but the checksum) and the tensors' names, dtypes,
    shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(set(metadata) - {CHECKSUM_KEY}):
        digest.update(f"{key}={metadata[key]}\n".encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_checksum(metadata: dict, tensors: dict, path: Path, what: str) -> None:
    """A file's header and tensors match the checksum written with them (none: a file
    written before checksums)."""
    written = metadata.get(CHECKSUM_KEY)
    if written is not None and written != file_checksum(metadata, tensors):
        raise ModelFileError(f"{str(path)!r} is damaged: its {what} file does not match the "
                             f"checksum written with it (it was changed, or corrupted on disk "
                             f"or in transfer, after it was saved).")


def state_json(state: dict, modelled: list[str]) -> str:
    """The JSON of a model's state; values JSON has no type for are tagged (json_values). A
    value of a type no tag covers is a DataError naming the column that holds it
    (``modelled``: the names of the transformer's columns, in order)."""
    try:
        json_values.check_storable_keys(state)
    except json_values.UnstorableKey:
        raise DataError(f"A column or value named {json_values.TAG!r} cannot be stored in a "
                        f"model file (the name marks stored values); rename it.") from None
    try:
        return json.dumps(state, default=json_values.encode)
    except json_values.UnstorableValue as exc:
        column = _column_holding(state, modelled)
        where = f"Column {column!r} holds" if column else "The model holds"
        raise DataError(f"{where} values of type {type(exc.value).__name__} ({exc.value!r}), "
                        f"which a model file cannot store; convert them to text (for example "
                        f"df[{column or 'column'!r}].astype(str)) before fitting.") from None


def _column_holding(state: dict, modelled: list[str]) -> str | None:
    """The first column whose schema entry or transformer state JSON cannot store."""
    for column in state["schema"]["columns"]:
        if not _storable(column):
            return column["name"]
    for name, column_state in zip(modelled, state["transformer"]["columns"]):
        if not _storable(column_state):
            return name
    return None


def _storable(part) -> bool:
    try:
        json.dumps(part, default=json_values.encode)
    except json_values.UnstorableValue:
        return False
    return True


def state_from_json(text: str) -> dict:
    """The state :func:`state_json` wrote (``ValueError`` when it is not valid)."""
    state = json.loads(text, object_hook=json_values.decode)
    if not isinstance(state, dict):
        raise ValueError("the state is not a JSON object")
    return state


def read_model_file(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The validated JSON state and the tensors of a model file."""
    if not path.exists():
        raise ModelFileError(f"Model file {str(path)!r} not found; train one with "
                             f"'synthvae fit DATA -o {path}'.")
    if path.is_dir():
        raise ModelFileError(f"Model path {str(path)!r} is a folder, not a model file.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{str(path)!r} is not a readable synthvae model file "
                             f"(corrupt or truncated: {str(exc).splitlines()[0]}).") from None
    if metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(path)!r} is a safetensors file but not a synthvae model.")
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise ModelFileError(f"{str(path)!r} has an invalid format version {version!r}.")
    if int(version) > FORMAT_VERSION:
        raise ModelFileError(f"{str(path)!r} uses model format version {version}, newer than "
                             f"this synthvae reads ({FORMAT_VERSION}); upgrade synthvae.")
    check_checksum(metadata, tensors, path, "model")
    try:
        state = state_from_json(metadata["state"])
    except (KeyError, ValueError, RecursionError):
        raise ModelFileError(f"{str(path)!r} has no valid JSON state in its header.") from None
    missing = {"schema", "transformer", "model_config", "train_config", "params"} - set(state)
    if missing:
        raise ModelFileError(f"{str(path)!r} lacks the parts {sorted(missing)} of a model.")
    return state, tensors


# Parameters a model file saved before them lacks, with the value its transformer was
# fitted with then (so ``get_params`` and a refit say what the file holds, not today's
# default): no value-by-value columns, no log scale, modes kept by weight alone, no
# value pairs excluded from sampling, no tail modes.
LEGACY_PARAMS = {"discrete_threshold": 0, "skew_threshold": None, "min_mode_rows": 0,
                 "unseen_pairs": 0, "tail_share": 0.0}


def load_synthesizer(path: Path, device: str | None = None, predicates: dict | None = None,
                     *, factory):
    """The estimator a model file holds, built by ``factory(**params)``; ``predicates``
    gives the functions of its Predicate constraints (code is never saved)."""
    state, tensors = read_model_file(path)
    where = repr(str(path))
    _check_saved_seed(state, path)
    try:
        params = dict(LEGACY_PARAMS, **state["params"])
        synth = factory(**{k: (tuple(v) if k == "hidden" else v) for k, v in params.items()})
        synth.fitted_params_ = synth.get_params()
        synth.schema_ = Schema.from_dict(state["schema"])
        synth.constraints_ = ConstraintLayer.from_state(state.get("constraints"), synth.schema_,
                                                        predicates, where)
        synth.constraints = list(synth.constraints_.declared_) or None
        synth.transformer_ = TableTransformer.from_state(synth.constraints_.model_schema_,
                                                         state["transformer"])
        model_config = ModelConfig.from_dict(state["model_config"])
        synth.train_config_ = TrainConfig(**state["train_config"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SynthvaeError):  # e.g. a predicate to pass again: say so as is
            raise
        raise ModelFileError(f"{str(path)!r} has an invalid model state ({exc}).") from None
    synth.history_ = state.get("history", [])
    synth.monitoring_ = state.get("monitoring")
    if synth.monitoring_ is not None:
        from synthvae.monitoring import check_profile

        check_profile(synth.monitoring_, model_config.latent_dim, where)
    synth.diagnostics_ = state.get("diagnostics")  # absent from older models
    check_diagnostics(synth.diagnostics_, model_config.latent_dim,
                      synth.transformer_.schema.names, where)
    synth.training_summary_ = state.get("training_summary", {})
    synth.extra_state_ = state.get("extra", {})
    if state.get("privacy") is not None:
        synth.privacy_ = state["privacy"]
    synth.device_ = resolve_device(device)
    layout = SpanLayout.from_spans(synth.transformer_.spans_, synth.device_)
    synth.generator_ = VAEGenerator.from_state(model_config, state.get("prior", "normal"),
                                               tensors, layout, synth.device_, where,
                                               synth.transformer_.value_slot_positions())
    return synth


def _check_saved_seed(state: dict, path: Path) -> None:
    """The saved ``seed``, which sampling uses when given none, is one a fit accepts."""
    params = state.get("params")
    seed = params.get("seed") if isinstance(params, dict) else None
    if seed is not None:
        try:
            check_seed(seed, "its 'seed'", optional=False)
        except ConfigError as exc:
            raise ModelFileError(f"{str(path)!r} has an invalid model state: {exc}") from None


def model_info(path: Path) -> dict:
    """A JSON-ready description of a model file (validated, nothing executed)."""
    path = Path(path)
    state, tensors = read_model_file(path)
    try:
        check_diagnostics(state.get("diagnostics"), state["model_config"]["latent_dim"],
                          [c["name"] for c in _modelled_columns(state, path)], repr(str(path)))
    except (KeyError, TypeError):
        raise ModelFileError(f"{str(path)!r} has an invalid model state.") from None
    return {
        "path": str(path), "format_version": FORMAT_VERSION,
        "synthvae_version": state.get("synthvae_version"),
        "torch_version": state.get("torch_version"),
        "columns": state["schema"]["columns"],
        "model_config": _described_config(state["model_config"]),
        "train_config": state["train_config"],
        "training_summary": state.get("training_summary", {}),
        "parameters": int(sum(t.numel() for t in tensors.values())),
        "final_epoch": (state.get("history") or [None])[-1],
        "history": state.get("history") or [],
        "privacy": state.get("privacy"),
        "diagnostics": state.get("diagnostics"),
        "diagnostics_note": diagnostics_note(state),
        "value_exposure": _value_exposure(state, path),
        "constraints": _described_constraints(state, path),
    }


def _described_constraints(state: dict, path: Path) -> list[dict]:
    """The declared constraints as saved, each with ``rule``: how a user would write it."""
    from synthvae.constraints.declared import parse_constraint
    from synthvae.constraints.rules import describe

    out = []
    for item in (state.get("constraints") or {}).get("constraints", []):
        if not isinstance(item, dict):
            raise ModelFileError(f"{str(path)!r} has an invalid constraint {item!r}.")
        if item.get("kind") == "predicate":
            rule = f"predicate {item.get('name')!r} (Python code, not saved)"
        else:
            try:
                rule = describe(parse_constraint(item))
            except SynthvaeError as exc:
                raise ModelFileError(f"{str(path)!r} has an invalid constraint ({exc}).") \
                    from None
        out.append({**item, "rule": rule})
    return out


def _described_config(config: dict) -> dict:
    """The model configuration as ``info`` shows it: the decoder named, not its per-position
    column ranks."""
    shown = {k: v for k, v in config.items() if k != "column_rank"}
    shown["decoder"] = "factorized" if config.get("column_rank") is None else "autoregressive"
    return shown


def _value_exposure(state: dict, path: Path) -> list[dict]:
    """Which columns' real values the file stores and samples back (synthvae.identifiers)."""
    from synthvae.identifiers import value_exposure

    try:
        return value_exposure(_modelled_columns(state, path), state["transformer"]["columns"],
                              private=state.get("privacy") is not None)
    except (KeyError, TypeError, AttributeError):
        raise ModelFileError(f"{str(path)!r} has an invalid transformer state.") from None


def _modelled_columns(state: dict, path: Path) -> list[dict]:
    """The schema columns the transformer encodes: the table's, or as constraints model them
    (a fixed combination is one categorical column)."""
    if not (state.get("constraints") or {}).get("rules"):
        return state["schema"]["columns"]
    schema = Schema.from_dict(state["schema"])
    try:
        layer = ConstraintLayer.from_state(state["constraints"], schema, _AnyPredicates(),
                                           repr(str(path)))
    except ModelFileError:
        raise
    except SynthvaeError as exc:
        raise ModelFileError(f"{str(path)!r} has invalid constraints ({exc}).") from None
    return [c.to_dict() for c in layer.model_schema_.columns]


class _AnyPredicates(dict):
    """Stands in for any predicate's function: describing a model runs none."""

    def __contains__(self, name) -> bool:
        return True

    def __getitem__(self, name):
        return lambda frame: None


def diagnostics_note(state: dict) -> str | None:
    """Why a model file holds no training diagnostics (None when it holds them)."""
    if state.get("diagnostics") is not None:
        return None
    if state.get("privacy") is not None:
        return f"none: {PRIVATE_REASON}"
    failed = (state.get("training_summary") or {}).get("failed_steps") or {}
    if "training diagnostics" in failed:  # synthvae/fitting.py: an optional step
        return f"none: they failed after training ({failed['training diagnostics']})"
    return "none: saved by a synthvae without training diagnostics"


# ----------------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = "synthvae-checkpoint"


def checkpoint_path(model_path: str | Path) -> Path:
    """Where ``synthvae fit --checkpoint-every`` keeps the state of an unfinished fit."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".ckpt")


def save_checkpoint(synth, state, path: Path, identity: dict) -> Path:
    """Model, optimizer and random state of an unfinished fit, atomically (no pickle), with
    its ``identity`` (the table's fingerprint and the fit's parameters, which a resume must
    match; synthvae.fit_memory.fit_identity) and the names of its tensors."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous()
               for k, v in synth.model_.state_dict().items()}
    if state.best_state is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous()
                        for k, v in state.best_state.items()})
    for index, slots in state.optimizer_state["state"].items():
        tensors.update({f"optim.{index}.{name}": value.detach().cpu().contiguous()
                        for name, value in slots.items()})
    tensors["rng"] = state.generator_state.cpu().contiguous()
    meta = {
        "schema": synth.schema_.to_dict(), "transformer": synth.transformer_.get_state(),
        "model_config": synth.model_config_.to_dict(),
        "train_config": synth.train_config_.to_dict(),
        "fingerprint": identity["fingerprint"], "params": identity["params"],
        "epoch": state.epoch, "best": state.best if math.isfinite(state.best) else None,
        "stopping": state.stopping.state_dict() if state.stopping is not None else None,
        "history": [vars(h) for h in state.history],
        "param_groups": state.optimizer_state["param_groups"],
        "tensors": sorted(tensors),
    }
    metadata = signed({"format": CHECKPOINT_FORMAT, "format_version": str(FORMAT_VERSION),
                       "state": state_json(meta, synth.transformer_.schema.names)}, tensors)
    with atomic_path(path, private=True) as tmp:  # it holds real values
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def load_checkpoint(path: Path) -> tuple[dict, dict]:
    """(JSON state, tensors) of a checkpoint, validated like a model file."""
    if not path.exists():
        raise ModelFileError(f"No checkpoint at {str(path)!r} to resume from; run fit with "
                             f"--checkpoint-every first.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        state = state_from_json(metadata["state"])
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError, RecursionError):
        raise ModelFileError(f"{str(path)!r} is not a readable synthvae checkpoint.") from None
    version = metadata.get("format_version", "")
    if metadata.get("format") != CHECKPOINT_FORMAT or not version.isascii() or \
            not version.isdigit() or int(version) > FORMAT_VERSION:
        raise ModelFileError(f"{str(path)!r} is not a synthvae checkpoint of a supported "
                             f"version.")
    check_checksum(metadata, tensors, path, "checkpoint")
    check_checkpoint_parts(state, tensors, repr(str(path)))
    return state, tensors


# The parts of a checkpoint's JSON state and the type each has; NEWER_PARTS are those a
# checkpoint written before synthvae checked resumes against them lacks.
CHECKPOINT_PARTS = {"schema": dict, "transformer": dict, "model_config": dict,
                    "train_config": dict, "fingerprint": str, "params": dict, "epoch": int,
                    "history": list, "param_groups": list, "tensors": list}
NEWER_PARTS = {"params", "tensors"}
JSON_TYPES = {dict: "a JSON object", str: "a string", int: "a whole number", list: "a list"}


def check_checkpoint_parts(state: dict, tensors: dict, where: str) -> None:
    """Every part a resume reads is there, of its type, and every tensor the checkpoint
    lists (the weights, the optimizer's moments, the random state) is in the file."""
    missing = [name for name in CHECKPOINT_PARTS if name not in state]
    if missing and set(missing) <= NEWER_PARTS:
        raise ModelFileError(f"{where} was written by an earlier synthvae, which did not record "
                             f"{' and '.join(missing)} for a resume to be checked against; "
                             f"start afresh without resume.")
    if missing:
        raise ModelFileError(f"{where} is not a complete checkpoint: it lacks the parts "
                             f"{missing}.")
    for name, kind in CHECKPOINT_PARTS.items():
        if not isinstance(state[name], kind) or isinstance(state[name], bool):
            raise ModelFileError(f"{where} has an invalid {name!r}: expected "
                                 f"{JSON_TYPES[kind]}, found {state[name]!r:.60}.")
    _check_progress(state, where)
    _check_listed_tensors(state["tensors"], tensors, where)


def _check_progress(state: dict, where: str) -> None:
    """The epochs done: one history entry each, no more than the fit's epochs."""
    epochs = state["train_config"].get("epochs")
    if not 0 < state["epoch"] <= (epochs if isinstance(epochs, int) else 0) or \
            len(state["history"]) != state["epoch"]:
        raise ModelFileError(f"{where} has an invalid 'epoch' ({state['epoch']!r}): expected "
                             f"1 to the fit's {epochs!r} epochs, one history entry each "
                             f"({len(state['history'])} found).")
    if not all(isinstance(g, dict) and isinstance(g.get("params"), list)
               for g in state["param_groups"]):
        raise ModelFileError(f"{where} has invalid optimizer parameter groups.")


# What a resume continues from, by the prefix of its tensors' names.
CHECKPOINT_TENSORS = {"model.": "weights", "optim.": "optimizer state", "rng": "random state"}


def _check_listed_tensors(listed: list, tensors: dict, where: str) -> None:
    """The tensors are those the state lists, and none of CHECKPOINT_TENSORS is absent."""
    missing = sorted(set(map(str, listed)) - set(tensors))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ModelFileError(f"{where} lacks tensors it lists: {missing[:3]}{more}; a resume "
                             f"continues from them.")
    unlisted = sorted(set(tensors) - set(map(str, listed)))
    if unlisted:
        raise ModelFileError(f"{where} holds tensors it does not list: {unlisted[:3]}.")
    for prefix, what in CHECKPOINT_TENSORS.items():
        if not any(name.startswith(prefix) for name in tensors):
            raise ModelFileError(f"{where} lacks its {what} ({prefix.rstrip('.')}...), which "
                                 f"a resume continues from.")


def train_state_from_checkpoint(state: dict, tensors: dict, device,
                                where: str = "the checkpoint"):
    """Rebuild the training loop's state; tensors move to ``device``."""
    from synthvae.training import TrainState

    try:
        return TrainState(
            epoch=state["epoch"], history=_history(state["history"]),
            best=math.inf if state.get("best") is None else float(state["best"]),
            best_state=_prefixed(tensors, "best.", device) or None,
            stopping=_stopping(state.get("stopping")),
            optimizer_state={"state": _optimizer_slots(tensors, device),
                             "param_groups": state["param_groups"]},
            generator_state=tensors["rng"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where} has an invalid training state ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}).") from None


def _prefixed(tensors: dict, prefix: str, device) -> dict:
    return {k[len(prefix):]: v.to(device) for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer_slots(tensors: dict, device) -> dict[int, dict]:
    """{parameter index: {slot name: tensor}} from the ``optim.<index>.<slot>`` tensors."""
    slots: dict[int, dict] = {}
    for key, value in _prefixed(tensors, "optim.", device).items():
        index, name = key.split(".", 1)
        slots.setdefault(int(index), {})[name] = value
    return slots


def _history(entries: list) -> list:
    from synthvae.training import EpochStats

    return [EpochStats(**entry) for entry in entries]


def _stopping(saved):
    from synthvae.stopping import EarlyStopping

    return EarlyStopping.from_state_dict(saved) if saved else None
