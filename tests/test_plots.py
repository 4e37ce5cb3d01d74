import matplotlib
import torch

matplotlib.use("Agg")

from labkit import plots  # noqa: E402
from labkit.train import History  # noqa: E402


def test_cjk_font_is_registered_when_installed():
    family = plots.setup_matplotlib()
    assert family is not None and "CJK" in family, "install fonts-noto-cjk (make setup) for Chinese figures"
    from matplotlib import font_manager
    found = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert found.endswith((".ttc", ".otf", ".ttf"))


def test_chinese_text_in_figures_has_every_glyph(recwarn):
    """Latin and Chinese in one title: drawn without a missing-glyph warning (no boxes)."""
    import matplotlib.pyplot as plt

    plots.setup_matplotlib()
    fig, ax = plt.subplots()
    ax.set_title("测试准确率 (test accuracy) −1")
    ax.set_xlabel("轮次 epoch")
    fig.canvas.draw()
    plt.close(fig)
    missing = [str(w.message) for w in recwarn if "missing from font" in str(w.message)]
    assert not missing, missing


def test_image_helpers_accept_uint8_flat_and_tanh_ranges():
    imgs = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    assert plots.to_images(imgs).max() <= 1
    flat = torch.rand(4, 784) * 2 - 1
    assert plots.to_images(flat, (-1, 1)).shape == (4, 1, 28, 28)
    fig = plots.image_grid(imgs, nrow=5, labels=[str(i) for i in range(10)])
    assert len(fig.axes) == 10
    table = plots.image_table({"a": imgs, "b": torch.rand(10, 3, 8, 8)}, nrow=5)
    assert len(table.axes) == 2


def test_curves_skip_missing_metrics():
    h = History("run", [{"epoch": 1, "train_loss": 1.0, "test_loss": 1.2}, {"epoch": 2, "train_loss": 0.5, "test_loss": 0.9}])
    fig = plots.curves(h, metrics=("loss", "acc"))
    assert len(fig.axes) == 1


def test_curves_labels_in_chinese():
    from labkit.i18n import set_language

    runs = {"lr=0.1": History(rows=[{"epoch": e, "train_recon": 2.0, "test_recon": 1.5, "train_loss": 1.0}
                                    for e in (1, 2)])}
    set_language("zh")
    try:
        fig = plots.curves(runs, metrics=("recon", "loss"))
    finally:
        set_language("en")
    assert [ax.get_ylabel() for ax in fig.axes] == ["重构损失", "损失"]
    legend = [text.get_text() for text in fig.legends[0].get_texts()]  # one legend for both panels
    assert legend == ["学习率=0.1 (训练)", "学习率=0.1 (测试)"]


def test_every_figure_fits_the_printed_page():
    """Figures are drawn at most PAGE_WIDTH inches wide (a wider one is shrunk by the browser, and its
    10 pt labels with it: a 13-inch figure printed them at 4 pt); curves wrap to two panels a row."""
    import matplotlib.pyplot as plt

    from labkit import image_scores

    imgs = torch.rand(64, 1, 28, 28)
    rows = [{"epoch": e, **{f"{s}_{m}": 1.0 / e for s in ("train", "test") for m in ("loss", "acc", "recon")}}
            for e in (1, 2, 3)]
    three = plots.curves({"a": History("a", rows), "b": History("b", rows)}, metrics=("loss", "acc", "recon"))
    assert sum(ax.axison for ax in three.axes) == 3 and len({ax.get_position().x0 for ax in three.axes}) == 2
    score = image_scores.ImageScore(fid=1.0, class_histogram=[0.1] * 10, class_entropy=2.3, n=100)
    figures = [three, plots.image_grid(imgs, nrow=16), plots.image_table({"a": imgs, "b": imgs}, nrow=16),
               image_scores.class_histograms({str(i): score for i in range(4)})]
    try:
        for fig in figures:
            width, height = fig.get_size_inches()
            assert width <= plots.PAGE_WIDTH + 1e-6, (fig, width)
            assert height > 0.5
    finally:
        for fig in figures:
            plt.close(fig)
    narrow = plots.finish(plt.figure(figsize=(4, 3)))
    assert tuple(narrow.get_size_inches()) == (4, 3)  # a figure that fits is left as drawn
    plt.close(narrow)


def test_curves_legend_hides_no_curve():
    """Many runs: one legend for the figure, in the empty panel or beneath the panels, never over the
    curves (eight entries inside a panel covered them)."""
    import matplotlib.pyplot as plt

    rows = [{"epoch": e, "train_loss": 1.0 / e, "test_loss": 1.1 / e, "train_acc": e / 5, "test_acc": e / 6,
             "train_recon": 2.0 / e, "test_recon": 2.1 / e} for e in (1, 2, 3)]
    runs = {f"run {i}": History(f"run {i}", rows) for i in range(4)}
    two = plots.curves(runs, metrics=("loss", "acc"))
    three = plots.curves(runs, metrics=("loss", "acc", "recon"))
    one = plots.curves(runs, metrics=("loss",))
    try:
        for fig in (two, one):
            assert not any(ax.get_legend() for ax in fig.axes) and len(fig.legends) == 1
            assert len(fig.legends[0].get_texts()) == 8
            legend = fig.legends[0].get_window_extent(fig.canvas.get_renderer())
            assert all(legend.y1 <= ax.get_tightbbox(fig.canvas.get_renderer()).y0 + 1 for ax in fig.axes)
        spare = [ax for ax in three.axes if not ax.axison]
        assert len(spare) == 1 and len(spare[0].get_legend().get_texts()) == 8
        assert not any(ax.get_legend() for ax in three.axes if ax.axison)
    finally:
        for fig in (two, three, one):
            plt.close(fig)


def test_one_epoch_runs_are_bars_not_dots():
    """Runs of one epoch (a smoke sweep) are drawn as bars of the final values, one group per run."""
    import matplotlib.pyplot as plt

    runs = {f"lr={lr}": History(f"lr={lr}", [{"epoch": 1, "train_loss": lr * 10, "test_loss": lr * 11}])
            for lr in (0.1, 0.01, 0.001)}
    fig = plots.curves(runs, metrics=("loss", "acc"))
    try:
        (ax,) = fig.axes
        assert not ax.lines and len(ax.patches) == 6  # three runs x (train, test)
        assert [tick.get_text() for tick in ax.get_xticklabels()] == [f"Learning rate={lr}" for lr in (0.1, 0.01, 0.001)]
        assert sorted(round(p.get_height(), 6) for p in ax.patches)[-1] == 1.1
    finally:
        plt.close(fig)


def test_blank_white_samples_stay_visible_in_an_image_grid():
    """A collapsed generator's all-white samples: the grid's separators are not white (the tester saw nothing)."""
    from labkit.plots import _grid

    grid = _grid(torch.ones(4, 1, 8, 8), nrow=4)
    assert grid.min() < 0.9 and grid.max() == 1.0


def test_a_single_panel_legend_of_few_entries_sits_beneath_the_panel():
    """One metric and at most 4 entries put the legend inside the axes (ax.legend()): it covered curves in
    vae's autoencoder losses and dcgan's FID chart. It is beneath the panel now, like the multi-panel case."""
    import matplotlib.pyplot as plt

    rows = [{"epoch": e, "train_loss": 1.0 / e, "test_loss": 1.1 / e} for e in (1, 2, 3)]
    for runs in ({"a": History("a", rows)}, {"a": History("a", rows), "b": History("b", rows[::-1])}):
        fig = plots.curves(runs, metrics=("loss",))
        try:
            renderer = fig.canvas.get_renderer()
            assert not any(ax.get_legend() for ax in fig.axes) and len(fig.legends) == 1
            legend = fig.legends[0].get_window_extent(renderer)
            assert legend.y1 <= fig.axes[0].get_tightbbox(renderer).y0 + 1  # below the panel and its labels
            assert legend.y0 >= 0 and legend.x0 >= 0 and legend.x1 <= fig.bbox.x1 + 1  # inside the figure
        finally:
            plt.close(fig)
