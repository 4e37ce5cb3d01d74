"""labkit.train.loss_rise: the verdict on a loss curve and the sentences that state it (never a "no rise"
beside numbers that rose)."""
import re

import pytest

import labkit
from labkit import i18n
from labkit.train import loss_rise


def _history(test_losses):
    return labkit.History("h", [{"epoch": i + 1, "test_loss": v} for i, v in enumerate(test_losses)])


@pytest.fixture(autouse=True)
def _english():
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("losses, verdict, epoch", [
    ([2.308, 2.316], "too_few_epochs", None),          # the tester's resnet smoke run: rose 0.3 % after epoch 1
    ([1.0, 0.7, 0.69, 0.705], "too_few_epochs", None),
    ([1.0, 0.8, 0.7, 0.705, 0.71], "within_tolerance", None),
    ([1.0, 0.8, 0.7, 0.75, 0.9], "rises", 4),
    ([1.0, 0.8, 0.7, 0.6], "lowest_at_end", None),
    ([], "no_data", None),
])
def test_verdict_and_epoch_agree_with_loss_rise_epoch(losses, verdict, epoch):
    result = loss_rise(_history(losses))
    assert result.verdict == verdict and result.epoch == epoch
    assert labkit.loss_rise_epoch(_history(losses)) == epoch


def test_sentences_state_the_measured_rise_in_both_languages():
    history = _history([2.308, 2.316])
    i18n.set_language("en")
    result = loss_rise(history)
    assert result.change == pytest.approx(0.008 / 2.308)
    sentence = result.sentence("ResNet-18")
    assert "does not rise" not in sentence and "0.3%" in sentence and "2.316" in sentence and "too few" in sentence
    assert "too few epochs" in result.short() and "none" not in result.short()
    i18n.set_language("zh")
    sentence = loss_rise(history).sentence("ResNet-18")
    assert "没有上升" not in sentence and "0.3%" in sentence and "太少" in sentence
    assert not re.search(r"[A-Za-z]{3,}", sentence.replace("ResNet", ""))  # no English words left


def test_within_tolerance_says_by_how_much():
    result = loss_rise(_history([1.0, 0.8, 0.7, 0.705, 0.71]))
    assert "1.4%" in result.sentence() and "2%" in result.sentence()
    assert result.short() == "none (rose 1.4% < 2%)"
    rising = loss_rise(_history([1.0, 0.8, 0.7, 0.75, 0.9]))
    assert "epoch 4" in rising.sentence("LeNet-5") and "28.6%" in rising.short()
