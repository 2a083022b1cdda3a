"""Conditional sampling from a fitted (unconditional) VAE, without rejection.

The decoder factorizes over columns given z, so the model's rows that meet conditions C are

    p(x | C) = integral of p(z) P(C | z) p(x_rest | z) p(x_C | z, C) dz.

We draw z from p(z | C), proportional to p(z) P(C | z), by sampling-importance-resampling: a
pool of latents from the prior, weighted by P(C | z) read off the decoder's output
distribution (:mod:`synthvae.conditions`), resampled. Where few latents carry the weight
(a rare condition: the pool's effective sample size is below the rows asked for), a few
Metropolis steps in latent space, aimed at the same target, spread the resampled latents out
again. The conditioned columns are then drawn from the decoder restricted to C, the others
from the decoder as usual. Every row meets the conditions by construction; rows that rounding
pushes out of a numeric range (rare, at the range's edges) are redrawn.
"""

from __future__ import annotations

import math

import torch

from synthvae.sampling import decode_matrix, prior_logits

POOL_FACTORS = (4, 16)  # prior latents per requested row: first try, and when that is short
REFRESH_STEPS = 20  # Metropolis steps when the pool's effective sample size is short
BATCH_ROWS = 4096  # rows decoded at once (the pool is POOL_FACTOR times larger)


class ConditionalSampler:
    """Encoded rows meeting bound conditions (see :func:`synthvae.conditions.bind_conditions`)."""

    def __init__(self, model, layout, prior, conditions: list, device: torch.device,
                 pool_factors: tuple[int, ...] = POOL_FACTORS,
                 refresh_steps: int = REFRESH_STEPS, offsets: torch.Tensor | None = None):
        self.model = model
        self.offsets = offsets  # marginal calibration (synthvae.calibration), or None
        self.layout = layout
        self.prior = prior
        self.conditions = [c.to(device) for c in conditions]
        self.device = device
        self.pool_factors = pool_factors
        self.refresh_steps = refresh_steps
        self.effective_sizes: list[float] = []  # per batch: the pool's ESS / rows asked

    def _decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = prior_logits(self.model, z, self.offsets)
        sigma = self.model.decoder.sigma(z.new_ones((len(z), 1)))
        return logits, sigma

    def _log_weight(self, logits: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """log P(all conditions | z) for each decoded row, (n,)."""
        total = logits.new_zeros(len(logits))
        for condition in self.conditions:  # a handful of user-named columns
            total = total + condition.log_prob(logits, sigma)
        return total

    @torch.no_grad()
    def latents(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n latents from p(z | C) and their log weights log P(C | z)."""
        pools, weights, drawn = [], [], 0
        for factor in self.pool_factors:  # grow the pool while its effective size is short
            pools.append(self.prior.sample(n * factor - drawn, generator, self.device))
            weights.append(self._log_weight(*self._decode(pools[-1])))
            drawn = n * factor
            pool, log_w = torch.cat(pools), torch.cat(weights)
            probs = torch.softmax(log_w, dim=0)
            ess = 1.0 / probs.pow(2).sum()
            if ess >= n:  # one host read per pool, not per step
                break
        if not torch.isfinite(log_w).any():
            return pool[:n], log_w[:n]  # nothing allowed anywhere: caller reports it
        self.effective_sizes.append(float(ess) / n)  # one sync per batch, not per step
        picks = torch.multinomial(probs, n, replacement=True, generator=generator)
        z, log_w = pool[picks], log_w[picks]
        if ess < n:
            z, log_w = self._refresh(z, log_w, generator)
        return z, log_w

    def _refresh(self, z, log_w, generator):
        """Metropolis steps targeting p(z) P(C | z): duplicates of few pool latents spread."""
        step = self.prior.scale().to(self.device) * (2.38 / math.sqrt(z.shape[1]))
        log_target = self.prior.log_prob(z) + log_w
        for _ in range(self.refresh_steps):
            proposal = z + step * torch.randn(z.shape, generator=generator, device=self.device)
            proposal_w = self._log_weight(*self._decode(proposal))
            proposal_target = self.prior.log_prob(proposal) + proposal_w
            uniform = torch.rand(len(z), generator=generator, device=self.device)
            accept = torch.log(uniform) < proposal_target - log_target
            z = torch.where(accept[:, None], proposal, z)
            log_w = torch.where(accept, proposal_w, log_w)
            log_target = torch.where(accept, proposal_target, log_target)
        return z, log_w

    @torch.no_grad()
    def matrix(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, width) encoded rows meeting the conditions, and which rows could (finite
        weight): a row whose latent gives the conditions zero probability cannot."""
        z, log_w = self.latents(n, generator)
        logits, sigma = self._decode(z)
        out = decode_matrix(self.model, self.layout, z, generator, logits=logits)
        for condition in self.conditions:
            condition.impose(out, logits, sigma, generator)
        return out, torch.isfinite(log_w)
