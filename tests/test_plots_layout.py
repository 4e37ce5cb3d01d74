"""Image tables are laid out for the printed page: as wide as the page allows, no taller than
IMAGE_TABLE_HEIGHT unless the images would become too small, rows packed (no blank band between
them), and every label inside the figure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from labkit import plots  # noqa: E402

plots.setup_matplotlib()


def _layout(fig):
    fig.canvas.draw()  # places the labels
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
    labels = [ax.yaxis.label.get_window_extent(renderer) for ax in fig.axes]
    return width, height, boxes, labels, fig.dpi


@pytest.mark.parametrize("rows, nrow", [(3, 16), (12, 16), (20, 10)])
def test_image_table_fits_the_page_and_packs_its_rows(rows, nrow):
    images = {f"MLP 自编码器 {i}": torch.rand(nrow, 1, 28, 28) for i in range(rows)}
    fig = plots.image_table(images, nrow=nrow, title="每类随机 10 张测试图像及其重构")
    try:
        width, height, boxes, labels, dpi = _layout(fig)
        assert width <= plots.PAGE_WIDTH + 1e-6
        image = boxes[0].width / nrow / dpi  # inches per image
        assert image >= plots.MIN_IMAGE_SIZE - 1e-6
        assert height <= plots.IMAGE_TABLE_HEIGHT + 1e-6 or image <= plots.MIN_IMAGE_SIZE * 1.02
        for upper, lower in zip(boxes, boxes[1:]):  # consecutive rows: a thin gap, no blank band
            assert 0 < (upper.y0 - lower.y1) / dpi < 0.1
        assert all(box.x0 >= 0 for box in labels)  # no label cut at the left edge
        # the box has the grid's own aspect (28-pixel images, 2-pixel separators): the images are not squeezed
        assert abs(boxes[0].width / boxes[0].height - (30 * nrow + 2) / 32) < 0.05
    finally:
        plt.close(fig)


def test_a_few_rows_keep_their_requested_size():
    fig = plots.image_table({"a": torch.rand(8, 1, 28, 28), "b": torch.rand(8, 1, 28, 28)}, nrow=8, size=0.5)
    try:
        width, height, boxes, _, dpi = _layout(fig)
        assert abs(boxes[0].width / dpi - 8 * 0.5) < 0.05 and height < 1.5
    finally:
        plt.close(fig)


@pytest.mark.parametrize("names", [["airplane", "automobile", "bird", "truck", "ship"],
                                   ["汽车（预测：飞机，87%）", "a very long label for one small image", "猫"]])
def test_labelled_image_grid_labels_never_touch_and_images_use_the_width(names):
    """CIFAR-10's grid printed "automobileautomobile" and 7 mm thumbnails: labels now fit their column."""
    labels = [names[i % len(names)] for i in range(30)]
    fig = plots.image_grid(torch.rand(30, 3, 32, 32), nrow=10, labels=labels, title="CIFAR-10 训练图像")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        width, _ = fig.get_size_inches()
        assert width <= plots.PAGE_WIDTH + 1e-6
        images = [ax.get_window_extent(renderer) for ax in fig.axes]
        assert min(box.width for box in images) / fig.dpi >= 0.5  # 10 across the page: over 12 mm each
        captions = [text for text in fig.texts if text is not fig._suptitle] + [ax.title for ax in fig.axes]
        texts = sorted((text.get_window_extent(renderer) for text in captions if text.get_text()),
                       key=lambda box: (round(box.y0), box.x0))
        assert len(texts) == 30
        for left, right in zip(texts, texts[1:]):
            if abs(left.y0 - right.y0) < 1:  # the same row
                assert left.x1 < right.x0, "adjacent labels overlap"
        assert all(box.x0 >= 0 and box.x1 <= width * fig.dpi for box in texts)
    finally:
        plt.close(fig)


def test_image_table_row_labels_in_the_reports_language():
    from labkit import i18n

    try:
        i18n.set_language("zh")
        fig = plots.image_table({"recipe=source": torch.rand(4, 1, 28, 28), "lr=0.01": torch.rand(4, 1, 28, 28)}, nrow=4)
        assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["方案=源报告方案", "学习率=0.01"]
        plt.close(fig)
    finally:
        i18n.set_language("en")


def test_a_long_title_wraps_inside_the_page_instead_of_widening_the_figure():
    """mlp's optimizer figure took the sweep's long caption as its title: saved wider than the page, the
    report shrank the figure, and its 7.5 pt legend printed at about 4 pt."""
    import io

    from PIL import Image

    fig, ax = plt.subplots(figsize=(plots.PAGE_WIDTH, 2.0))
    ax.plot([1, 2, 3])
    title = ("Sweep: optimizer, at its customary rate (SGD 0.05, Adam 0.005, Adadelta 1) and at the shared "
             "learning rate 0.005: training and test curves of every run")
    plots.finish(fig, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)  # as the notebook's inline backend saves it
    assert Image.open(buffer).size[0] <= (plots.PAGE_WIDTH + 0.2) * 100  # the page, and the crop's 0.1 in pads
    assert fig._suptitle.get_text().replace("\n", " ") == title and "\n" in fig._suptitle.get_text()
    plt.close(fig)


def test_a_legend_beneath_the_panels_fits_the_page_in_chinese():
    """Columns were chosen by character count: four columns of 18-character Chinese labels (each character twice a
    Latin letter's width) overflowed the page, and the report shrank the whole figure."""
    import io

    from PIL import Image

    from labkit import i18n
    from labkit.train import History

    plots.setup_matplotlib()  # the CJK font, as labkit.start registers it
    runs = {f"第{k}组：优化器与学习率组合": History(rows=[{"epoch": e, "train_loss": 1.0 / (e + k), "test_loss": 1.1 / (e + k),
                                                      "train_acc": 0.5 + 0.01 * e, "test_acc": 0.5}
                                                     for e in (1, 2, 3)]) for k in range(8)}
    try:
        i18n.set_language("zh")
        fig = plots.curves(runs, ["loss", "acc"])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
        assert Image.open(buffer).size[0] <= (plots.PAGE_WIDTH + 0.2) * 100
        plt.close(fig)
    finally:
        i18n.set_language("en")
    assert plots.legend_columns(plt.figure(figsize=(6.3, 2)), ["a", "b", "c", "d", "e"]) == 4
