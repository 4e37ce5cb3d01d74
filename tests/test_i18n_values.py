"""labkit.i18n.value_label / add_value_labels: one registry for the setting values and run names every
lab shows (the labs had four dicts that disagreed: kit was 本套件方案 in one lab, 本套件 in another)."""
import copy

import numpy as np
import pandas as pd
import pytest

import labkit
from labkit import i18n
from labkit.i18n import add_value_labels, setting_label, value_label


@pytest.fixture(autouse=True)
def _restore_strings():
    saved = copy.deepcopy(i18n.STRINGS)
    yield
    i18n.STRINGS.clear()
    i18n.STRINGS.update(saved)
    i18n.set_language("en")


def test_the_kits_values_have_one_term_across_the_labs_and_english_keeps_the_names():
    assert value_label("kit", "zh") == "本套件方案"  # every lab's recipe, resnet's included
    assert value_label("source", "zh") == "源报告方案"
    assert [value_label(v, "zh") for v in ("constant", "imagenet", "logits", "softmax_before_ce", "customary", "shared")] \
        == ["恒定", "ImageNet 式", "直接输出 logits", "先 Softmax 再交叉熵", "惯用", "统一"]
    assert value_label("sgd", "zh") == value_label("sgd", "en") == "SGD"  # the optimizers' own names, in both languages
    assert value_label("adam", "en") == "Adam" and value_label("rmsprop", "en") == "RMSprop"
    assert value_label("kit", "en") == "kit" and value_label("source", "en") == "source"


def test_numbers_unknown_strings_and_booleans():
    assert value_label(0.01, "zh") == 0.01 and value_label(3, "zh") == 3 and value_label(None, "zh") is None
    assert value_label("rnn", "zh") == "rnn" and value_label("", "zh") == ""
    assert value_label(True, "zh") == "是" and value_label(np.bool_(False), "zh") == "否"
    assert value_label(True, "en") == "yes"
    with pytest.raises(ValueError, match="not supported"):
        value_label("kit", "fr")


def test_value_label_follows_the_current_language():
    i18n.set_language("zh")
    assert labkit.value_label("source") == "源报告方案"  # exported where the teaching API is
    i18n.set_language("en")
    assert labkit.value_label("source") == "source"


def test_setting_label_translates_the_values_it_knows():
    assert setting_label("recipe=source", "zh") == "方案=源报告方案"
    assert setting_label("optimizer=adam, lr=0.01", "zh") == "优化器=Adam，学习率=0.01"
    assert setting_label("zero_init=True", "zh") == "残差块零初始化=是"
    assert setting_label("kit", "zh") == "本套件方案"
    assert setting_label("MLP VAE, recipe=kit", "zh") == "MLP VAE，方案=本套件方案"
    assert setting_label("recipe=source", "en") == "Recipe=source"
    assert setting_label("lr=1e-3", "zh") == "学习率=1e-3" and setting_label(7, "zh") == 7


def test_a_notebooks_names_go_into_the_same_registry():
    add_value_labels({"mlp AE": "MLP 自编码器", "AE decoder on N(0, I)": ("AE decoder on N(0, I)", "自编码器解码器（z ~ N(0, I)）"),
                      "noise": ("noise level", "噪声水平")})
    assert i18n.STRINGS["zh"]["value.mlp AE"] == "MLP 自编码器"  # STRINGS itself: no second dict
    assert value_label("mlp AE", "zh") == "MLP 自编码器" and value_label("mlp AE", "en") == "mlp AE"
    assert value_label("noise", "en") == "noise level"
    # a whole name with ", " in it is not cut at the comma; one inside a setting label is shown too
    assert setting_label("AE decoder on N(0, I)", "zh") == "自编码器解码器（z ~ N(0, I)）"
    assert setting_label("mlp AE, recipe=source", "zh") == "MLP 自编码器，方案=源报告方案"
    add_value_labels({"mlp AE": "多层感知机自编码器"})  # re-running the cell with another text replaces it
    assert value_label("mlp AE", "zh") == "多层感知机自编码器"
    add_value_labels({"kit": ("kit", "本套件方案")})  # the kit's own text again: allowed


def test_show_table_and_curves_show_registered_names_without_a_wrapper():
    from labkit.tables import localize

    add_value_labels({"conv AE": "卷积自编码器"})
    i18n.set_language("zh")
    table = pd.DataFrame({"test_loss": [1.0, 2.0]}, index=pd.Index(["conv AE", "recipe=source"], name="model"))
    shown = localize(table)
    assert list(shown.index) == ["卷积自编码器", "方案=源报告方案"] and list(shown.columns) == ["测试损失"]


@pytest.mark.parametrize("labels, match", [
    ({"kit": "本套件"}, "one of labkit's own values"),
    ({"": "空"}, "not a non-empty string"),
    ({3: "三"}, "not a non-empty string"),
    ({"mine": ("only one",)}, "Chinese text, or an"),
    ({"mine": ""}, "Chinese text, or an"),
])
def test_bad_registrations_are_refused_before_anything_is_registered(labels, match):
    before = copy.deepcopy(i18n.STRINGS)
    with pytest.raises(ValueError, match=match):
        add_value_labels({"fine": "好", **labels})
    assert i18n.STRINGS == before
