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
    with pytest.raises(ValueError, match="device 'gpu' is not known; choose one of: auto, cpu, cuda, mps"):
        pick_device("gpu")


def test_device_name_and_model_device():
    assert device_name(torch.device("cpu")) == "CPU" and device_name(torch.device("mps")) == "Apple MPS"
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")  # no parameters


def test_seed_everything_repeats_every_generator():
    seed_everything(7)
    first = (random.random(), torch.rand(3).tolist())
    seed_everything(7)
    assert (random.random(), torch.rand(3).tolist()) == first
