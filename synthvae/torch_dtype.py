"""The float32 every tensor of synthvae is, whatever torch's default dtype the caller set.

The model, its prior, the mixtures of the column transforms and the sampler build tensors
with torch's default dtype (``torch.zeros``, ``nn.Linear``) beside float32 encoded rows.
A caller who set ``torch.set_default_dtype(torch.float64)`` (common in scientific code) had
every fit, sample, score and drift fail on a dtype mismatch inside torch, and a valid model
file refused as damaged ("weight ... has shape (256,), expected (256,)"). Each public call
runs its torch work with float32 as the default, and restores the caller's after it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, TypeVar

import torch

T = TypeVar("T")


@contextmanager
def float32_default():
    """Run the block (or the decorated function) with torch's default dtype float32, and
    restore the caller's after it."""
    previous = torch.get_default_dtype()
    if previous == torch.float32:
        yield
        return
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def in_float32(items: Iterator[T]) -> Iterator[T]:
    """Iterate ``items`` computing each under :func:`float32_default`, and the caller's
    default between items, while the caller has them (sampling streams)."""
    iterator = iter(items)
    while True:
        with float32_default():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item
