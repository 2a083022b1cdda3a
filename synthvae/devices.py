"""Where a fit runs: the ``device`` parameter resolved, and the memory free there."""

from __future__ import annotations

import torch

from synthvae.errors import ConfigError


def resolve_device(device: str | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"The 'device' parameter of Synthesizer must be 'cpu', 'cuda', "
                          f"'cuda:N' or None. Got {device!r} instead.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"The 'device' parameter asks for {device!r}, but no CUDA GPU is "
                          f"available here; use the CPU (device='cpu', --device cpu) or "
                          f"leave the device unset.")
    return resolved


def available_memory(device: torch.device) -> int | None:
    """Free bytes on ``device`` (the GPU's, or the host's MemAvailable); None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
