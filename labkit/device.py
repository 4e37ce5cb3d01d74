"""Choosing the device and seeding every random number generator."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; a named device must exist."""
    if name not in DEVICES and not str(name).startswith("cuda:"):
        raise ValueError(f"device {name!r} is not known; choose one of: {', '.join(DEVICES)} (or cuda:N)")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for but CUDA is not available here; use device='auto' or 'cpu'")
    if name == "mps" and not mps_ok:
        raise RuntimeError("device 'mps' was asked for but Apple MPS is not available here; use device='auto' or 'cpu'")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """A human name for ``device`` (the GPU model for CUDA)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return {"mps": "Apple MPS", "cpu": "CPU"}.get(device.type, str(device))


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (the CPU for a model without parameters)."""
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so CPU runs repeat exactly."""
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
