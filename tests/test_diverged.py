"""Diverged runs: fit records the loss at the start of training, History.diverged applies the rule,
a Sweep's table marks such runs, its ranking puts them after the runs that trained, and the printed
table shows the marker and never highlights a diverged value as the best. A tiny model, no notebook."""
from __future__ import annotations

import math
import re

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

import labkit  # noqa: E402
from labkit import i18n  # noqa: E402
from labkit.sweeps import DIVERGED, Sweep, rank, sweep  # noqa: E402
from labkit.tables import styled  # noqa: E402
from labkit.train import History, fit  # noqa: E402


def _data(n=256):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def train(lr, run_name=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    data = _data()
    history = fit(model, data, data, loss=lambda m, x, y: nn.functional.mse_loss(m(x), y),
                  optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=3, batch_size=32,
                  progress_bar=False, name=run_name or "")
    history.summary["score"] = float(torch.nan_to_num(torch.tensor(history.last("test_loss")), nan=0.0))
    return history  # a diverged run scores 0.0 here: the "best" score, as a diverged VAE's FID can be


def test_fit_records_the_loss_at_the_start():
    history = train(0.01)
    assert set(history.start) == {"loss"} and history.start["loss"] > history.last("train_loss")
    assert not history.diverged()
    assert history.truncated(1).start == history.start


def test_a_huge_learning_rate_diverges():
    history = train(1e3)
    assert not math.isfinite(history.last("train_loss")) or history.last("train_loss") >= history.start["loss"]
    assert history.diverged()


def test_the_rule_by_hand():
    rows = [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.0}]
    assert not History("ok", rows, start={"loss": 3.0}).diverged()
    assert History("above the start", rows, start={"loss": 0.5}).diverged()
    assert History("equal to the start", rows, start={"loss": 1.0}).diverged()
    assert History("nan", [*rows, {"epoch": 3, "train_loss": float("nan")}], start={"loss": 3.0}).diverged()
    assert History("inf at the start", rows, start={"loss": float("inf")}).diverged()
    assert not History("no start: only the non-finite test", rows).diverged()
    assert not History("not trained").diverged()
    # a loss that starts near its minimum (a KL-only VAE): the one epoch's mean is above the first batch's
    # value, the evaluation after the last update is below it: it trained
    kl_only = [{"epoch": 1, "train_loss": 0.193, "test_loss": 0.0158}]
    assert not History("kl only", kl_only, start={"loss": 0.1}).diverged()
    assert History("evaluated above the start", [{"epoch": 1, "train_loss": 0.05, "test_loss": 0.2}],
                   start={"loss": 0.1}).diverged()
    # blew up during training, then came back below the start: still diverged (a VAE at lr=0.1)
    assert History("blew up", [{"epoch": 1, "train_loss": 3.2e4, "test_loss": 383.0}], start={"loss": 543.0}).diverged()
    assert not History("rose a little", [{"epoch": 1, "train_loss": 0.193, "test_loss": 0.0158}],
                       start={"loss": 0.09}).diverged()
    assert History("evaluated to nan", [{"epoch": 1, "train_loss": 0.05, "test_loss": float("nan")}],
                   start={"loss": 0.1}).diverged()


def test_sweep_marks_and_ranks_the_diverged_run_last():
    result = sweep(train, {"lr": [1e3, 0.01, 0.001]})
    assert result.diverged() == ["1000"]
    table = result.table(["train_loss", "score"])
    assert table[DIVERGED].tolist() == [True, False, False]
    ranked = result.ranked(["train_loss", "score"], by="score")
    assert list(ranked.index) == ["0.01", "0.001", "1000"]  # its score 0.0 is the lowest, yet it ranks last
    assert ranked["rank"].tolist() == [1, 2, 3] and ranked.columns[0] == "rank"
    # no marker column when every run trained
    assert DIVERGED not in result.select(["0.01", "0.001"]).table(["score"]).columns


def test_rank_by_names_and_highest_first():
    import pandas as pd

    table = pd.DataFrame({"acc": [0.9, 0.99, 0.5], "rank": [9, 9, 9]}, index=pd.Index(["a", "b", "c"], name="model"))
    ranked = rank(table, "acc", diverged=["b"], ascending=False)
    assert list(ranked.index) == ["a", "c", "b"] and ranked["rank"].tolist() == [1, 2, 3]
    with pytest.raises(KeyError, match="no column 'fid'"):
        rank(table, "fid")
    with pytest.raises(KeyError, match="cannot mark"):
        rank(table, "acc", diverged=["zz"])


@pytest.mark.parametrize("lang, marker", [("en", "diverged"), ("zh", "发散")])
def test_printed_table_shows_the_marker_and_never_highlights_it(lang, marker):
    result = Sweep("lr")
    for label, lr in (("1e3", 1e3), ("0.01", 0.01)):
        result.run(label, train, lr=lr)
    previous = i18n.language()
    i18n.set_language(lang)
    try:
        html = styled(result.ranked(["score"], by="score"), highlight_min=["score"]).to_html()
    finally:
        i18n.set_language(previous)
    assert marker in html
    bold = re.findall(r"_(row\d+_col\d+) \{\s*font-weight: bold;\s*\}", html)
    # the bold cell is the trained run's score (row 0 after ranking: rank, score), not the diverged run's 0.0
    assert bold == ["row0_col2"]
    assert re.search(r"_row1_col3 \{\s*font-weight: bold;\s*color", html)  # the marker, in red
