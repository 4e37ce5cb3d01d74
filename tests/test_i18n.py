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
    """The provenance table is rendered outside the kernel, where labkit.data never ran."""
    import ast
    from pathlib import Path

    from labkit.data.files import CHECKSUM_LABELS  # (importing it registers them at run time, in a kernel)

    tree = ast.parse(Path(i18n.__file__).read_text(encoding="utf-8"))
    literal = next(ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "STRINGS")
    for lang, labels in CHECKSUM_LABELS.items():
        for key in labels:
            assert key in literal[lang], key


def test_tr_follows_the_language():
    i18n.set_language("zh")
    try:
        assert i18n.tr("{n} epochs", "{n} 个轮次", n=3) == "3 个轮次"
    finally:
        i18n.set_language("en")
    assert i18n.tr("Loss", "损失") == "Loss"
