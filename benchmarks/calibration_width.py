"""Marginal calibration's cost and precision on a wide table (issue 19.2)::

    python -m benchmarks.calibration_width --rows 10000 --columns 3000 --latents 50000,25000

Fits ``--rows`` x ``--columns`` numeric columns (:func:`benchmarks.scale.mixture_table`) for
one epoch, then runs the calibration (:meth:`VAEGenerator.calibrate`) with each number of
prior latents in turn, timing it, and scores each set of offsets on 50,000 fresh latents: the
largest and mean absolute gap between the model's slot frequencies and the training rows'.
Writes ``results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.common import machine, write_json
from benchmarks.scale import mixture_table

FRESH_LATENTS = 50_000


def fresh_frequency_error(synth, frequencies) -> dict:
    """The slot-frequency gap of the calibrated sampler on latents it was not fitted on."""
    import torch

    from synthvae import calibration

    generator, cpu = synth.generator_, torch.device("cpu")
    draws_from = torch.Generator().manual_seed(99)
    z = generator.prior.sample(FRESH_LATENTS, draws_from, cpu)
    draws = calibration.common_draws(synth.layout_, FRESH_LATENTS, draws_from, cpu) \
        if generator.model.decoder.autoregression is not None else None
    probs = calibration.prior_slot_probabilities(generator.model.decoder, synth.layout_, z,
                                                 generator.offsets, draws, generator.floor)
    gap = (probs - frequencies).abs()
    return {"fresh_max_error": round(float(gap.max()), 6),
            "fresh_mean_error": round(float(gap.mean()), 7)}


def main(argv=None) -> None:
    import torch

    from synthvae import Synthesizer
    from synthvae.calibration import slot_frequencies

    p = argparse.ArgumentParser(prog="python -m benchmarks.calibration_width")
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--columns", type=int, default=3_000)
    p.add_argument("--latents", default="50000,25000")
    p.add_argument("--name", default="calibration-width")
    args = p.parse_args(argv)
    df = mixture_table(args.rows, args.columns)
    start = time.perf_counter()
    synth = Synthesizer(epochs=1, seed=0, verbose=False).fit(df)
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
              "threads": torch.get_num_threads(), "load_at_start": round(os.getloadavg()[0], 2),
              "rows": args.rows, "columns": args.columns,
              "fit_1_epoch_s": round(time.perf_counter() - start, 1),
              "width": synth.layout_.width, "slots": int(len(synth.layout_.slot_index)),
              "calibrations": []}
    encoded = torch.as_tensor(synth.transformer_.transform(df, seed=0), dtype=torch.float32)
    frequencies = slot_frequencies(encoded, synth.layout_)
    for latents in (int(n) for n in args.latents.split(",")):
        start = time.perf_counter()
        summary = synth.generator_.calibrate(frequencies, 0, latents)
        run = {"latents": latents, "seconds": round(time.perf_counter() - start, 3),
               "summary": summary, **fresh_frequency_error(synth, frequencies)}
        result["calibrations"].append(run)
        print(run, flush=True)
        write_json(args.name, result)


if __name__ == "__main__":
    main()
