"""The Word file's Chinese fonts: the reference document names the course template's East-Asian
fonts (body 宋体 SimSun, headings 黑体 SimHei), keeps the Latin ones, and a report made with it
still converts back to its Chinese text."""
from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from labkit.report import document

needs_pandoc = pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed")


def _style(styles: str, style_id: str) -> str:
    return re.search(rf'<w:style\b[^>]*w:styleId="{style_id}".*?</w:style>', styles, re.S).group(0)


@needs_pandoc
def test_reference_docx_names_the_chinese_fonts(tmp_path):
    path = document.reference_docx(shutil.which("pandoc"), tmp_path)
    with zipfile.ZipFile(path) as docx:
        styles = docx.read("word/styles.xml").decode("utf-8")
    default = re.search(r"<w:rPrDefault>.*?</w:rPrDefault>", styles, re.S).group(0)
    assert 'w:eastAsia="SimSun"' in default and "eastAsiaTheme" not in default
    assert 'w:asciiTheme="minorHAnsi"' in default  # the Latin font stays pandoc's
    for heading in ("Title", "Heading1", "Heading2", "Heading3"):
        fonts = re.search(r"<w:rFonts\b[^>]*>", _style(styles, heading)).group(0)
        assert 'w:eastAsia="SimHei"' in fonts and "eastAsiaTheme" not in fonts, heading
        assert 'w:asciiTheme="majorHAnsi"' in fonts, heading
    assert "eastAsiaTheme" not in styles  # no style left to the theme's East-Asian font


def test_unexpected_styles_are_an_error_not_ignored():
    with pytest.raises(ValueError, match="unexpected shape"):
        document._east_asian_fonts("<w:styles></w:styles>")


@needs_pandoc
def test_chinese_report_round_trips(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# 实验三：变分自编码器\n\n## 1. 实验目的\n\n理解重参数化技巧与证据下界。")])
    doc = document.prepare(nb, lang="zh", student=document.Student(name="张三"), target="docx")
    path = document.to_docx(doc, tmp_path / "vae.docx", lang="zh")
    text = subprocess.run(["pandoc", str(path), "-t", "plain"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    for words in ("变分自编码器", "实验目的", "理解重参数化技巧与证据下界", "张三"):
        assert words in text
    with zipfile.ZipFile(path) as docx:
        assert 'w:eastAsia="SimHei"' in docx.read("word/styles.xml").decode("utf-8")
