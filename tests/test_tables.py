"""labkit.tables: localized, rounded, highlighted tables."""
from __future__ import annotations

import re

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
    bold = re.search(r"([^{}]*)\{\s*font-weight: bold", html).group(1)  # the selectors of the bold rule
    assert "row0_col1" in bold and "row0_col2" in bold and "row1_" not in bold  # adam: best accuracy and loss
    with pytest.raises(KeyError, match="cannot highlight column 'bleu'"):
        styled(runs_table, highlight_max=["bleu"])


def test_show_table_prints_in_a_plain_script_and_returns_nothing_to_echo(runs_table, capsys):
    assert show_table(runs_table, caption="Optimizers") is None  # a cell's last line shows the table once
    out = capsys.readouterr().out
    assert out.startswith("Optimizers\n") and "Setting" in out and "Adam" in out  # the optimizer's own name
    frame = pd.DataFrame({"x": [1.0]})
    show_table(frame)
    assert "x" in capsys.readouterr().out


def test_metric_names_and_setting_labels_in_chinese():
    frame = pd.DataFrame({"train_recon": [1.0], "test_elbo_nats": [2.0], "fid": [3.0], "class_entropy": [0.5],
                          "active_dims": [4], "kl_nats": [1.5], "noise_std": [0.1], "parameters": [10],
                          "my own column": [1]}, index=pd.Index(["lr=0.01, batch_size=64"], name="setting"))
    try:
        set_language("zh")
        shown = localize(frame)
        html = styled(frame).to_html()
    finally:
        set_language("en")
    assert list(shown.columns) == ["训练重构损失", "测试证据下界（ELBO，奈特）", "FID", "类别熵", "活跃隐变量维数",
                                   "KL 散度（奈特）", "噪声标准差", "参数量", "my own column"]
    assert shown.index.name == "设置" and list(shown.index) == ["学习率=0.01，批大小=64"]
    assert "类别熵" in html and "class_entropy" not in html and "学习率=0.01" in html


def test_negative_zero_never_printed(capsys):
    import numpy as np

    frame = pd.DataFrame({"class_entropy": [-0.0, np.float32(-0.0), -1e-30 * 0, 0.25]})
    html = styled(frame).to_html()
    assert ">-0<" not in html and ">0<" in html and ">0.25<" in html
    show_table(frame)
    assert "-0" not in capsys.readouterr().out


def test_every_metric_the_labs_show_has_a_chinese_label():
    """Names the five lab notebooks record or put in tables, translated in Chinese reports."""
    from labkit.i18n import label

    for name in ("train_acc", "test_acc", "train_loss", "test_loss", "train_recon", "test_recon", "test_kl",
                 "test_elbo_nats", "fid", "class_entropy", "active_dims", "kl_nats", "noise_std", "seconds",
                 "parameters", "bleu", "loss_d", "loss_g", "setting", "model", "epoch", "rank", "recipe"):
        assert label(name, "zh") != name or name in ("fid", "bleu"), name


def test_booleans_print_as_yes_no_in_the_report_language(capsys):
    import numpy as np

    df = pd.DataFrame({"zero-init": [True, False], "flip": np.array([False, True])},
                      index=pd.Index(["a", "b"], name="setting"))
    try:
        set_language("zh")
        html = styled(df).to_html()
        show_table(df)
        printed = capsys.readouterr().out
    finally:
        set_language("en")
    assert ">是<" in html and ">否<" in html and "True" not in html and "False" not in html
    assert "是" in printed and "否" in printed and "True" not in printed
    english = styled(df).to_html()
    assert ">yes<" in english and ">no<" in english and "True" not in english


def test_text_columns_read_from_the_left_numbers_stay_right():
    df = pd.DataFrame({"translation": ["he is tall", "i am here"], "bleu": [0.5, 0.75]},
                      index=pd.Index(["gru", "rnn"], name="model"))
    html = styled(df).to_html()
    for cell in ("td", "th"):  # the cells and their headers
        left = re.findall(rf"{cell}\.(col\d+) \{{\s*text-align: left;", html)
        assert left == ["col0", "col1"], cell  # model, translation; not BLEU


def test_a_numeric_column_prints_one_number_of_decimals():
    """Tables printed 4 significant digits a cell, so one column read 0.288 beside 0.5227; and seq2seq's
    summary said BLEU 0.17 beside a table's 0.2. A column now has one number of decimals (format_distinct
    decides), and formatted() gives a sentence the table's own text."""
    from labkit.tables import column_texts, formatted
    assert column_texts([0.288, 0.5227]) == ["0.2880", "0.5227"]
    assert column_texts([2.0, 6.0]) == ["2", "6"] and column_texts([12.3, 130.5]) == ["12.3", "130.5"]
    assert column_texts([0.1234, 0.12341]) == ["0.12340", "0.12341"]  # values that differ print differently
    assert column_texts([1.19e-7, 0.3, 0.0]) == ["1.19e-07", "0.3", "0"]  # no non-zero value printed as 0
    assert column_texts([float("nan"), 0.5, 3]) == ["nan", "0.5", "3"]
    frame = pd.DataFrame({"bleu": [0.1723, 0.2], "parameters": [1200, 34000]},
                         index=pd.Index(["gru", "gru_attention"], name="model"))
    html = styled(frame).to_html()
    assert ">0.1723<" in html and ">0.2000<" in html and ">34000<" in html
    assert formatted(frame).loc["gru_attention", "bleu"] == "0.2000"
