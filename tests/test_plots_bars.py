"""One-epoch runs drawn as bars (labkit.curves): bars start at zero on a linear axis, and their legend
sits above the bars, never over them (the vae smoke report's log-scaled bars hid a test loss 25 % below
the training loss, and its legends covered bars)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import labkit  # noqa: E402
from labkit.train import History  # noqa: E402


def _runs():
    return {f"dropout={d}": History(f"d{d}", [{"epoch": 1, "train_loss": 370 + 100 * d, "test_loss": 279 + 50 * d}])
            for d in (0.0, 0.1, 0.5)}


def test_bars_start_at_zero_on_a_linear_axis_even_when_logy_is_asked():
    fig = labkit.curves(_runs(), metrics=("loss",), logy=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    heights = sorted(round(p.get_height()) for p in ax.patches)
    assert heights[0] == 279  # the lowest test loss is drawn at its full length


def test_the_legend_sits_above_the_bars():
    fig = labkit.curves(_runs(), metrics=("loss",))
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1 - 1


def test_a_bar_that_blew_up_is_cut_and_labelled_so_the_others_stay_readable():
    """The vae smoke lr sweep: the run at lr=0.1 ended at 3.2e4 nats beside 220-550; on a linear axis
    its bar flattened every other one."""
    values = {"1e-5": (549.4, 549.0), "1e-3": (478.4, 431.3), "1e-2": (287.7, 222.5), "1e-1": (3.2e4, 383.3)}
    runs = {f"lr={k}": History(k, [{"epoch": 1, "train_loss": a, "test_loss": b}]) for k, (a, b) in values.items()}
    ax = labkit.curves(runs, metrics=("loss",)).axes[0]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] < 1000  # the axis fits the runs that trained
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["32000 ↑"]  # the cut bar carries its value
    ax = labkit.curves(_runs(), metrics=("loss",)).axes[0]
    assert not ax.texts  # nothing cut when no bar stands out
