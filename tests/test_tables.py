"""labkit.tables: localized, rounded, highlighted tables."""
from __future__ import annotations

import pandas as pd
import pytest

from labkit.i18n import set_language
from labkit.tables import localize, show_table, styled
from labkit.train import History, histories_table


@pytest.fixture
def runs_table():
    runs = {"adam": History(rows=[{"epoch": 1, "test_acc": 0.91234567, "test_loss": 0.3, "seconds": 1.0}]),
            "sgd": History(rows=[{"epoch": 1, "test_acc": 0.85, "test_loss": 0.5, "seconds": 2.0}])}
    return histories_table(runs, ["test_acc", "test_loss"])


def test_known_column_names_are_translated(runs_table):
    try:
        set_language("zh")
        shown = localize(runs_table)
        assert list(shown.columns) == ["测试准确率", "测试损失"] and shown.index.name == "设置"
    finally:
        set_language("en")
    assert list(localize(runs_table).columns) == ["Test accuracy", "Test loss"]


def test_styled_rounds_highlights_and_captions(runs_table):
    html = styled(runs_table, caption="Optimizers", digits=3, highlight_max=["test_acc"],
                  highlight_min=["test_loss"]).to_html()
    assert "0.912" in html and "0.91234567" not in html and "Optimizers" in html
    bold = html[html.index("{") - 60:html.index("font-weight: bold")]
    assert "row0_col1" in bold and "row0_col2" in bold and "row1_" not in bold  # adam: best accuracy and loss
    with pytest.raises(KeyError, match="cannot highlight column 'bleu'"):
        styled(runs_table, highlight_max=["bleu"])


def test_show_table_prints_in_a_plain_script_and_returns_the_frame(runs_table, capsys):
    assert show_table(runs_table, caption="Optimizers") is runs_table
    out = capsys.readouterr().out
    assert out.startswith("Optimizers\n") and "Setting" in out and "adam" in out
    frame = pd.DataFrame({"x": [1.0]})
    show_table(frame)
    assert "x" in capsys.readouterr().out
