import pytest

from labkit import i18n


def test_languages_have_the_same_keys():
    assert set(i18n.STRINGS["en"]) == set(i18n.STRINGS["zh"])


def test_translation_fallback_and_fields():
    assert i18n.t("provenance.title", "zh") == "运行环境与来源"
    assert i18n.t("no.such.key", "zh") == "no.such.key"
    assert "mnist" in i18n.t("data.loaded", "en", name="mnist", train=1, test=2, source="x", checksum="")


def test_set_language_validates():
    with pytest.raises(ValueError, match="en, zh"):
        i18n.set_language("zh-CN")
    i18n.set_language("zh")
    try:
        assert i18n.t("figure.epoch") == "轮次"
    finally:
        i18n.set_language("en")


def test_every_dataset_checksum_kind_has_a_label():
    """The provenance table is rendered outside the kernel, where labkit.data never ran: the labels
    of every checksum kind the loaders write are in labkit.i18n itself, in both languages."""
    from labkit.data import images, text

    kinds = {images.CHECKSUM_MD5, images.CHECKSUM_SAMPLE, text.CHECKSUM_SHA256, text.CHECKSUM_SAMPLE}
    assert kinds == {"md5", "sha256", "sample-sha256"}
    for kind in kinds:
        for lang in i18n.LANGUAGES:
            assert f"checksum.{kind}" in i18n.STRINGS[lang], (lang, kind)
    assert i18n.t("checksum.md5", "zh") == "已按公布的 md5 校验"


def test_output_truncated_marker_in_both_languages():
    from labkit.report import kernel

    en = kernel.truncated_text("cell", "2 MB", "en")
    zh = kernel.truncated_text("total", "10 MB", "zh")
    assert "output truncated" in en and "this cell" in en and "2 MB" in en and "输出已截断" not in en
    assert "输出已截断" in zh and "所有单元格合计" in zh and "10 MB" in zh


def test_tr_follows_the_language():
    i18n.set_language("zh")
    try:
        assert i18n.tr("{n} epochs", "{n} 个轮次", n=3) == "3 个轮次"
    finally:
        i18n.set_language("en")
    assert i18n.tr("Loss", "损失") == "Loss"


def test_label_reads_names_as_tables_write_them():
    """A settings table's row names with spaces, hyphens or a slash find the kit's key
    (``batch size`` printed untranslated beside 优化器 in the resnet settings table)."""
    from labkit.i18n import label

    assert [label(n, "zh") for n in ("batch size", "weight decay", "label smoothing", "zero-init", "flip TTA",
                                     "steps/epoch", "batch_size")] == \
        ["批大小", "权重衰减", "标签平滑", "残差块零初始化", "翻转测试时增强 (TTA)", "每轮步数", "批大小"]
    assert label("steps/epoch", "en") == "Steps per epoch"
    assert label("my own name", "zh") == "my own name" and label("stage1", "zh") == "stage1" and label(3, "zh") == 3


def test_the_labs_setting_and_gan_metric_names_are_chinese_in_a_chinese_report():
    """The tester's zh mlp report showed `rate=customary`, `head=logits`; vae's WGAN `wasserstein`."""
    from labkit.i18n import label, setting_label
    # the values too (labkit's own: logits, sgd, customary; "after" is the mlp notebook's to register)
    assert setting_label("head=logits, batchnorm=after", lang="zh") == "输出头=直接输出 logits，BatchNorm 位置=after"
    assert setting_label("optimizer=sgd, rate=customary", lang="zh") == "优化器=SGD，学习率取值=惯用"
    assert setting_label("head=logits, batchnorm=after", lang="en") == "head=logits, batchnorm=after"
    assert label("wasserstein", lang="zh") == "Wasserstein 距离估计" and label("gp", lang="zh") == "梯度惩罚"


def test_one_chinese_term_each():
    """The reports wrote 耗时 beside 用时 and the WGAN critic as 评论器 beside the prose's 评论家."""
    import json
    from pathlib import Path

    from labkit.i18n import STRINGS, label
    assert label("critic_loss", "zh") == "评论家损失" and label("seconds", "zh") == "用时（秒）"
    zh = "".join(STRINGS["zh"].values())
    assert "耗时" not in zh and "评论器" not in zh
    for lab in ("mlp", "resnet", "seq2seq"):
        cells = json.loads((Path(__file__).parents[1] / "notebooks" / f"{lab}.ipynb").read_text("utf-8"))["cells"]
        text = "".join("".join(cell["source"]) for cell in cells)
        assert "耗时" not in text and "评论器" not in text, lab


def test_a_conclusion_is_hedged_at_the_smoke_profile_only():
    from labkit.i18n import STRINGS, smoke_hedge
    assert smoke_hedge("quick", "en") == smoke_hedge("full", "zh") == smoke_hedge(None) == ""
    assert smoke_hedge("smoke", "en") == " " + STRINGS["en"]["note.smoke.hedge"]
    assert smoke_hedge("smoke", "zh") == STRINGS["zh"]["note.smoke.hedge"]  # after "。", no space
    assert STRINGS["zh"]["note.smoke.hedge"].startswith("（" + STRINGS["zh"]["note.smoke.title"][:-1])


def test_chinese_labels_name_the_unit_nat_in_chinese():
    """The vae report's prose says 奈特; the kit's zh column headers said nats beside it."""
    from labkit.i18n import STRINGS
    assert [key for key, text in STRINGS["zh"].items() if "nats" in text] == []
