"""Figures for the labs: learning curves and image grids, Chinese-capable.

Every function returns its matplotlib ``Figure``; in a notebook end the line
with ``;`` (or assign the result) so the figure is shown once.
"""
from __future__ import annotations

import glob
import math
import re
from typing import Any, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import torch
from matplotlib import font_manager
from matplotlib.ticker import MaxNLocator

from labkit.i18n import CJK, CJK_CLOSING, label as metric_label, setting_label, t, tr
from labkit.train import History

CJK_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.ttc",
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/**/NotoSansSC*.[ot]tf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.tt[cf]",
)


def setup_matplotlib() -> str | None:
    """Register a CJK font with matplotlib and set the kit's figure style.

    Returns the CJK font family used, or None when no CJK font is installed
    (then Chinese text in figures shows as boxes: install ``fonts-noto-cjk``).
    """
    family = None
    for pattern in CJK_FONT_GLOBS:
        files = sorted(glob.glob(pattern, recursive=True))
        if files:
            font_manager.fontManager.addfont(files[0])
            family = font_manager.FontProperties(fname=files[0]).get_name()
            break
    sans = ["DejaVu Sans"] + ([family] if family else [])
    matplotlib.rcParams.update({
        # Two families: matplotlib falls back glyph by glyph only across font.family's entries, so Latin
        # text is drawn with DejaVu Sans and Chinese with the CJK font ("sans-serif" alone resolves to
        # one font, and every Chinese glyph would be a box).
        "font.family": ["sans-serif"] + ([family] if family else []),
        "font.sans-serif": sans + [f for f in matplotlib.rcParams["font.sans-serif"] if f not in sans],
        "axes.unicode_minus": False,
        "figure.dpi": 110,
        "savefig.dpi": 150,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.autolayout": False,
    })
    return family


#: The widest figure, in inches, that prints at its own size on the A4 report: the printed output area
#: is 6.3 in wide, and the report prints every figure at the size it was drawn
#: (:func:`labkit.report.document.png_print_width`). A wider figure is shrunk to the page by the
#: browser, and its text with it (a 13-inch figure printed its 10 pt labels at 4 pt), so :func:`finish`
#: draws it at this width instead.
PAGE_WIDTH = 6.3
#: The height, in inches, of one row of panels in :func:`curves` (two rows and a legend print in under
#: half a page, so a figure shares its page with the text or table next to it).
PANEL_HEIGHT = 2.0


def _runs(runs: History | Mapping[str, History]) -> Mapping[str, History]:
    return {runs.name or "": runs} if isinstance(runs, History) else runs


def curves(runs: History | Mapping[str, History], metrics: Sequence[str] = ("loss", "acc"),
           title: str | None = None, splits: Sequence[str] = ("train", "test"), logy: bool = False):
    """Per-epoch curves, one panel per metric, every run overlaid.

    ``runs`` is one :class:`History` or ``{label: History}``; train curves
    are dashed, test curves solid, one colour per run. Metrics missing from
    every run are skipped. Axis labels and run labels (``lr=0.01``) are in the
    report's language where the kit knows the names (:func:`labkit.i18n.label`).
    """
    runs = _runs(runs)
    metrics = [m for m in metrics if any(f"{s}_{m}" in h for h in runs.values() for s in splits)]
    if not metrics:
        raise ValueError("none of the requested metrics were recorded in these runs")
    columns = min(len(metrics), 2)  # two panels a row: each keeps a readable width on the page
    rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(PAGE_WIDTH if columns == 2 else 4.6, PANEL_HEIGHT * rows),
                             squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if all(len(history["epoch"]) <= 1 for history in runs.values()):
        return _final_bars(fig, axes, runs, metrics, splits, title, colours)
    keys = [f"{split}_{metric}" for metric in metrics for split in splits]
    under = _coinciding(runs, keys)
    for ax, metric in zip(axes.flat, metrics):
        for i, (label, history) in enumerate(runs.items()):
            colour = colours[i % len(colours)]
            for split, style in zip(splits, ("--", "-", ":")):
                key = f"{split}_{metric}"
                if key in history:
                    shown = setting_label(label)
                    name = f"{shown} ({t('figure.' + split)})" if label else t("figure." + split)
                    few = len(history[key]) < 30
                    if label in under:  # drawn over another run's curve: hollow rings, and the legend says so
                        name += tr(" = {other}", " 与 {other} 重合", other=setting_label(under[label]))
                        ax.plot(history["epoch"], history[key], style, color=colour, label=name, marker="o",
                                markersize=6 if few else 0, markerfacecolor="none", markeredgewidth=1.2,
                                linewidth=2.4, alpha=0.75, zorder=1.5)
                        continue
                    ax.plot(history["epoch"], history[key], style, color=colour, label=name, marker="." if few else None)
        ax.set_xlabel(t("figure.epoch"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(metric_label(metric))
        if logy:
            ax.set_yscale("log")
    entries: dict[str, Any] = {}
    for ax in axes.flat[:len(metrics)]:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(name, handle)
    # one legend for all panels, where it hides no curve: in the empty panel, else beneath the panels (a
    # single panel too: matplotlib's "best" place inside the axes covered curves, vae's losses, dcgan's FID)
    if len(metrics) < axes.size:
        spare = axes.flat[len(metrics)]
        spare.legend(entries.values(), entries.keys(), loc="center", fontsize=7.5, frameon=False,
                     ncol=1 if len(entries) <= 12 else 2)
        return finish(fig, title)
    ncol = legend_columns(fig, list(entries))
    below = 0.17 * math.ceil(len(entries) / ncol) + 0.06  # inches for the legend's rows
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + below)
    fig.legend(entries.values(), entries.keys(), loc="lower center", ncol=ncol, fontsize=7.5, frameon=False)
    return finish(fig, title, bottom=below)


def legend_columns(fig, names: Sequence[str], fontsize: float = 7.5, most: int = 4) -> int:
    """How many columns a legend of ``names`` beneath a figure can have and still fit the page's width
    (:data:`PAGE_WIDTH`, or the figure's if narrower): at most ``most``, at least 1, from the printed
    width of the widest name (measured: a Chinese character is twice a Latin letter's width, and four
    columns of Chinese names counted by characters overflowed the page and shrank the figure)."""
    if not names:
        return 1
    renderer = fig.canvas.get_renderer()
    widest = max(_text_width(fig, renderer, str(name), fontsize) for name in names)
    entry = widest + 0.5  # the line sample before each name and the gap after it, in inches
    room = min(fig.get_size_inches()[0], PAGE_WIDTH) - 0.2
    return max(1, min(len(names), most, int(room // entry)))


def _coinciding(runs: Mapping[str, History], keys: Sequence[str]) -> dict[str, str]:
    """``{label: earlier label}`` for each run whose every curve among ``keys`` lies exactly on an earlier
    run's (same values at each of its epochs, within float noise): drawn one over the other they would show
    one curve for two legend entries, so :func:`curves` marks the later one."""
    found: dict[str, str] = {}
    items = list(runs.items())
    for i, (label, history) in enumerate(items):
        drawn = [key for key in keys if key in history]
        if not drawn:
            continue
        for other, earlier in items[:i]:
            if other in found:
                continue
            by_epoch = {key: dict(zip(earlier["epoch"], earlier[key])) for key in drawn if key in earlier}
            if len(by_epoch) == len(drawn) and all(
                    epoch in by_epoch[key] and math.isclose(float(value), float(by_epoch[key][epoch]),
                                                             rel_tol=1e-6, abs_tol=1e-9)
                    for key in drawn for epoch, value in zip(history["epoch"], history[key])):
                found[label] = other
                break
    return found


def _final_bars(fig, axes, runs, metrics, splits, title, colours):
    """:func:`curves` for runs of one epoch: bars of the final values (a curve of one point is an axis
    holding one dot), one group per run, the splits side by side (train hatched). The value axis is
    linear from zero, whatever ``logy`` asks: a bar's length is its value, and on a log axis with its
    bottom cut off a test loss 25 % below the training loss drew as a bar of nearly nothing. A bar more
    than :data:`OUTLIER` times the median of its panel (a run that blew up: 3.2e4 nats beside 300–550)
    is cut at the top of the axis and labelled with its value, so the other bars stay readable."""
    names = [str(setting_label(label)) or t("figure." + splits[-1]) for label in runs]
    present = [s for s in splits if any(f"{s}_{m}" in h for h in runs.values() for m in metrics)]
    width = 0.8 / max(len(present), 1)
    for ax, metric in zip(axes.flat, metrics):
        drawn = []
        for j, split in enumerate(present):
            key = f"{split}_{metric}"
            values = [history.last(key) if key in history else float("nan") for history in runs.values()]
            spots = [i + (j - (len(present) - 1) / 2) * width for i in range(len(runs))]
            ax.bar(spots, values, width,
                   color=[colours[i % len(colours)] for i in range(len(runs))],
                   hatch="//" if split == "train" and len(present) > 1 else None, alpha=0.55 if split == "train" else 1,
                   edgecolor="white", label=t("figure." + split))
            drawn += [(x, v) for x, v in zip(spots, values) if math.isfinite(v)]
        _cut_outliers(ax, drawn)
        ax.set_xticks(range(len(runs)), names, rotation=30 if max(map(len, names)) > 6 else 0,
                      ha="right" if max(map(len, names)) > 6 else "center", fontsize=8)
        ax.set_ylabel(metric_label(metric))
        ax.set_xlabel(t("figure.one_epoch"), fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(axis="x", visible=False)
    if len(present) > 1:  # above the bars, never over them
        axes.flat[0].legend(fontsize=7.5, ncol=len(present), loc="lower left", bbox_to_anchor=(0, 1.0),
                            frameon=False, borderaxespad=0.2)
    return finish(fig, title)


#: A bar higher than this multiple of its panel's median is cut at the top of the axis (:func:`curves`).
OUTLIER = 10.0


def _cut_outliers(ax, bars: list[tuple[float, float]]) -> None:
    """Cut the value axis above the bars that are not outliers (see :data:`OUTLIER`); write an outlier's
    value at the top of its cut bar, with an arrow up."""
    from statistics import median

    from labkit.records import format_number

    positive = sorted(v for _, v in bars if v > 0)
    if len(positive) < 3:
        return
    limit = OUTLIER * median(positive)
    kept = [v for v in positive if v <= limit]
    if len(kept) == len(positive) or not kept:
        return
    top = 1.3 * max(kept)
    ax.set_ylim(0, top)
    for x, v in bars:
        if v > top:
            ax.annotate(f"{format_number(v)} ↑", (x, top), xytext=(0, -2), textcoords="offset points",
                        ha="center", va="top", fontsize=7, rotation=90, color="#b00020")


#: The least height, in inches, of a row of chart panels that :func:`fit_page` narrowed.
MIN_ROW_HEIGHT = 1.9


def fit_page(fig, width: float = PAGE_WIDTH):
    """Narrow ``fig`` to at most ``width`` inches, so that its text prints at its own point size on the
    report's page; a narrower figure is left as it is. Returns it.

    Image grids keep their aspect ratio; a figure of charts keeps at least :data:`MIN_ROW_HEIGHT` per
    row of panels (the titles and tick labels keep their size, so the plotting area must not shrink
    to a sliver).
    """
    w, h = fig.get_size_inches()
    if w <= width:
        return fig
    height = h * width / w
    charts = [ax for ax in fig.axes if ax.axison and not ax.images and ax.get_subplotspec() is not None]
    if charts:
        rows = max(ax.get_subplotspec().get_gridspec().nrows for ax in charts)
        height = max(height, min(h, MIN_ROW_HEIGHT * rows))
    fig.set_size_inches(width, height)
    return fig


def finish(fig, title: str | None = None, ax=None, *, bottom: float = 0.0):
    """Title a figure (``ax``'s title if given, else the figure's), fit it to the page (:func:`fit_page`),
    lay it out tightly, return it. ``bottom``: inches kept free at the foot (for a figure legend).

    The last step of every figure labkit draws, so they all look alike.
    """
    fit_page(fig)
    if title:
        artist = (ax.set_title if ax is not None else fig.suptitle)(title)
        # the figure's (or the panel's) width, less the 0.1 in the notebook's tight crop pads each side with
        width = (ax.get_position().width if ax is not None else 1.0) * fig.get_size_inches()[0] - 0.2
        artist.set_text(wrap_text(fig, fig.canvas.get_renderer(), title, width, artist.get_fontsize()))
    fig.tight_layout(rect=(0, min(bottom / fig.get_size_inches()[1], 0.5), 1, 1))
    return fig


#: A token of :func:`wrap_text`: one Chinese character with the closing marks that follow it, a word with
#: the spaces after it, or a run of spaces.
_TOKEN = re.compile(rf"[{CJK}][{CJK_CLOSING}]*|[^\s{CJK}]+\s*|\s+")


def wrap_text(fig, renderer, text: str, width: float, fontsize: float) -> str:
    """``text`` broken into lines of at most ``width`` inches at ``fontsize`` points (measured): between
    words, and between Chinese characters (never before a closing punctuation mark); the only rule
    labkit breaks text by (titles, panel titles, image labels: :func:`fit_label`). A title wider than
    its figure was saved outside it, which widened the image past the page, and the report shrank the
    whole figure, legends included, to fit (mlp's optimizer figure printed its 7.5 pt legend at 4 pt).

    Balanced: as few lines as the width allows, and of those the narrowest line width that still gives
    that many, so the lines come out as even as the breaks allow (filling each line first left titles
    with one character alone on the last line). A word wider than ``width`` stays whole on its own line;
    a ``\\n`` in ``text`` is kept."""
    widths: dict[str, float] = {}

    def measure(line: str) -> float:
        if line not in widths:
            widths[line] = _text_width(fig, renderer, line, fontsize)
        return widths[line]

    def greedy(tokens: list[str], limit: float) -> list[str]:
        lines, line = [], ""
        for token in tokens:
            if line.strip() and measure((line + token).rstrip()) > limit:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line += token
        return lines + [line.rstrip()]

    out = []
    for paragraph in text.split("\n"):
        tokens = _TOKEN.findall(paragraph)
        lines = greedy(tokens, width)
        if len(lines) > 1:  # the narrowest limit that keeps this many lines (to 1/100 inch)
            low = max(measure(line) for line in lines) / len(lines)
            high = max(measure(line) for line in lines)
            while high - low > 0.01:
                middle = (low + high) / 2
                if len(greedy(tokens, middle)) <= len(lines):
                    high = middle
                else:
                    low = middle
            lines = greedy(tokens, high)
        out += lines
    return "\n".join(out)


def to_images(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Images as floats in [0, 1], shape (N, C, H, W), from uint8 or any value range."""
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        return images.float() / 255
    low, high = value_range
    images = (images.float() - low) / (high - low)
    if images.dim() == 2:  # flattened square grey images
        side = int(math.isqrt(images.shape[1]))
        images = images.view(-1, 1, side, side)
    return images.clamp(0, 1)


def _grid(images: torch.Tensor, nrow: int) -> torch.Tensor:
    """Images side by side, separated by mid-grey lines: white samples on a white page stay visible (a
    collapsed generator's blank images printed as nothing at all with white separators)."""
    from torchvision.utils import make_grid
    return make_grid(images, nrow=nrow, padding=2, pad_value=0.5).permute(1, 2, 0).numpy()


def image_grid(images: torch.Tensor, nrow: int = 8, title: str | None = None,
               labels: Sequence[str] | None = None, value_range: tuple[float, float] = (0.0, 1.0),
               size: float = 0.9):
    """One grid of images (``nrow`` per row), optionally captioned one by one.

    ``images``: (N, C, H, W) or (N, H*W) tensor, uint8 or floats in ``value_range``
    (use ``(-1, 1)`` for tanh outputs). With ``labels``, each image gets its caption, fitted to its
    column (:func:`_labelled_grid`: at most :data:`PAGE_WIDTH` wide, labels shrunk, wrapped or shortened).
    """
    images = to_images(images, value_range)
    n = len(images)
    rows = math.ceil(n / nrow)
    if labels is None:
        fig, ax = plt.subplots(figsize=(size * nrow, size * rows + (0.4 if title else 0)))
        grid = _grid(images, nrow)
        ax.imshow(grid[..., 0] if images.shape[1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
        return finish(fig, title, ax)
    return _labelled_grid(images, [str(text) for text in labels], min(nrow, n), title, size)


#: Label sizes, in points, of a labelled :func:`image_grid`: the largest at which every label fits its
#: image's column; a label still too wide at the smallest is wrapped (:func:`fit_label`: two lines at
#: most), then shortened with "…".
LABEL_SIZES = (8.0, 7.0, 6.0)
_CELL_GAP = 0.06  # inches between two images of a labelled grid


def _text_width(fig, renderer, text: str, fontsize: float) -> float:
    """The printed width of ``text`` at ``fontsize`` points, in inches (measured, CJK included)."""
    artist = fig.text(0, 0, text, fontsize=fontsize)
    width = artist.get_window_extent(renderer).width / fig.dpi
    artist.remove()
    return width


def fit_label(fig, renderer, text: str, width: float, fontsize: float, lines: int = 2) -> str:
    """``text`` made to fit ``width`` inches at ``fontsize`` points in at most ``lines`` lines: wrapped
    by :func:`wrap_text` (between words and between Chinese characters, balanced); else the longest
    prefix that so fits, ending in "…"."""
    def fits(candidate: str) -> str | None:
        wrapped = wrap_text(fig, renderer, candidate, width, fontsize)
        parts = wrapped.split("\n")
        return wrapped if len(parts) <= lines and all(
            _text_width(fig, renderer, part, fontsize) <= width for part in parts) else None

    whole = fits(text)
    if whole is not None:
        return whole
    low, high = 0, len(text) - 1  # fits(text[:low] + "…") holds (or low = 0); the longest such prefix
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle].rstrip() + "…") is not None:
            low = middle
        else:
            high = middle - 1
    return fits(text[:low].rstrip() + "…") or text[:1] + "…"


def _labelled_grid(images: torch.Tensor, labels: list[str], columns: int, title: str | None, size: float):
    """:func:`image_grid` with a caption under each image, laid out exactly: each column as wide as the
    widest label at 8 pt needs (at least ``size`` inches, at most the page's width shared by the
    columns), the images as large as their column allows (at most ``size``), the labels at one size
    (:data:`LABEL_SIZES`) chosen so that they fit their column, wrapped or shortened when not
    (:func:`fit_label`): adjacent labels never run together."""
    n = len(images)
    rows = math.ceil(n / columns)
    fig = plt.figure()
    renderer = fig.canvas.get_renderer()
    widest = max(_text_width(fig, renderer, text, LABEL_SIZES[0]) for text in labels)
    cell = min(PAGE_WIDTH / columns, max(size + _CELL_GAP, widest + _CELL_GAP))
    side = min(size, cell - _CELL_GAP)
    room = cell - _CELL_GAP / 2
    fontsize = next((points for points in LABEL_SIZES
                     if all(_text_width(fig, renderer, text, points) <= room for text in labels)), LABEL_SIZES[-1])
    shown = [fit_label(fig, renderer, text, room, fontsize) for text in labels]
    lines = max(text.count("\n") + 1 for text in shown)
    label_height = lines * fontsize * 1.25 / 72 + 0.04
    title_height = 0.38 if title else 0.04
    row_height = side + label_height + _CELL_GAP
    title_width = _text_width(fig, renderer, title, plt.rcParams["figure.titlesize"]) + 0.1 if title else 0.0
    width, height = max(columns * cell, min(title_width, PAGE_WIDTH)), title_height + rows * row_height
    margin = (width - columns * cell) / 2  # a title wider than the grid: the grid centred under it
    fig.set_size_inches(width, height)
    for i, text in enumerate(shown):
        row, column = divmod(i, columns)
        left = margin + column * cell + (cell - side) / 2
        bottom = height - title_height - row * row_height - side
        ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
        img = images[i].permute(1, 2, 0).numpy()
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.axis("off")
        fig.text((margin + (column + 0.5) * cell) / width, (bottom - 0.03) / height, text, fontsize=fontsize,
                 ha="center", va="top", linespacing=1.1)
    if title:
        fig.suptitle(title, y=1 - 0.06 / height, va="top")
    return fig


#: The tallest an image table is drawn, in inches (about a third of the A4 page's text height), so
#: that it shares its page with the text or table next to it; it still grows past this when keeping it
#: would make one image smaller than :data:`MIN_IMAGE_SIZE`.
IMAGE_TABLE_HEIGHT = 3.4
#: The least size, in inches, of one image of an image table (prints at about 6 mm: a digit stays legible).
MIN_IMAGE_SIZE = 0.2
_ROW_GAP, _LABEL_PAD = 0.05, 0.1  # inches between rows, between a row's label and its images


def image_table(rows: Mapping[str, torch.Tensor], nrow: int = 16, title: str | None = None,
                value_range: tuple[float, float] = (0.0, 1.0), size: float = 0.55):
    """Several image grids laid out as a table: one row per setting (its first ``nrow`` images), its
    label on the left, in the report's language (:func:`labkit.i18n.setting_label`: ``"lr=0.01"`` ->
    ``"学习率=0.01"``, registered run names and values too).

    Laid out exactly, with no space between the rows but a thin gap: one image is ``size`` inches,
    or less so that the table fits the page's width (:data:`PAGE_WIDTH`, the labels included) and
    stays within :data:`IMAGE_TABLE_HEIGHT` (never less than :data:`MIN_IMAGE_SIZE`). Labels are
    9 pt. Returns the Figure.
    """
    if not rows:
        raise ValueError("image_table needs at least one row")
    grids = []
    for label, images in rows.items():
        images = to_images(images, value_range)[:nrow]
        grid = _grid(images, nrow)
        grids.append((str(setting_label(label)), grid[..., 0] if images.shape[1] == 1 else grid, images.shape[-1] + 2))
    fig = plt.figure()
    renderer = fig.canvas.get_renderer()
    label_width = max(_text_width(fig, renderer, label, 9) for label, _, _ in grids) + _LABEL_PAD
    title_width = _text_width(fig, renderer, title, plt.rcParams["figure.titlesize"]) + 0.1 if title else 0.0
    title_height = 0.38 if title else 0.08
    widest = max(grid.shape[1] for _, grid, _ in grids)  # pixels
    pixel_cell = max(cell for _, _, cell in grids)       # pixels of one image and its separator
    tall = sum(grid.shape[0] for _, grid, _ in grids)
    # inches per pixel: the requested size, narrowed to the page, lowered to the height (not below the floor)
    scale = min(size / pixel_cell, (PAGE_WIDTH - label_width - 0.05) / widest)
    fits_height = (IMAGE_TABLE_HEIGHT - title_height - _ROW_GAP * (len(grids) - 1) - 0.04) / tall
    scale = max(min(scale, fits_height), min(scale, MIN_IMAGE_SIZE / pixel_cell))
    width = max(label_width + widest * scale + 0.05, min(title_width, PAGE_WIDTH))
    height = title_height + tall * scale + _ROW_GAP * (len(grids) - 1) + 0.04
    fig.set_size_inches(width, height)
    top = height - title_height
    for label, grid, _ in grids:
        h, w = grid.shape[0] * scale, grid.shape[1] * scale
        ax = fig.add_axes((label_width / width, (top - h) / height, w / width, h / height))
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9, labelpad=4)
        top -= h + _ROW_GAP
    if title:
        fig.suptitle(title, y=1 - 0.06 / height, va="top")
    return fig
