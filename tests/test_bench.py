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


# ------------------------------------------------------------------ the fraction of dense throughput

from _throughput import dense_work, fraction_of_dense  # noqa: E402
from torch import nn  # noqa: E402

import labkit  # noqa: E402


def test_dense_work_counts_the_forward_products_of_one_training_step():
    model = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))
    x, y = torch.randn(8, 20), torch.randint(0, 5, (8,))
    work = dense_work(lambda: labkit.fit(model, (x, y), epochs=1, batch_size=8, loss=labkit.classify(),
                                         optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress_bar=False))
    assert [str(c[0].overloadpacket) for c in work.calls] == ["aten.addmm", "aten.addmm"]  # no backward op
    assert work.forward_flops == 2 * 8 * (20 * 30 + 30 * 5)
    assert work.step_flops == 3 * work.forward_flops
    conv = nn.Conv2d(3, 4, 3, padding=1)
    assert dense_work(lambda: conv(torch.randn(2, 3, 8, 8)).sum().backward()).forward_flops == 2 * 2 * 4 * 8 * 8 * 3 * 9


def test_fraction_of_dense_prints_the_result_line(capsys):
    a, b = torch.randn(64, 64), torch.randn(64, 64, requires_grad=True)
    work = dense_work(lambda: (a @ b).sum().backward())
    replay = work.replay_seconds(0.05)[0]
    fraction = fraction_of_dense("toy", work, loop_seconds=1000 * replay, steps=10, replay_for=0.05)
    assert 0 < fraction < 0.5  # 10 steps of 3x the work in 1000x the time of one forward
    assert capsys.readouterr().out.splitlines()[-1] == f"toy_fraction_of_dense_throughput: {fraction:.2f}"
    with pytest.raises(RuntimeError, match="no matmul or convolution"):
        dense_work(lambda: torch.randn(3).relu())


def test_replay_cpu_time_counts_every_thread_though_the_kernel_accounts_them_per_tick(monkeypatch):
    """The process CPU clock adds a second thread's time only at the kernel's next tick (4 ms here): one
    replay of microseconds read as 1 CPU-second per second on 2 threads and halved the fraction."""
    import _throughput

    work = dense_work(lambda: (torch.randn(32, 32) @ torch.randn(32, 32, requires_grad=True)).sum().backward())
    perf_counter = _throughput.time.perf_counter
    # two threads busy all the time, accounted per 4 ms tick
    monkeypatch.setattr(_throughput.time, "process_time", lambda: 2 * (perf_counter() // 0.004) * 0.004)
    wall, cpu = work.replay_seconds(0.2)
    assert 1.7 < cpu / wall < 2.3


def test_run_collects_every_result_line():
    from run import RESULT

    assert RESULT.match("vae_fraction_of_dense_throughput: 0.41")
    assert RESULT.match("dcgan_epoch_speedup_vs_source: 12.30")
    assert not RESULT.match("labkit loop: 3.2 s/epoch") and not RESULT.match("repeat 1/2")


def test_vae_and_dcgan_benches_train_the_notebooks_models():
    import dcgan as dcgan_bench
    import vae as vae_bench

    MLPVAE, elbo = vae_bench.notebook_vae()
    assert type(MLPVAE).__name__ == "type" and MLPVAE.__module__ == "labkit_bench_vae"
    model = MLPVAE()
    assert [tuple(m.weight.shape) for m in model.modules() if isinstance(m, nn.Linear)] == \
        [(400, 784), (40, 400), (400, 20), (784, 400)]  # the source's 784-400-20, both heads in one Linear
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    history = labkit.fit(model, (x, torch.zeros(16, dtype=torch.long)), epochs=1, batch_size=8, loss=elbo,
                         optimizer=torch.optim.Adam(model.parameters()), progress_bar=False)
    assert {"train_loss", "train_recon", "train_kl"} <= set(history.keys())

    gan, _, _ = dcgan_bench.build(torch.device("cpu"), probability=False, fast=True)
    assert type(gan.g).__module__ == "labkit_bench_dcgan" and type(gan.d).__module__ == "labkit_bench_dcgan"
    source, _, _ = dcgan_bench.build(torch.device("cpu"), probability=True)
    assert all(torch.equal(a, b) for a, b in zip(gan.state_dict().values(), source.state_dict().values()))
    assert isinstance(list(source.d.modules())[-1], nn.Sigmoid)  # the source's probability output
    train = type("Split", (), {"x": x.repeat(4, 1, 1, 1), "y": torch.zeros(64, dtype=torch.long)})
    dcgan_bench.labkit_fit(train, torch.device("cpu"), 32, 64)  # two steps of the notebook's train_step
