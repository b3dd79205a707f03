"""Device selection: CPU always, CUDA when present; never hard-coded."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    """["cpu"] plus "cuda" when a CUDA device is visible."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def resolve_device(name: str) -> torch.device:
    """``torch.device`` for "cpu" or "cuda"; ValueError if it is unknown or not available here."""
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be one of ['cpu', 'cuda'], got {name!r}")
    if name not in available_devices():
        raise ValueError("device 'cuda' was requested but no CUDA device is available")
    return torch.device(name)
