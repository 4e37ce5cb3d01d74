"""labkit.device: the device choice, a model's device, seeding."""
from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from labkit.device import device_name, model_device, pick_device, seed_everything


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_accelerator):
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_a_named_device_must_exist(no_accelerator):
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available here; use device='auto' or 'cpu'"):
        pick_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda:1")
    with pytest.raises(RuntimeError, match="'mps' was asked for"):
        pick_device("mps")
    with pytest.raises(ValueError, match=r"device 'gpu' is not a device; choose one of: auto, cpu, cuda, mps or cuda:N"):
        pick_device("gpu")
    for wrong in ("cuda:", "cuda:x", "cuda:-1", "CPU", "tpu", "cuda:01"):
        with pytest.raises(ValueError, match="is not a device"):
            pick_device(wrong)


def test_device_spellings_are_checked_without_torch():
    from labkit.device import device_spelling_error

    for right in ("auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"):
        assert device_spelling_error(right) is None, right
    for wrong in ("tpu", "gpu", "cuda:", "cuda:a", " cpu", "", None, 0):
        assert "is not a device; choose one of: auto, cpu, cuda, mps or cuda:N" in device_spelling_error(wrong)
    # the report's parameter check uses it before any kernel starts: importing it imports no torch
    code = "import sys, labkit.device; assert 'torch' not in sys.modules, 'torch imported'"
    import subprocess, sys
    subprocess.run([sys.executable, "-c", code], check=True)


def test_device_name_and_model_device():
    assert device_name(torch.device("cpu")) == "CPU" and device_name(torch.device("mps")) == "Apple MPS"
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")  # no parameters


def test_seed_everything_takes_the_seeds_torch_takes():
    import numpy as np

    seed_everything(2**64 - 1)  # torch.manual_seed's documented maximum
    seed_everything(np.int64(3))
    for wrong in (-1, 2**64, 99999999999999999999, 1.5, True, "3"):
        with pytest.raises(ValueError, match="the seed must be an integer from 0 to 18446744073709551615"):
            seed_everything(wrong)


def test_seed_everything_repeats_every_generator():
    seed_everything(7)
    first = (random.random(), torch.rand(3).tolist())
    seed_everything(7)
    assert (random.random(), torch.rand(3).tolist()) == first
