"""The printed report's prose blocks, printed by the real pipeline (HTML -> Chromium -> PDF): a "common
pitfall" box (a markdown blockquote) of up to ~12 lines never splits across pages; tables in prose (the
provenance appendix's) start at the margin like every other table; Chinese emphasis is not slanted."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from labkit.report import pipeline as report

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None or report.chromium_path() is None,
                                reason="needs Chromium and poppler-utils")


def _pdf(tmp_path, cells, lang="en") -> str:
    report.to_html(new_notebook(cells=cells), tmp_path / "t.html", lang=lang)
    report.html_to_pdf(tmp_path / "t.html", tmp_path / "t.pdf")
    return str(tmp_path / "t.pdf")


def test_a_pitfall_box_stays_whole_and_a_prose_table_starts_at_the_margin(tmp_path):
    """A 6-line box put at every height near a page's foot (each on a page of its own, after a spacer
    growing 16 px at a time) prints on one page (one split across two pages); a 40-line box may split
    (kept whole it would leave a page-sized gap). The provenance appendix's markdown table was centred."""
    cells = []
    for k in range(10):
        cells.append(new_markdown_cell(f'<div style="break-before: page; height: {900 + 16 * k}px"></div>'))
        cells.append(new_markdown_cell("\n".join(f"> B{k}L{line} common pitfall text" + ("\n>" if line < 5 else "")
                                                 for line in range(6))))
    cells.append(new_markdown_cell('<div style="break-before: page; height: 500px"></div>'))
    cells.append(new_markdown_cell("\n>\n".join(f"> LONG{line} a long box" for line in range(40))))
    table = new_markdown_cell("PROSEWORD starts the paragraph.\n\n| item | value |\n|---|---|\n| TABLEWORD | 1 |")
    table.metadata["tags"] = ["labkit-provenance"]
    cells.append(table)
    pdf = _pdf(tmp_path, cells)
    pages = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    for k in range(10):
        holding = {i for i, page in enumerate(pages) for line in range(6) if re.search(rf"\bB{k}L{line}\b", page)}
        assert len(holding) == 1, f"the 6-line box {k} split across pages {sorted(holding)}"
    long_pages = {i for i, page in enumerate(pages) if re.search(r"\bLONG\d+\b", page)}
    assert len(long_pages) >= 2 and min(long_pages) == max(i for i, p in enumerate(pages) if "B9L0" in p) + 1
    boxes = subprocess.run(["pdftotext", "-bbox", pdf, "-"], capture_output=True, text=True, check=True).stdout
    left = {word: float(x) for x, word in re.findall(r'xMin="([\d.]+)"[^>]*>(PROSEWORD|TABLEWORD)<', boxes)}
    assert set(left) == {"PROSEWORD", "TABLEWORD"} and abs(left["PROSEWORD"] - left["TABLEWORD"]) < 8, left


def test_chinese_emphasis_is_upright_bold_and_headings_balance(tmp_path):
    """`*emphasis*` in Chinese prose printed as slanted glyphs (Chinese has no italic): in zh it is upright
    and bold (emphasis dots were drawn under Latin letters too); English keeps its italic. Headings
    balance their lines (a title left one character alone on its last line)."""
    probe = ('<script>window.addEventListener("load", function () { var s = getComputedStyle(document.querySelector('
             '".jp-RenderedMarkdown em")); document.title = "EM " + s.fontStyle + "|" + '
             's.fontWeight + "|" + getComputedStyle(document.querySelector("h1")).textWrap; });</script>')
    found = {}
    for lang in ("zh", "en"):
        report.to_html(new_notebook(cells=[new_markdown_cell("# 标题\n\n这是*重点*内容。")]), tmp_path / f"{lang}.html", lang=lang)
        html = (tmp_path / f"{lang}.html").read_text(encoding="utf-8").replace("</body>", probe + "</body>")
        (tmp_path / f"{lang}.html").write_text(html, encoding="utf-8")
        done = subprocess.run([report.chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
                               "--virtual-time-budget=5000", "--dump-dom", (tmp_path / f"{lang}.html").as_uri()],
                              capture_output=True, text=True, timeout=120)
        title = re.search(r"<title>EM ([^<]*)</title>", done.stdout)
        assert title is not None, done.stderr[-500:]
        found[lang] = title.group(1)
    style, weight, wrap = found["zh"].split("|")
    assert style == "normal" and int(weight) >= 600 and "balance" in wrap, found
    assert found["en"].split("|")[0] == "italic", found
