"""The generator interface (synthvae/generator.py): one contract that every model family
behind the Synthesizer keeps, checked on each VAE variant."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from synthvae import Synthesizer
from synthvae.generator import Generator, VAEGenerator

SMALL = dict(epochs=2, latent_dim=8, hidden=(32,), seed=0, verbose=False)


@pytest.fixture(scope="module", params=["factorized", "autoregressive"])
def fitted(request, titanic):
    with warnings.catch_warnings():  # two epochs: a collapse warning, beside the point here
        warnings.simplefilter("ignore")
        return Synthesizer(decoder=request.param, **SMALL).fit(titanic)


def encoded(synth, df):
    return torch.as_tensor(synth.transformer_.transform(df), device=synth.device_)


def test_every_variant_keeps_the_generator_contract(fitted, titanic):
    generator = fitted.generator_
    width, latent = fitted.layout_.width, generator.latent_dim
    assert isinstance(generator, VAEGenerator)
    assert all(callable(getattr(generator, name)) for name in
               ("encode", "decode", "sample", "conditional_sampler", "log_likelihood",
                "to_dict", "tensors"))
    data = encoded(fitted, titanic.head(30))
    z = generator.encode(data)
    assert z.shape == (30, latent)
    assert generator.decode(z).shape == (30, width)
    drawn = generator.sample(50, torch.Generator().manual_seed(0))
    assert drawn.shape == (50, width) and torch.isfinite(drawn).all()
    elbo, iwae = generator.log_likelihood(data, 4, torch.Generator().manual_seed(0))
    assert elbo.shape == iwae.shape == (30,) and bool((iwae >= elbo - 1e-4).all())


def test_a_generator_rebuilt_from_its_state_samples_the_same_rows(fitted):
    from synthvae.model import ModelConfig

    generator = fitted.generator_
    state, tensors = generator.to_dict(), generator.tensors()
    rank = state["model_config"]["column_rank"]
    assert (rank is None) == (fitted.decoder_ == "factorized")
    rebuilt = VAEGenerator.from_state(ModelConfig.from_dict(state["model_config"]),
                                      state["prior"], tensors, generator.layout,
                                      generator.device, "'test'",
                                      fitted.transformer_.value_slot_positions())
    first = generator.sample(40, torch.Generator().manual_seed(3))
    again = rebuilt.sample(40, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)


def test_the_prior_and_offsets_belong_to_the_generator(fitted):
    # the façade's fitted attributes are views of its generator's parts, both ways
    assert fitted.prior_ is fitted.generator_.prior
    assert fitted.logit_offsets_ is fitted.generator_.offsets
    assert fitted.model_config_ is fitted.generator_.config
    assert fitted.decoder_ == fitted.generator_.config.decoder_kind
    assert not hasattr(Synthesizer(), "prior_") and not hasattr(Synthesizer(), "model_")


def test_the_facade_samples_through_its_generator(fitted):
    class Recording:
        """A stand-in generator: the façade's sampling calls go to it."""

        def __init__(self, inner: Generator):
            self.inner, self.calls = inner, []

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def sample(self, n, generator):
            self.calls.append(n)
            return self.inner.sample(n, generator)

    before = fitted.sample(25, seed=1)
    original = fitted.generator_
    fitted.generator_ = Recording(original)
    try:
        after = fitted.sample(25, seed=1)
        assert fitted.generator_.calls == [25]
    finally:
        fitted.generator_ = original
    assert before.equals(after)


def test_a_subclass_loads_as_itself(fitted, tmp_path):
    class Tuned(Synthesizer):
        pass

    path = fitted.save(tmp_path / "m.safetensors")
    loaded = Tuned.load(path)
    assert type(loaded) is Tuned
    assert loaded.sample(20, seed=2).equals(fitted.sample(20, seed=2))
    np.testing.assert_array_equal(loaded.encode(fitted.sample(5, seed=0)),
                                  fitted.encode(fitted.sample(5, seed=0)))
