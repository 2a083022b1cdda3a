"""A probe, not a default (issue 16, structure.md "fifteenth step"): the latent swap also at
the numeric columns' scalar positions, with the output sigmas detached on the swapped rows
(so the swapped rows do not widen them), so that the masked term must carry a number's value
from the earlier columns. Runs the structure harness with that change patched in::

    python -m benchmarks.swap_scalars_probe --no-demo --models synthvae \\
        --datasets shoppers,default --seeds 0,1 --name s42-swapall

(the same arguments as ``python -m benchmarks.structure``; ``--name s42-base`` without the
patch is the side-by-side default).
"""
from __future__ import annotations

import sys

import torch

import synthvae.model as model

_decoder_init = model.Decoder.__init__


def _swap_every_position(self, config):
    _decoder_init(self, config)
    self.swapped_positions.fill_(True)


def _forward_with_detached_sigma(self, x, noise):
    mu, logvar = self.encoder(x)
    z = mu + noise * torch.exp(0.5 * logvar)
    sigma = self.decoder.sigma(x.new_ones((len(x), 1)))
    rows = int(len(x) * self.decoder.latent_swap) if self.training else 0
    if rows:
        sigma = torch.cat([sigma[:rows].detach(), sigma[rows:]])
    return self.decoder(z, x), sigma, mu, logvar


def main(argv=None) -> None:
    from benchmarks.structure import main as structure

    model.Decoder.__init__ = _swap_every_position
    model.VAE.forward = _forward_with_detached_sigma
    structure(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
