"""The benchmarks time the notebooks' own models: each lab's step builds from its notebook and trains."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from _notebook import definitions  # noqa: E402
from shared_cpu import LABS, make_step  # noqa: E402


@pytest.mark.parametrize("lab", LABS)
def test_each_lab_step_is_built_from_the_notebook_and_trains(lab):
    torch.manual_seed(0)
    step = make_step(lab)
    step()  # one real training step: forward, backward, optimizer update
    step()


def test_definitions_run_no_experiment_and_name_what_is_missing():
    ns = definitions("dcgan")
    assert callable(ns.Generator) and callable(ns.Discriminator)
    assert not hasattr(ns, "cfg")  # the start call, data loading and training are not run
    with pytest.raises(AttributeError, match=r"notebooks/dcgan.ipynb defines no usable 'no_such_model'"):
        ns.no_such_model
