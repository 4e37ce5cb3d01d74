"""Choosing the device and seeding every random number generator.

:func:`device_spelling_error` and the seed range need no torch (the report's parameter check uses
them before any kernel starts); torch is imported by the functions that use it.
"""
from __future__ import annotations

import operator
import os
import random
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
#: The seeds a lab's ``seed`` parameter takes: non-negative, signed 64-bit, which leaves room for the
#: derived seeds the labs use (``seed + 1009`` for a ``torch.Generator``) under torch's limit.
SEED_RANGE = (0, 2**63 - 1)
#: What ``torch.manual_seed`` takes (and so :func:`seed_everything`), from its documentation:
#: ``[-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff]``; the kit keeps to the non-negative part.
TORCH_SEED_RANGE = (0, 2**64 - 1)
_CUDA_INDEX = re.compile(r"cuda:(0|[1-9][0-9]{0,3})")


def device_spelling_error(name: object) -> str | None:
    """Why ``name`` is not a device name the kit accepts, or None when it is one.

    Accepted: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (N = 0, 1, ...) and ``"mps"``; whether the
    device exists here is :func:`pick_device`'s question.
    """
    if isinstance(name, str) and (name in DEVICES or _CUDA_INDEX.fullmatch(name)):
        return None
    return f"{name!r} is not a device; choose one of: {', '.join(DEVICES)} or cuda:N (N = 0, 1, ...)"


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; a named device must exist.

    Raises ValueError for a name that is not a device (:func:`device_spelling_error`) and
    RuntimeError for a device that this machine does not have.
    """
    import torch

    problem = device_spelling_error(name)
    if problem is not None:
        raise ValueError(f"device {problem}")
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
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return {"mps": "Apple MPS", "cpu": "CPU"}.get(device.type, str(device))


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (the CPU for a model without parameters)."""
    import torch

    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so CPU runs repeat exactly.

    ``seed`` is an int in :data:`TORCH_SEED_RANGE` (ValueError otherwise, before anything is seeded).
    NumPy's legacy seed and ``PYTHONHASHSEED`` (for child processes) take 32 bits: they get
    ``seed % 2**32``.
    """
    import numpy as np
    import torch

    try:
        seed = operator.index(seed) if not isinstance(seed, bool) else None  # NumPy integers too
    except TypeError:
        seed = None
    if seed is None or not TORCH_SEED_RANGE[0] <= seed <= TORCH_SEED_RANGE[1]:
        raise ValueError(f"the seed must be an integer from {TORCH_SEED_RANGE[0]} to {TORCH_SEED_RANGE[1]}")
    os.environ.setdefault("PYTHONHASHSEED", str(seed % 2**32))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
