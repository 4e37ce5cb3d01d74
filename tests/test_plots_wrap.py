"""One breaking rule for every text labkit draws in a figure (plots.wrap_text): measured, between words
and between Chinese characters, balanced; plots.fit_label (image labels) uses it; the CJK character range
is defined once (labkit.i18n.CJK) for the figures and the report's line joining."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from labkit import i18n, plots  # noqa: E402
from labkit.report import document  # noqa: E402

plots.setup_matplotlib()


@pytest.fixture
def canvas():
    fig = plt.figure()
    yield fig, fig.canvas.get_renderer()
    plt.close(fig)


def _width(fig, renderer, text, size=10):
    return plots._text_width(fig, renderer, text, size)


def test_a_wrapped_title_is_balanced_never_one_character_alone(canvas):
    """Two figure titles printed their last character alone on a second line: filled greedily, a line of
    19 characters left 1 for the next."""
    fig, renderer = canvas
    title = "不同学习率下训练损失与测试损失随轮次变化"  # 20 characters of one width
    width = _width(fig, renderer, title[:19]) + 0.01
    lines = plots.wrap_text(fig, renderer, title, width, 10).split("\n")
    assert "".join(lines) == title and len(lines) == 2
    assert abs(len(lines[0]) - len(lines[1])) <= 1, lines
    words = "Training and test loss of every learning rate of the sweep per epoch"
    lines = plots.wrap_text(fig, renderer, words, _width(fig, renderer, words[:-5]) + 0.01, 10).split("\n")
    assert " ".join(lines) == words and len(lines) == 2
    assert min(map(len, lines)) >= len(words) // 3, lines  # not "epoch" alone


def test_balancing_keeps_the_fewest_lines_and_the_width(canvas):
    fig, renderer = canvas
    text = "Sweep: optimizer, at its customary rate (SGD 0.05, Adam 0.005, Adadelta 1) and at the shared rate"
    for width in (1.5, 2.5, 4.0):
        lines = plots.wrap_text(fig, renderer, text, width, 10).split("\n")
        assert all(_width(fig, renderer, line) <= width for line in lines)
        greedy = 1 + sum(1 for _ in re.finditer(r"\n", plots.wrap_text(fig, renderer, text, width, 10)))
        assert len(lines) == greedy
        assert " ".join(lines) == text


def test_a_chinese_label_without_spaces_wraps_instead_of_being_cut(canvas):
    """fit_label wrapped only at spaces: a Chinese label was cut to "训练损…" though two lines had room."""
    fig, renderer = canvas
    label = "汽车预测为飞机置信度八成"
    width = _width(fig, renderer, label[:7], 8) + 0.01
    shown = plots.fit_label(fig, renderer, label, width, 8)
    assert "…" not in shown and shown.replace("\n", "") == label and shown.count("\n") == 1
    # too long for two lines: the longest prefix that fits two lines, ending in "…"
    shown = plots.fit_label(fig, renderer, label * 3, width, 8)
    assert shown.endswith("…") and shown.count("\n") == 1
    assert all(_width(fig, renderer, line, 8) <= width for line in shown.split("\n"))
    assert len(shown.replace("\n", "")) >= 12


def test_one_cjk_range_for_figures_and_report_prose(canvas):
    """The range was written twice and differed: Korean (and CJK compatibility forms) broke in the report's
    prose but never in a figure."""
    fig, renderer = canvas
    assert document._CJK is i18n.CJK
    assert i18n.CJK in plots._TOKEN.pattern
    korean = "학습률에따른훈련손실과시험손실"
    lines = plots.wrap_text(fig, renderer, korean, _width(fig, renderer, korean[:9]) + 0.01, 10).split("\n")
    assert len(lines) == 2 and "".join(lines) == korean
    # a closing mark never begins a line
    text = "训练，测试，训练，测试，训练，测试，训练，测试"
    for cut in range(3, 12):
        for line in plots.wrap_text(fig, renderer, text, _width(fig, renderer, text[:cut]) + 0.01, 10).split("\n"):
            assert not line.startswith("，")
