import matplotlib
import pytest

matplotlib.use("Agg")

from labkit import records as rec  # noqa: E402
from labkit.sweeps import Sweep, grid_settings, setting_label, sweep  # noqa: E402
from labkit.train import History  # noqa: E402


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
