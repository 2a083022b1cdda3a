"""The generator: the model behind a Synthesizer, as one small interface.

A generator maps encoded rows (the table transformer's float32 matrix, ``(rows, width)`` in
the layout of :class:`synthvae.layout.SpanLayout`) to latents and back, samples new encoded
rows, and scores rows. It owns everything sampling reads: the network, the latent prior it
samples from (:mod:`synthvae.prior`) and the marginal calibration's logit offsets
(:mod:`synthvae.calibration`). The façade (:mod:`synthvae.synthesizer`) turns DataFrames into
matrices and back; the training loop (:mod:`synthvae.training`) trains ``generator.model``.

:class:`Generator` is the interface a model family implements; :class:`VAEGenerator` is
TVAE's VAE in both its variants, factorized and autoregressive, which differ only in their
:class:`~synthvae.model.ModelConfig` (``column_rank``). Saved as JSON (:meth:`to_dict`) plus
tensors (:meth:`tensors`): the keys below are the model file's (docs/model-format.md).
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
import torch

from synthvae.errors import ModelFileError
from synthvae.layout import SpanLayout
from synthvae.model import VAE, ModelConfig
from synthvae.prior import MixturePrior, StandardNormalPrior, posterior_latents
from synthvae.sampling import sample_matrix
from synthvae.transforms.spans import SpanKind

DECODERS = (None, "autoregressive", "factorized")
MAX_AUTOREGRESSIVE_WIDTH = 1_024  # default decoder: autoregressive up to this encoded width
OFFSETS_KEY = "sampler.logit_offsets"  # tensor key of the calibration's offsets
FLOOR_KEY = "sampler.low_lift_floor"  # ... of the low-lift floors
EXCLUDED_KEY = "sampler.excluded_pairs"  # ... and of the value pairs never drawn together


class Generator(Protocol):
    """What the façade needs of a model family. Matrices are encoded rows on ``device``."""

    device: torch.device
    latent_dim: int

    def encode(self, data: torch.Tensor) -> torch.Tensor:
        """(rows, width) encoded rows -> (rows, latent_dim) latent means."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(rows, latent_dim) latents -> (rows, width) most likely encoded rows."""

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, width) encoded rows drawn from the prior (calibrated when it is)."""

    def conditional_sampler(self, conditions: list):
        """A sampler of encoded rows meeting bound conditions (synthvae.conditions)."""

    def log_likelihood(self, data: torch.Tensor, samples: int, generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ELBO, IWAE estimate) of each encoded row, (rows,) each, in nats."""

    def to_dict(self) -> dict:
        """JSON-ready configuration (the model file's state keys)."""

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor to save, by its model-file key."""


def resolved_decoder(decoder: str | None, width: int) -> str:
    """``decoder``, or its default: autoregressive unless the table is too wide for the
    column-by-column term (its cost per step grows with the width), with or without
    differential privacy (benchmarks/results/dp.md, ninth step: under DP-SGD too it keeps
    more of each pair and of the target). A table with no modelled column (identifiers and
    constants only) has nothing to draw in order."""
    if width == 0:
        return "factorized"
    if decoder is not None:
        return decoder
    return "factorized" if width > MAX_AUTOREGRESSIVE_WIDTH else "autoregressive"


def column_rank(spans, two_step_numbers: bool = True) -> tuple[int, ...]:
    """Each encoded position's drawing step, in table order: the drawing order of an
    autoregressive decoder. With ``two_step_numbers`` a numeric column (a scalar span
    first, then its modes and null indicator) takes two steps, its softmax spans first and
    then its scalar: the position within a mode is drawn knowing the mode it is a position
    in (benchmarks/results/structure.md, twentieth step). Every other column is one step."""
    two_steps = numeric_columns(spans) if two_step_numbers else set()
    first: dict[str, int] = {}
    ranks: list[int] = []
    top = -1
    for span in spans:
        if span.column not in first:
            first[span.column] = top + 1
        rank = first[span.column] + (span.column in two_steps
                                     and span.kind is SpanKind.SCALAR)
        ranks.extend([rank] * span.width)
        top = max(top, rank)
    return tuple(ranks)


def drawing_steps(spans, two_step_numbers: bool = True) -> tuple[int, ...]:
    """:func:`column_rank`, with numbers in two steps only while every step can have masked
    units of its own (at most ``ModelConfig.autoregressive_hidden`` steps): past that, the
    steps beyond the units' degrees would be read by no unit."""
    rank = column_rank(spans, two_step_numbers)
    if rank and max(rank) + 1 > ModelConfig.autoregressive_hidden:
        return column_rank(spans, False)
    return rank


def numeric_columns(spans) -> set[str]:
    """The columns whose first span is a scalar followed by softmax spans (a number's value
    within its mode, then the modes): the columns drawn in two steps."""
    first_kind: dict[str, SpanKind] = {}
    softmax = set()
    for span in spans:
        first_kind.setdefault(span.column, span.kind)
        if span.kind is SpanKind.SOFTMAX:
            softmax.add(span.column)
    return {column for column, kind in first_kind.items()
            if kind is SpanKind.SCALAR and column in softmax}


def vae_config(layout: SpanLayout, spans, latent_dim: int, hidden, decoder: str,
               latent_swap: float = 0.0, value_inputs: tuple[int, ...] = (),
               two_step_numbers: bool = True) -> ModelConfig:
    """The VAE for an encoded layout; ``decoder`` "factorized" or "autoregressive" (whose
    training swaps the latent term of a ``latent_swap`` share of each batch, whose masked
    layer reads the values of the numeric columns at ``value_inputs``, their scalar
    positions, and draws numbers in two steps unless ``two_step_numbers`` is False: see
    :func:`column_rank`)."""
    factorized = decoder == "factorized"
    return ModelConfig(data_dim=layout.width, n_scalars=layout.n_scalars,
                       latent_dim=latent_dim, hidden=tuple(hidden),
                       column_rank=None if factorized else drawing_steps(spans,
                                                                         two_step_numbers),
                       latent_swap=0.0 if factorized else float(latent_swap),
                       unswapped=() if factorized else tuple(layout.scalar_index.tolist()),
                       value_inputs=() if factorized else tuple(value_inputs))


class VAEGenerator:
    """TVAE's VAE (factorized or autoregressive decoder), its latent prior and offsets."""

    def __init__(self, config: ModelConfig, model: VAE, layout: SpanLayout,
                 device: torch.device, prior=None, offsets: torch.Tensor | None = None,
                 floor: torch.Tensor | None = None, excluded: torch.Tensor | None = None):
        self.config = config
        self.model = model
        self.layout = layout
        self.device = device
        self.prior = prior  # set by fit_prior (or from a file): StandardNormal/MixturePrior
        self.offsets = offsets  # (width,) calibration logit offsets, or None
        self.floor = floor  # (width,) low-lift floors of slot probabilities, or None
        # (pairs, 3) value positions the autoregressive sampler never draws together, and
        # the logit it adds (synthvae.exclusions)
        self.excluded = excluded

    @classmethod
    def build(cls, config: ModelConfig, layout: SpanLayout, device: torch.device,
              seed: int, value_coefficients: tuple[np.ndarray, np.ndarray] | None = None
              ) -> "VAEGenerator":
        """A new, untrained VAE; ``seed`` fixes its initial weights. ``value_coefficients``
        ((width,) offset and scale, :meth:`TableTransformer.value_inputs`) are needed when
        the config has ``value_inputs``."""
        model = _new_model(config, seed)
        if config.value_inputs:
            if value_coefficients is None:
                raise ValueError("a config with value_inputs needs value_coefficients")
            offset, scale = (torch.as_tensor(c, dtype=torch.float32) for c in value_coefficients)
            model.decoder.autoregression.set_value_coefficients(offset, scale)
        return cls(config, model.to(device), layout, device)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def decoder_kind(self) -> str:
        return self.config.decoder_kind

    # ------------------------------------------------------------------ the interface
    def encode(self, data: torch.Tensor) -> torch.Tensor:
        from synthvae.likelihood import latent_means

        return latent_means(self.model, data)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        from synthvae.likelihood import decode_mean

        return decode_mean(self.model, self.layout, z, self.excluded)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return sample_matrix(self.model, self.layout, self.prior, n, generator, self.device,
                             offsets=self.offsets, floor=self.floor, excluded=self.excluded)

    def conditional_sampler(self, conditions: list):
        from synthvae.conditions import ConditionalSampler

        return ConditionalSampler(self.model, self.layout, self.prior, conditions, self.device,
                                  offsets=self.offsets, floor=self.floor,
                                  excluded=self.excluded)

    def log_likelihood(self, data: torch.Tensor, samples: int, generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        from synthvae.likelihood import row_scores

        return row_scores(self.model, self.layout, self.prior, data, samples, generator)

    # ------------------------------------------------------------------ after training
    def fit_prior(self, data: torch.Tensor, kind: str, components: int, seed: int) -> None:
        """Set the prior: N(0, I) (``kind="normal"``) or a Gaussian mixture fitted to one
        posterior draw per row of ``data``."""
        if kind == "normal":
            self.prior = StandardNormalPrior(self.latent_dim)
            return
        generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        latents = posterior_latents(self.model, data, generator)
        self.prior = MixturePrior.fit(latents, components, seed).to(self.device)

    def calibrate(self, frequencies: torch.Tensor, seed: int, rows: int,
                  never_drawn: torch.Tensor | None = None) -> dict:
        """Set the logit offsets that give prior samples the (n_slots,) slot
        ``frequencies`` over ``rows`` prior latents (synthvae/calibration.py), the slots of
        ``never_drawn`` excluded; return their summary."""
        from synthvae import calibration

        generator = torch.Generator(device=self.device).manual_seed(seed + 3)
        self.model.eval()
        offsets, summary = calibration.fit_logit_offsets(
            self.model.decoder, self.layout, self.prior, frequencies, generator, rows=rows,
            floor=self.floor, excluded=self.excluded, never_drawn=never_drawn)
        self.offsets = offsets
        return summary

    def set_low_lift_floor(self, frequencies: torch.Tensor, min_lift: float) -> None:
        """Probabilities under which the sampler does not draw a slot: ``min_lift`` times
        the slot's share of the training rows, ``frequencies`` (n_slots,) (see
        :func:`synthvae.sampling.span_weights`); ``min_lift`` 0 removes them."""
        if min_lift <= 0:
            self.floor = None
            return
        floor = torch.zeros(self.layout.width, device=self.device)
        floor[self.layout.slot_index] = min_lift * frequencies
        self.floor = floor

    def exclude_unseen_pairs(self, data: torch.Tensor, spans, min_expected: float,
                             code_columns=frozenset(), grouped=frozenset()) -> None:
        """Value pairs the sampler never draws together: those no row of the encoded
        training rows ``data`` holds although independence expects ``min_expected`` rows,
        or one column determines the other (:func:`synthvae.exclusions.unseen_pairs`;
        categorical columns and the numeric ``code_columns``; ``grouped``: the positions of
        slots holding several values); only an autoregressive decoder draws in an order
        that can keep them, and ``min_expected`` 0 removes them."""
        from synthvae.exclusions import unseen_pairs

        pairs = unseen_pairs(data, spans, min_expected, code_columns, grouped) \
            if self.model.decoder.autoregression is not None else None
        self.excluded = pairs if pairs is not None and len(pairs) else None

    @property
    def excluded_count(self) -> int:
        """How many value pairs the sampler never draws together."""
        return 0 if self.excluded is None else len(self.excluded)

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict:
        return {"model_config": self.config.to_dict(), "prior": self.prior.kind}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"model.{k}": v.detach().cpu().contiguous()
               for k, v in self.model.state_dict().items()}
        out.update({f"prior.{k}": v.detach().cpu().contiguous()
                    for k, v in self.prior.tensors().items()})
        if self.offsets is not None:
            out[OFFSETS_KEY] = self.offsets.detach().cpu().float().contiguous()
        if self.floor is not None:
            out[FLOOR_KEY] = self.floor.detach().cpu().float().contiguous()
        if self.excluded is not None:
            out[EXCLUDED_KEY] = self.excluded.detach().cpu().long().contiguous()
        return out

    @classmethod
    def from_state(cls, config: ModelConfig, prior_kind: str, tensors: dict,
                   layout: SpanLayout, device: torch.device, where: str,
                   value_slots: list[int] | None = None) -> "VAEGenerator":
        """The generator a model file holds, every tensor checked (``where`` names the
        file in errors; ``value_slots``: the positions excluded pairs may name,
        :meth:`TableTransformer.value_slot_positions`; None: any softmax slot)."""
        if layout.width != config.data_dim:
            raise ModelFileError(f"{where} is inconsistent: the transformer encodes "
                                 f"{layout.width} columns but the model expects "
                                 f"{config.data_dim}.")
        _check_value_inputs(config, layout, where)
        model = _load_model(config, tensors, where).to(device)
        prior = _load_prior(prior_kind, config, tensors, where).to(device)
        offsets = _load_offsets(tensors.get(OFFSETS_KEY), config, where)
        floor = _load_floor(tensors.get(FLOOR_KEY), config, where)
        if value_slots is None:
            value_slots = layout.slot_index.tolist()
        excluded = _load_excluded(tensors.get(EXCLUDED_KEY), config, value_slots, where)
        return cls(config, model, layout, device, prior,
                   None if offsets is None else offsets.to(device),
                   None if floor is None else floor.to(device),
                   None if excluded is None else excluded.to(device))


def _check_value_inputs(config: ModelConfig, layout: SpanLayout, where: str) -> None:
    """Each value input is a scalar position of the layout (ModelConfig checks one a
    column)."""
    scalars = set(layout.scalar_index.tolist())
    stray = [p for p in config.value_inputs if p not in scalars]
    if stray:
        raise ModelFileError(f"{where} is inconsistent: value_inputs names encoded position "
                             f"{stray[0]}, which holds no numeric column's scalar.")


_NEW_MODEL_LOCK = threading.Lock()  # the global generator is one for all threads: fits in
# several threads (a server, a threaded grid search) drew each other's initial weights


def _new_model(config: ModelConfig, seed: int = 0) -> VAE:
    """A VAE whose initial weights ``seed`` fixes. They are drawn from torch's global CPU
    generator, whose state is restored after: a fit seeded it with its own seed (and a load
    consumed it), so the caller's ``torch.manual_seed`` stream, and the weights of their own
    models after a fit, were reset to the synthesizer's seed."""
    with _NEW_MODEL_LOCK, torch.random.fork_rng(devices=[]):  # the VAE is built on the CPU
        torch.random.default_generator.manual_seed(seed)
        return VAE(config)


def _load_model(config: ModelConfig, tensors: dict, where: str) -> VAE:
    model = _new_model(config)  # its weights are replaced by the file's
    expected = model.state_dict()
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    unknown = [k for k in tensors if not k.startswith(("model.", "prior."))
               and k not in (OFFSETS_KEY, FLOOR_KEY, EXCLUDED_KEY)]
    if unknown:
        raise ModelFileError(f"{where} holds an unexpected tensor {unknown[0]!r}.")
    if set(weights) != set(expected):
        raise ModelFileError(f"{where} holds weights {sorted(set(weights) ^ set(expected))[:3]} "
                             f"that do not match the model its header describes.")
    for key, tensor in weights.items():
        if tensor.shape != expected[key].shape or tensor.dtype != expected[key].dtype:
            raise ModelFileError(f"{where}: weight {key!r} has shape {tuple(tensor.shape)}, "
                                 f"expected {tuple(expected[key].shape)}.")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelFileError(f"{where}: weight {key!r} holds non-finite values (NaN or "
                                 f"infinity); a fitted model has none.")
    model.load_state_dict(weights)
    return model


def _load_prior(kind: str, config: ModelConfig, tensors: dict, where: str):
    found = {k[len("prior."):]: v for k, v in tensors.items() if k.startswith("prior.")}
    if kind == "normal":
        return StandardNormalPrior(config.latent_dim)
    if kind != "gmm" or set(found) != {"weights", "means", "stds"}:
        raise ModelFileError(f"{where} has an invalid latent prior {kind!r}.")
    k = found["weights"].shape[0]
    if found["weights"].ndim != 1 or any(found[n].shape != (k, config.latent_dim)
                                         for n in ("means", "stds")):
        raise ModelFileError(f"{where}: the latent prior's shapes do not match a "
                             f"{config.latent_dim}-dimensional latent space.")
    if not all(torch.isfinite(t).all() for t in found.values()) \
            or (found["weights"] < 0).any() or (found["stds"] <= 0).any():
        raise ModelFileError(f"{where}: the latent prior holds non-finite values, negative "
                             f"weights or standard deviations that are not positive.")
    return MixturePrior(found["weights"], found["means"], found["stds"])


def _load_offsets(offsets, config: ModelConfig, where: str):
    """The marginal calibration's logit offsets (absent from older and DP models)."""
    if offsets is None:
        return None
    if offsets.shape != (config.data_dim,) or not torch.isfinite(offsets).all():
        raise ModelFileError(f"{where}: the sampler's logit offsets have shape "
                             f"{tuple(offsets.shape)} (or non-finite values); expected "
                             f"{config.data_dim} finite values.")
    return offsets.float()


def _load_floor(floor, config: ModelConfig, where: str):
    """The sampler's low-lift floors: probabilities, 0 where a slot has none (absent from
    older and DP models)."""
    if floor is None:
        return None
    if floor.shape != (config.data_dim,) or not ((floor >= 0) & (floor <= 1)).all():
        raise ModelFileError(f"{where}: the sampler's low-lift floors have shape "
                             f"{tuple(floor.shape)} (or values outside [0, 1]); expected "
                             f"{config.data_dim} probabilities.")
    return floor.float()


def _load_excluded(pairs, config: ModelConfig, value_slots: list[int], where: str):
    """The value pairs the sampler never draws together (absent from older models, DP
    models and factorized decoders)."""
    if pairs is None:
        return None
    from synthvae.exclusions import check_excluded_pairs

    problem = "the model has no autoregressive decoder's column order" \
        if config.column_rank is None else \
        check_excluded_pairs(pairs, torch.tensor(config.column_rank, dtype=torch.long),
                             list(value_slots))
    if problem is not None:
        raise ModelFileError(f"{where}: the sampler's excluded value pairs are invalid "
                             f"({problem}).")
    return pairs
