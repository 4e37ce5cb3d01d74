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
