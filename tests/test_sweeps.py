import matplotlib
import pytest

matplotlib.use("Agg")

import labkit  # noqa: E402
from labkit import records as rec  # noqa: E402
from labkit.sweeps import Sweep, grid_settings, setting_label, sweep  # noqa: E402
from labkit.train import History, histories_table  # noqa: E402


def fake_train(lr, batch_size=64):
    rows = [{"epoch": e, "train_loss": lr * e, "test_loss": lr * e + 1, "train_acc": 0.5, "test_acc": 0.4,
             "seconds": 0.1} for e in (1, 2)]
    return History(rows=rows, summary={"fid": lr * 10})


def test_grid_is_the_cartesian_product_in_order():
    assert grid_settings({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(ValueError):
        grid_settings({"a": []})
    with pytest.raises(ValueError):
        grid_settings({"a": "abc"})


def test_labels():
    assert setting_label({"lr": 0.001}) == "0.001"
    assert setting_label({"lr": 0.1, "bs": 64}) == "lr=0.1, bs=64"


def test_sweep_table_curves_and_records():
    result = sweep(fake_train, {"lr": [0.1, 0.01]}, name="lr")
    table = result.table()
    assert list(table.index) == ["0.1", "0.01"]
    assert table.loc["0.1", "test_loss"] == pytest.approx(1.2) and table.loc["0.01", "fid"] == pytest.approx(0.1)
    fig = result.curves(["loss", "acc"])
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4  # two runs x (train, test)
    got = result.record(["test_loss", "fid"])
    assert set(got) == {"sweep_lr_0.1_test_loss", "sweep_lr_0.1_fid", "sweep_lr_0.01_test_loss", "sweep_lr_0.01_fid"}
    assert rec.RECORDS["sweep_lr_0.01_fid"] == pytest.approx(0.1)


def test_sweep_requires_histories():
    with pytest.raises(TypeError, match="must return a History"):
        sweep(lambda lr: 1.0, {"lr": [1]})
    assert Sweep("x").table().empty


def test_labels_take_a_format_per_parameter():
    assert setting_label({"lr": 0.001}, {"lr": "{:.0e}"}) == "1e-03"
    assert setting_label({"lr": 0.1, "bs": 64}, {"bs": lambda v: f"{v} images"}) == "lr=0.1, bs=64 images"
    result = sweep(fake_train, {"lr": [0.1, 0.01]}, name="lr", labels={"lr": "{:.0e}"})
    assert list(result.histories) == ["1e-01", "1e-02"] and result.settings["1e-02"] == {"lr": 0.01}


def test_run_names_extras_and_runs_added_from_elsewhere():
    seen = []

    def train(lr, run_name):
        seen.append(run_name)
        return fake_train(lr), {"model": f"net-{lr}"}

    result = sweep(train, {"lr": [0.1, 0.01]}, name="lr")
    assert seen == ["lr=0.1", "lr=0.01"] and result.run_name("0.1") == "lr=0.1"
    assert result.extras["0.01"] == {"model": "net-0.01"}
    longest = fake_train(0.5)
    result.add("truncated", longest.truncated(1), {"epochs": 1}, samples=[1, 2])
    assert result.histories["truncated"].epochs == 1 and result.extras["truncated"]["samples"] == [1, 2]
    assert "truncated" in result and len(result) == 3
    with pytest.raises(ValueError, match="already has a run labelled 'truncated'"):
        result.add("truncated", longest)
    with pytest.raises(TypeError, match="must be a History"):
        result.add("x", {"loss": 1})
    picked = result.select(["truncated", "0.1"], name="picked")
    assert list(picked.table().index) == ["truncated", "0.1"] and picked.extras["0.1"]["model"] == "net-0.1"
    with pytest.raises(KeyError, match="no runs \\['nope'\\]"):
        result.select(["nope"])
    sweep(fake_train, {"lr": [0.2]}, into=result)
    assert list(result.histories)[-1] == "0.2"


def test_histories_table_rows_columns_and_empty_input():
    runs = {"a": fake_train(0.1), "b": History(rows=[{"epoch": 1, "test_loss": 3.0, "seconds": 1.0}])}
    table = histories_table(runs)
    assert list(table.index) == ["a", "b"] and table.index.name == "setting"
    assert table.loc["b", "test_loss"] == 3.0 and table.loc["a", "fid"] == pytest.approx(1.0)
    assert table.loc["a", "seconds"] == pytest.approx(0.2)
    only = histories_table(runs, ["fid"], index="model")
    assert list(only.columns) == ["fid"] and only.index.name == "model" and only["fid"].isna().tolist() == [False, True]
    named = History(name="x", rows=[{"epoch": 1, "test_loss": 1.0, "seconds": 0.0}])
    assert list(histories_table([named]).index) == ["x"]
    empty = histories_table({}, ["fid"])
    assert empty.empty and list(empty.columns) == ["fid"]


def test_named_runs_train_once_each_under_their_name():
    calls = []

    def train(lr, run_name, epochs=2):
        calls.append((run_name, lr, epochs))
        return fake_train(lr), {"model": f"net-{lr}"}

    runs = Sweep("runs")
    history = runs.run("MLP VAE", train, lr=0.1, epochs=3)
    assert calls == [("MLP VAE", 0.1, 3)]  # a named run's full name is its label
    assert runs.histories["MLP VAE"] is history and history.name == "MLP VAE"
    assert runs.settings["MLP VAE"] == {"lr": 0.1, "epochs": 3} and runs.extras["MLP VAE"] == {"model": "net-0.1"}
    runs.run("plain", fake_train, lr=0.01)  # a train without run_name, returning only a History
    assert runs.extras["plain"] == {} and list(runs.table(["fid"], index="model").index) == ["MLP VAE", "plain"]
    assert runs.table(index="model").index.name == "model"
    with pytest.raises(ValueError, match="already has a run labelled 'plain'"):
        runs.run("plain", train, lr=0.5)
    assert len(calls) == 1  # refused before training
    with pytest.raises(TypeError, match="must return a History"):
        runs.run("bad", lambda: 1.0)
    assert "bad" not in runs


def test_record_names_metrics_and_labels_with_percent():
    noise = sweep(fake_train, {"lr": [0.01, 0.2]}, name="noise", labels={"lr": lambda v: f"{100 * v:g}%"})
    assert list(noise.histories) == ["1%", "20%"]
    got = noise.record({"test_loss_nats": "test_loss", "fid": "fid"}, prefix="noise")
    assert set(got) == {"noise_1pct_test_loss_nats", "noise_1pct_fid", "noise_20pct_test_loss_nats", "noise_20pct_fid"}
    assert rec.RECORDS["noise_20pct_test_loss_nats"] == pytest.approx(1.4) and got["noise_1pct_fid"] == pytest.approx(0.1)
    assert set(sweep(fake_train, {"lr": [0.1], "batch_size": [64]}, name="g").record(["fid"])) == {"sweep_g_lr_0.1_batch_size_64_fid"}


def test_fit_progress_bars_name_the_sweep_run(capsys):
    """Every run of a sweep trains the same model ("mlp"): its progress bar names the setting instead."""
    import torch
    from torch import nn

    from labkit.train import fit

    def train(lr):
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        data = (torch.randn(64, 4), torch.randn(64, 1))
        return fit(model, data, loss=lambda m, x, y: nn.functional.mse_loss(m(x), y),
                   optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=1, batch_size=32, name="mlp")

    result = sweep(train, {"lr": [0.1, 0.01]})
    out = capsys.readouterr().out
    assert "lr=0.1:" in out and "lr=0.01:" in out and "mlp:" not in out
    assert [h.name for h in result.histories.values()] == ["mlp", "mlp"]  # the History keeps its own name
    train(0.1)  # outside a sweep: the bar is the fit's own name
    assert "mlp:" in capsys.readouterr().out


def test_a_run_of_several_parameters_is_named_once_and_its_bar_fits_the_log_box(capsys):
    """mlp's optimizer sweep printed "optimizer=optimizer=sgd, rate=customary", and its bar lines were cut
    at 92 characters in the middle of the epoch's summary."""
    import torch
    from torch import nn

    from labkit.progress import WIDTH
    from labkit.train import fit

    names = []

    def train(optimizer, rate, run_name):
        names.append(run_name)
        torch.manual_seed(0)
        model = nn.Linear(4, 2)
        data = (torch.randn(64, 4), torch.randint(0, 2, (64,)))
        return fit(model, data, data, loss=labkit.classify(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                   epochs=2, batch_size=32, name="mlp")

    result = sweep(train, {"optimizer": ["sgd"], "rate": ["customary"]}, name="optimizer")
    assert names == ["optimizer=sgd, rate=customary"] == [result.run_name(label) for label in result.histories]
    lines = [line for chunk in capsys.readouterr().out.split("\n") for line in chunk.split("\r") if line.strip()]
    assert lines and all(len(line) <= WIDTH for line in lines), lines
    assert lines[-1].startswith("sgd, customary: 100%") and lines[-1].endswith("]"), lines[-1]
    assert "ep 2 loss" in lines[-1] and "acc" in lines[-1]
