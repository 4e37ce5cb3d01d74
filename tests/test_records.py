import math

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook, new_output

from labkit.records import (RECORD_MIME, RECORDS, format_distinct, format_duration, read_payloads, read_records,
                            record)


def test_record_outside_ipython_prints_and_stores(capsys):
    assert record("acc", torch.tensor(0.5)) is None  # a cell ending with record(...) echoes no Out[n]
    assert RECORDS["acc"] == 0.5
    record("arr", np.array([1, 2]))
    assert RECORDS["arr"] == [1, 2]
    record("bad", float("nan"))
    assert RECORDS["bad"] == "nan"
    assert "[recorded] acc = 0.5" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["", "1abc", "a b", "é", None])
def test_record_rejects_bad_names(name):
    with pytest.raises(ValueError, match="not valid"):
        record(name, 1)


def test_record_rejects_unserialisable_values():
    with pytest.raises(TypeError, match="cannot record"):
        record("model", object())


def test_read_records_from_notebook_outputs_later_wins(tmp_path):
    def shown(name, value):
        return new_output("display_data", data={RECORD_MIME: {"name": name, "value": value},
                                                 "text/plain": f"{name} = {value}"})
    nb = new_notebook(cells=[new_code_cell("x", outputs=[shown("a", 1), shown("b", [1, 2])]),
                             new_code_cell("y", outputs=[shown("a", 3.5)])])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    again = nbformat.read(path, as_version=4)  # survives a write/read round trip
    assert read_records(again) == {"a": 3.5, "b": [1, 2]}
    assert len(read_payloads(again, RECORD_MIME)) == 3
    assert math.isclose(read_records(again)["a"], 3.5)


def test_recorded_numbers_are_tidy(capsys):
    """No float32 noise (tensor(0.8123).item() is 0.8123000264...), no float64 noise, no -0."""
    record("f32", torch.tensor(0.8123))
    record("f32_item", torch.tensor(0.8123).item())
    record("sum", 0.1 + 0.2)
    record("neg_zero", -0.0)
    record("np_f32_list", np.array([0.1, 0.7], dtype=np.float32))
    record("big", 123456789.123)
    assert RECORDS["f32"] == 0.8123 and RECORDS["f32_item"] == 0.8123
    assert RECORDS["sum"] == 0.3 and RECORDS["big"] == 123456789.123
    assert RECORDS["neg_zero"] == 0.0 and math.copysign(1, RECORDS["neg_zero"]) == 1
    assert RECORDS["np_f32_list"] == [0.1, 0.7]
    out = capsys.readouterr().out
    assert "[recorded] neg_zero = 0\n" in out and "-0" not in out


def test_format_number():
    from labkit.records import format_number, tidy_float

    assert format_number(-0.0) == "0" and format_number(-1e-9) == "-1e-09"
    assert format_number(-0.0000001, digits=2) == "-1e-07" and format_number(0.123456789) == "0.123457"
    assert format_number(3) == "3" and format_number(float("nan")) == "nan"
    assert tidy_float(float("inf")) == float("inf") and tidy_float(1 / 3) == 0.333333333333333


def test_format_number_never_prints_negative_zero():
    import numpy as np

    from labkit.records import format_number
    from labkit.report import provenance

    assert [format_number(v) for v in (-0.0, np.float32(-0.0), np.float64(-1e-300) * 0, 0.25, 3)] == \
        ["0", "0", "0", "0.25", "3"]
    assert format_number(-0.001, decimals=2) == "0.00" and format_number(2.5, decimals=2) == "2.50"
    assert format_number(-0.5, 4) == "-0.5" and format_number(float("nan")) == "nan"
    assert provenance._cell(-0.0) == "`0.0`" and provenance._cell(2.0) == "`2.0`" and provenance._duration(-0.0) == "0 s"
    # the provenance's wall time is format_duration's text (one duration format); no time, or a negative one, is "—"
    assert provenance._duration(83.2) == "1 min 23 s" and provenance._duration(3725) == "1 h 2 min"
    assert provenance._duration(None) == provenance._duration(-1.0) == provenance._duration(float("nan")) == "—"


def test_a_recorded_dict_or_list_shows_its_numbers_for_people(capsys):
    """The visible line of a per-class dict has no float noise at any depth (the value itself is kept)."""
    assert record("per_class", {"cat": 0.0384615384615385, "dog": [0.5, -0.0, 3]}) is None  # no Out[n] echo
    out = capsys.readouterr().out
    assert '[recorded] per_class = {"cat": 0.0384615, "dog": [0.5, 0, 3]}' in out
    assert RECORDS["per_class"]["cat"] == 0.0384615384615385


def test_the_noise_calibration_rows_are_in_the_reports_language():
    from labkit import i18n
    from labkit.i18n import t
    previous = i18n._current
    try:
        i18n.set_language("zh") if hasattr(i18n, "set_language") else setattr(i18n, "_current", "zh")
        assert t("scores.floor") == "真实训练图像（下限）"
        assert t("scores.noise", std="0.1") == "真实训练图像 + 噪声 σ=0.1"
    finally:
        i18n._current = previous


def test_format_distinct_prints_values_that_differ_differently():
    # a sentence naming the highest of these must not print them all as 0.7
    assert format_distinct([0.65, 0.74, 0.71]) == ["0.65", "0.74", "0.71"]
    assert format_distinct([0.65, 0.74, 12.3]) == ["0.65", "0.74", "12.30"]  # one number of decimals
    assert format_distinct([12.34, 15.61]) == ["12.3", "15.6"]  # no more digits than needed
    assert format_distinct([0.0, 0.004]) == ["0.000", "0.004"]  # a value that is not 0 never prints as 0
    assert format_distinct([1.0, 1.0, 2.0]) == ["1.0", "1.0", "2.0"]  # equal values print alike
    assert format_distinct([3, 0.5, "n/a"]) == ["3", "0.5", "n/a"]
    assert format_distinct([0.1, 0.1 + 1e-12], most=4) == ["0.1000", "0.1000"]  # at most `most` decimals
    assert format_distinct([-0.0001, 0.0002], decimals=2, most=3) == ["0.000", "0.000"]  # never "-0"
    assert format_distinct([]) == []
    values = [0.4213, 0.4251, 0.4199, 3.0]
    shown = [float(text) for text in format_distinct(values)]
    assert sorted(range(4), key=shown.__getitem__) == sorted(range(4), key=values.__getitem__)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (0.42, "0.42 s"), (0.0042, "4.2 ms"), (3.71, "3.7 s"), (12.3, "12 s"), (59.4, "59 s"),
    (59.6, "1 min 0 s"), (125.2, "2 min 5 s"), (3725, "1 h 2 min")])
def test_format_duration_never_prints_a_time_that_passed_as_0_s(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds, text", [
    (0, "0 秒"), (0.22, "0.22 秒"), (0.0042, "4.2 毫秒"), (12.3, "12 秒"), (125.2, "2 分 5 秒"), (3725, "1 小时 2 分")])
def test_format_duration_writes_the_reports_language(seconds, text):
    """A Chinese report's durations in 秒 / 分 / 小时 (the seq2seq summary said "用时 0.22 s"), through the
    current language as labkit.start sets it, or an explicit lang; English by default."""
    from labkit import i18n
    previous = i18n._current
    try:
        i18n.set_language("zh")
        assert format_duration(seconds) == text
        assert not any(unit in format_duration(seconds, "en") for unit in "秒分时")
    finally:
        i18n._current = previous
    assert format_duration(seconds, "zh") == text
    with pytest.raises(ValueError, match="not supported"):
        format_duration(seconds, lang="fr")


def test_format_duration_refuses_negative_or_non_finite_times():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number of seconds"):
            format_duration(bad)


def test_one_form_for_learning_rates():
    """The reports wrote one rate three ways (3e-3, 3·10⁻³, Adam 0.003): format_rate writes it as the vae
    notebook's lr_label does, and the mlp, resnet and seq2seq notebooks write their rates through it."""
    import json
    from pathlib import Path

    from labkit.records import format_rate
    assert [format_rate(v) for v in (0.001, 0.003, 2e-4, 0.005, 0.05, 0.0025)] == \
        ["1e-3", "3e-3", "2e-4", "5e-3", "5e-2", "2.5e-3"]
    assert [format_rate(v) for v in (0.4, 1.0, 0, 0.1, 0.11)] == ["0.4", "1", "0", "1e-1", "0.11"]
    assert format_rate(0.4 * 64 / 512) == "5e-2" and format_rate("customary") == "customary"
    for lab in ("mlp", "resnet", "seq2seq"):
        cells = json.loads((Path(__file__).parents[1] / "notebooks" / f"{lab}.ipynb").read_text("utf-8"))["cells"]
        text = "".join("".join(cell["source"]) for cell in cells)
        assert "format_rate(" in text and "10^{-3}" not in text and "lr:g}" not in text, lab
