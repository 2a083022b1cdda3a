"""Marginal calibration of the sampler: logit offsets that make prior samples match the
training data's one-hot frequencies.

A VAE is trained on latents drawn from each row's posterior, but sampled from a prior that
only approximates their aggregate; the decoder's softmax spans (categories, continuous
columns' modes, null indicators) then come out with frequencies a little off the data's:
on Adult, `occupation` and `education` were 3.7-4.3 % off in total variation while the real
test rows are 1 % off.

After training, for every softmax slot ``j`` the target is its frequency in the encoded
training rows, ``f_j``, and the model's is the mean softmax probability over latents drawn
from the prior, ``p_j``. Adding ``log f_j - log p_j`` to slot ``j``'s logit and repeating
(iterative proportional fitting, one decoder pass over a fixed set of prior latents per step)
moves every span's marginal onto the data's, each by the smallest change in the sense of
KL divergence (an exponential tilt), so what the decoder learned about how a column depends
on the latent code, and so on the other columns, is kept. The offsets are one vector added to
the decoder's logits whenever rows are drawn from the prior (``sample`` and conditional
sampling); reconstructions (``decode``, ``score``) use the decoder as trained.

With an autoregressive decoder a slot's probability depends on the columns drawn before it,
so ``p_j`` is the mean of its probability at its drawing step over rows drawn column by column
from the same latents, with the same uniforms and scalar noise at every step (common random
numbers: the frequencies move only because the offsets do).

A slot no training row holds (a category the column's dtype or the schema declares but no row
uses, a mode no row falls in) gets an offset of ``UNSEEN_OFFSET`` and is not drawn: the
decoder alone would give it a share that shrinks only with training (13 % of rows after one
epoch on a table whose two of four declared categories were used). Only a fit that counts
every training row knows a slot is unused (a streamed fit counts them in its first training
pass); under differential privacy the released frequencies' zeros may be noise, so such
slots keep their logit.

The frequencies are statistics of the training rows; under differential privacy they are
the noisy ones released from ``calibration_share`` of the budget (synthvae/privacy.py).
"""

from __future__ import annotations

import torch

from synthvae.layout import SpanLayout

CALIBRATION_ROWS = 50_000  # prior latents the model's frequencies are averaged over (at most)
MIN_CALIBRATION_ROWS = 1_000  # ... and at least
TRAINING_SHARE = 0.05  # ... and otherwise this share of the rows the training loop processed
# ... and at most this many (row, slot) probabilities per decoder pass: a pass costs a few
# sweeps over a (rows, slots) block, which on a wide table outweighs the decoder's matmul
# (10,000 x 3,000 numeric columns, 28,697 slots: 56 s a pass at 50,000 rows, scale.md).
CALIBRATION_CELLS = 600_000_000
CALIBRATION_STEPS = 5  # proportional-fitting steps
BATCH_ROWS = 8_192  # latents decoded at once
MAX_STEP = 4.0  # largest change of one logit in one step (nats)
MIN_FREQUENCY = 1e-6
# The offset of a slot no training row holds: far below the excluded pairs' -30 and -60, so
# it is drawn after every value a training row holds.
UNSEEN_OFFSET = -1e4


def calibration_rows(trained_rows: int, n_slots: int = 0) -> int:
    """Prior latents to calibrate on after a training loop that processed ``trained_rows``
    rows (epochs x rows), for a layout of ``n_slots`` softmax slots: a fixed share of its
    decoder passes, so calibration stays a small part of any fit (wide tables, few epochs),
    within [MIN_CALIBRATION_ROWS, CALIBRATION_ROWS], and at most CALIBRATION_CELLS slot
    probabilities a pass (binding above 12,000 slots). A default fit on Adult processes
    ~1.7M rows of 440 slots: the full 50,000."""
    rows = min(CALIBRATION_ROWS, TRAINING_SHARE * trained_rows)
    if n_slots:
        rows = min(rows, CALIBRATION_CELLS // n_slots)
    return int(max(MIN_CALIBRATION_ROWS, rows))


def slot_frequencies(data: torch.Tensor, layout: SpanLayout) -> torch.Tensor:
    """(n_slots,) share of the encoded rows ``data`` (rows, width) that hold each slot."""
    return data[:, layout.slot_index].float().mean(0)


@torch.no_grad()
def prior_slot_probabilities(decoder, layout: SpanLayout, z: torch.Tensor,
                             offsets: torch.Tensor, draws: tuple | None = None,
                             floor: torch.Tensor | None = None,
                             excluded: torch.Tensor | None = None) -> torch.Tensor:
    """(n_slots,) mean softmax probability of each slot over the latents ``z``.

    An autoregressive decoder needs ``draws``: the (uniform, noise) of its column-by-column
    draw for each latent (see :func:`common_draws`). ``floor``: the sampler's low-lift
    floors (:func:`synthvae.sampling.span_weights`), and ``excluded`` its value pairs
    never drawn together (:mod:`synthvae.exclusions`), applied as when sampling."""
    total = torch.zeros(len(layout.slot_index), device=z.device)
    if getattr(decoder, "autoregression", None) is not None:
        from synthvae.sampling import ColumnDrawer

        drawer, uniform, noise = ColumnDrawer(decoder, layout, floor, excluded), *draws
        sigma = decoder.sigma(z.new_ones((1, 1)))
        for start in range(0, len(z), BATCH_ROWS):
            rows = slice(start, start + BATCH_ROWS)
            block = torch.zeros((len(z[rows]), layout.width), device=z.device)
            drawer.draw(block, decoder(z[rows]) + offsets, sigma, uniform[rows], noise[rows],
                        slot_totals=total)
        return total / len(z)
    slot_floor = None if floor is None else floor[layout.slot_index]
    for batch in torch.split(z, BATCH_ROWS):
        weights = layout.group_weights((decoder(batch) + offsets)[:, layout.slot_index],
                                       slot_floor)
        total += (weights / layout.expand(layout.group_sum(weights))).sum(0)
    return total / len(z)


def common_draws(layout: SpanLayout, rows: int, generator: torch.Generator, device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, n_groups) uniforms and (rows, n_scalars) standard-normal noise, drawn once
    and reused by every calibration step."""
    return (torch.rand((rows, layout.n_groups), generator=generator, device=device),
            torch.randn((rows, layout.n_scalars), generator=generator, device=device))


@torch.no_grad()
def fit_logit_offsets(decoder, layout: SpanLayout, prior, target: torch.Tensor,
                      generator: torch.Generator, rows: int = CALIBRATION_ROWS,
                      steps: int = CALIBRATION_STEPS, floor: torch.Tensor | None = None,
                      excluded: torch.Tensor | None = None,
                      never_drawn: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """(width,) logit offsets (0 outside softmax slots) and a JSON-ready summary of the
    largest slot-frequency error before and after, in absolute share of rows. ``floor`` and
    ``excluded``: the sampler's low-lift floors and excluded pairs, so the frequencies
    matched are those of the rows drawn. ``never_drawn``: (n_slots,) bool, the slots no
    training row holds, offset by ``UNSEEN_OFFSET`` (None: only ``target``'s rows are known,
    as a streamed fit's sample or a DP release, whose zeros may be noise)."""
    width = layout.width
    device = target.device
    offsets = torch.zeros(width, device=device)
    z = prior.sample(rows, generator, device)
    draws = common_draws(layout, rows, generator, device) \
        if getattr(decoder, "autoregression", None) is not None else None
    log_target = torch.log(target.clamp_min(MIN_FREQUENCY))
    probs = prior_slot_probabilities(decoder, layout, z, offsets, draws, floor, excluded)
    before = (probs - target).abs().max()
    seen = target > 0  # a slot no training row holds keeps its logit unless ...
    if never_drawn is not None:  # ... it is known unused (a declared, unused category)
        offsets[layout.slot_index[never_drawn]] = UNSEEN_OFFSET
    for _ in range(steps):
        step = (log_target - torch.log(probs.clamp_min(MIN_FREQUENCY))).clamp(-MAX_STEP, MAX_STEP)
        offsets[layout.slot_index] += torch.where(seen, step, torch.zeros_like(step))
        probs = prior_slot_probabilities(decoder, layout, z, offsets, draws, floor, excluded)
    after = (probs - target).abs().max()
    summary = {"rows": rows, "steps": steps,
               "max_frequency_error_before": round(float(before), 5),
               "max_frequency_error_after": round(float(after), 5)}
    return offsets, summary
