"""Compute-device choice: CUDA, then Apple MPS, else CPU. Never a silent fallback.

`pick_device("auto")` takes the best device present; an explicit choice ("cuda", "cuda:1",
"mps", "cpu") that is not available raises DeviceUnavailable with the reason, so the GUI and
the CLI can show it instead of quietly running on the CPU.
"""
from __future__ import annotations

import torch


class DeviceUnavailable(RuntimeError):
    pass


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    out = []
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("mps")
    out.append("cpu")
    return out


def pick_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Resolve a device preference ("auto", "cuda", "cuda:N", "mps", "cpu")."""
    if isinstance(preference, torch.device):
        preference = str(preference)
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA GPU is visible (driver missing or CUDA_VISIBLE_DEVICES empty)")
            raise DeviceUnavailable(f"device {preference!r} requested but {why}; "
                                    f"available: {', '.join(available_devices())}")
        dev = torch.device(pref)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"device {preference!r} requested but only "
                                    f"{torch.cuda.device_count()} CUDA device(s) exist")
        return dev
    if pref == "mps":
        if not _mps_available():
            raise DeviceUnavailable(f"device 'mps' requested but Apple MPS is not available "
                                    f"on this machine; available: {', '.join(available_devices())}")
        return torch.device("mps")
    raise DeviceUnavailable(f"unknown device {preference!r}; use auto, cuda, cuda:N, mps or cpu")


def describe(device: torch.device | str) -> str:
    """Human-readable name for the status bar / logs, e.g. 'CUDA 0: NVIDIA H100 (79 GiB)'."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        p = torch.cuda.get_device_properties(idx)
        return f"CUDA {idx}: {p.name} ({p.total_memory / 2**30:.0f} GiB)"
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    import os
    n = os.cpu_count() or 1
    return f"CPU ({n} cores, {torch.get_num_threads()} torch threads)"
