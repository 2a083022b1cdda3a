"""The float32 every tensor of synthvae is, whatever torch's default dtype the caller set.

The model, its prior, the mixtures of the column transforms and the sampler build tensors
with torch's default dtype (``torch.zeros``, ``nn.Linear``) beside float32 encoded rows.
A caller who set ``torch.set_default_dtype(torch.float64)`` (common in scientific code) had
every fit, sample, score and drift fail on a dtype mismatch inside torch, and a valid model
file refused as damaged ("weight ... has shape (256,), expected (256,)"). Each public call
runs its torch work with float32 as the default, and restores the caller's after it.

torch's default dtype is one setting of the process, shared by its threads: calls running at
once in several threads (a web server's requests, Dask's threaded scheduler) share one
float32 span, which the last of them to finish ends. Each call setting and restoring it on
its own let one thread restore float64 while another was mid-draw ("expected m1 and m2 to
have the same dtype, but got: float != double").
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch


@contextmanager
def float32_default():
    """Run the block (or the decorated function) with torch's default dtype float32, and
    restore the caller's after it."""
    _enter()
    try:
        yield
    finally:
        _leave()


_LOCK = threading.Lock()
_span = {"calls": 0, "previous": torch.float32}  # calls inside the float32 span, and the
# default the first of them found (restored when the last leaves)


def _enter() -> None:
    with _LOCK:
        if _span["calls"] == 0:
            _span["previous"] = torch.get_default_dtype()
            if _span["previous"] != torch.float32:
                torch.set_default_dtype(torch.float32)
        _span["calls"] += 1


def _leave() -> None:
    with _LOCK:
        _span["calls"] -= 1
        if _span["calls"] == 0 and _span["previous"] != torch.float32:
            torch.set_default_dtype(_span["previous"])
