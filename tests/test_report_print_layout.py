"""The printed report's layout, printed by the real pipeline (HTML -> Chromium -> PDF): small tables
never split across pages, long ones do with their header repeated; names are not broken in narrow
columns and headings; long output lines wrap inside the cell's box."""
from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.report import pipeline as report
from labkit.tables import styled

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None or report.chromium_path() is None,
                                reason="needs Chromium and poppler-utils")


def _table_output(html: str):
    return new_output("display_data", data={"text/html": html, "text/plain": "table"})


def _pages(tmp_path, cells) -> list[str]:
    nb = new_notebook(cells=cells)
    report.to_html(nb, tmp_path / "t.html", lang="en")
    report.html_to_pdf(tmp_path / "t.html", tmp_path / "t.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "t.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    return text.split("\f")[:-1]


def test_small_tables_never_split_and_long_ones_repeat_their_header(tmp_path):
    """A 5-row table put at every height near a page's foot (each on a page of its own, after a spacer
    growing 8 px at a time): its rows always on one page (it printed 3 rows, then 2 on the next page);
    a 90-row table splits, its header on each page."""
    cells = []
    for k in range(24):
        cells.append(new_markdown_cell(f'<div style="break-before: page; height: {820 + 8 * k}px"></div>'))
        frame = pd.DataFrame({"value": [f"S{k}R{r}" for r in range(5)]}, index=pd.Index(range(5), name="row"))
        cells.append(new_code_cell("t", outputs=[_table_output(styled(frame, caption=f"small {k}").to_html())]))
    long = pd.DataFrame({"LONGHEAD": [f"L{r:02d}" for r in range(90)]}, index=pd.Index(range(90), name="row"))
    cells.append(new_code_cell("t", outputs=[_table_output(styled(long).to_html())]))
    pages = _pages(tmp_path, cells)
    for k in range(24):
        holding = {i for i, page in enumerate(pages) for r in range(5) if re.search(rf"\bS{k}R{r}\b", page)}
        assert len(holding) == 1, f"the 5-row table {k} split across pages {sorted(holding)}"
    long_pages = [page for page in pages if re.search(r"\bL\d\d\b", page)]
    assert len(long_pages) >= 2 and all("LONGHEAD" in page for page in long_pages)


def test_names_kept_whole_in_narrow_columns_and_headings(tmp_path):
    """A six-column table of long text squeezes its columns: "CIFAR-10", "ResNet-18", "完整数据" and a
    path's parts still print whole; a heading keeps "ResNet-18" on one line."""
    filler = "a long sentence that needs room to wrap " * 6
    frame = pd.DataFrame({f"c{i}": [filler] for i in range(5)}, index=pd.Index(["x"], name="row"))
    frame["name"] = ["CIFAR-10 ResNet-18 完整数据"]
    table = styled(frame).to_html()
    table += ("<table><tr><th>item</th><th>path</th></tr><tr><td>" + filler * 3 + "</td><td><code>"
              "/work/shared/data/cifar-10-batches-bin/MNIST/raw</code></td></tr></table>")
    title = "# " + "Lab report words " * 3 + "ResNet-18 on CIFAR-10"
    pages = _pages(tmp_path, [new_markdown_cell(title), new_code_cell("t", outputs=[_table_output(table)])])
    words = set(" ".join(pages).split())
    for name in ("CIFAR-10", "ResNet-18", "完整数据"):
        assert name in words, f"{name} broken in the PDF"
    assert "cifar-10-batches-bin/" in " ".join(pages).replace("\n", " ") or "cifar-10-batches-bin" in words
    assert not any(re.search(r"(ResNet|CIFAR)-$", w) for w in words)


def test_html_report_wraps_long_output_and_code_lines_in_their_box(tmp_path):
    """In the HTML report (a 1200 px window) a long `[recorded]` line and a long code line ran past the
    cell's box and were cut off: they wrap inside it."""
    long = "[recorded] per_class_acc = {" + ", ".join(f'"class{i}": 0.0384615' for i in range(40)) + "}"
    code = "x = dict(" + ", ".join(f"argument_{i}={i}" for i in range(40)) + ")"
    nb = new_notebook(cells=[new_code_cell(code, outputs=[new_output("stream", name="stdout", text=long + "\n")])])
    report.to_html(nb, tmp_path / "t.html", lang="en")
    probe = ('<script>window.addEventListener("load", function () { var out = [];'
             'document.querySelectorAll(".jp-Cell pre").forEach(function (pre) {'
             '  var box = pre.closest(".jp-OutputArea-output, .jp-InputArea-editor") || pre.parentElement;'
             '  out.push(pre.scrollWidth <= pre.clientWidth + 1 && pre.getBoundingClientRect().right'
             '           <= box.getBoundingClientRect().right + 1 ? "in" : "out"); });'
             'document.title = "PRES " + out.join(","); });</script>')
    html = (tmp_path / "t.html").read_text(encoding="utf-8").replace("</body>", probe + "</body>")
    (tmp_path / "probe.html").write_text(html, encoding="utf-8")
    done = subprocess.run([report.chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--window-size=1200,900", "--virtual-time-budget=5000", "--dump-dom",
                           (tmp_path / "probe.html").as_uri()], capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>PRES ([^<]*)</title>", done.stdout)
    assert title is not None, done.stderr[-500:]
    assert title.group(1).split(",") == ["in", "in"], title.group(1)


def test_prose_and_tables_start_at_the_same_margin(tmp_path):
    """Every table printed 17 px left of the text above it (JupyterLab pads a markdown cell's prompt and
    text, not an output's): 103.5 pt against 93.9 pt for the table's first cell and 90.7 for its caption."""
    frame = pd.DataFrame({"value": [1.0]}, index=pd.Index(["TABLEWORD"], name="setting"))
    cells = [new_markdown_cell("PROSEWORD starts the paragraph."),
             new_code_cell("t", outputs=[_table_output(styled(frame, caption="CAPWORD here").to_html())])]
    report.to_html(new_notebook(cells=cells), tmp_path / "t.html", lang="en")
    report.html_to_pdf(tmp_path / "t.html", tmp_path / "t.pdf")
    boxes = subprocess.run(["pdftotext", "-bbox", str(tmp_path / "t.pdf"), "-"], capture_output=True, text=True,
                           check=True).stdout
    left = {word: float(x) for x, word in re.findall(r'xMin="([\d.]+)"[^>]*>(PROSEWORD|TABLEWORD|CAPWORD)<', boxes)}
    assert set(left) == {"PROSEWORD", "TABLEWORD", "CAPWORD"}, boxes[:2000]
    assert abs(left["PROSEWORD"] - left["TABLEWORD"]) < 3 and abs(left["PROSEWORD"] - left["CAPWORD"]) < 3, left


def test_a_long_log_line_wraps_between_words(tmp_path):
    """JupyterLab's word-break: break-all split a dataset line as "... against the publish" / "ed sums"."""
    line = "Dataset MNIST: 2000 train / 10000 test images, full data, checksum md5 verified against the published sums\n"
    cells = [new_code_cell("x", outputs=[new_output("stream", name="stdout", text=line)])]
    text = "".join(_pages(tmp_path, cells))
    printed = text[text.index("Dataset"):].split()[:len(line.split())]
    assert printed == line.split() and text.count("\n", text.index("Dataset"), text.index("sums")) >= 1, text
