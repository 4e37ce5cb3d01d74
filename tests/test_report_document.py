"""The printed report (labkit.report.document): language, cover page, notes, analysis boxes,
print options, wide tables, Word output.

Unit tests work on hand-made notebooks; the pipeline tests render
tests/fixtures/document/printed.ipynb (a bilingual lab in miniature: paired
lang-en/lang-zh cells, an exercise, logs, a 12- and a 30-column table, a figure,
analysis cells) once per language, through papermill, Chromium and pandoc.
"""
from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.records import DATASET_MIME, RECORD_MIME
from labkit.report import document
from labkit.report.document import PrintOptions, Student, StudentFileError

from conftest import SHARED_DATA, full_data_dir

FIXTURE = Path(__file__).parent / "fixtures" / "document" / "printed.ipynb"
DATA = str(full_data_dir() or SHARED_DATA)  # the full data when present
pipeline = pytest.mark.pipeline
needs_pandoc = pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed")

TABLE12 = ["model"] + [f"{c}_acc" for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                            "horse", "ship", "truck")] + ["overall_ZZEND"]
TABLE30 = [f"metric_{i:02d}_W" for i in range(30)]
CJK = re.compile(r"[\u4e00-\u9fff]")


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


def png_bytes() -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([1, 2, 3])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def executed_notebook():
    """A notebook as the pipeline hands it over: executed, provenance after the title."""
    stream = lambda name, text: new_output("stream", name=name, text=text)  # noqa: E731
    shown = lambda mime, payload, text: new_output("display_data", data={mime: payload, "text/plain": text})  # noqa: E731
    sample = {"name": "mnist", "title": "MNIST", "source": "sample"}
    cells = [
        tagged(new_markdown_cell("# Lab 1: Title"), "lang-en"),
        tagged(new_markdown_cell("# 实验一：标题"), "lang-zh"),
        tagged(new_markdown_cell("## Environment and provenance"), "labkit-provenance"),
        new_markdown_cell("$x^2$ (language-neutral)"),
        new_code_cell("import labkit", outputs=[
            shown(DATASET_MIME, sample, "Dataset MNIST ..."),
            stream("stderr", "Using the embedded sample of MNIST (offline). Results are not comparable.\n"),
            shown(DATASET_MIME, sample, "Dataset MNIST ..."),
            stream("stderr", "Using the embedded sample of MNIST (offline). Results are not comparable.\n"),
        ]),
        new_code_cell("def f():\n    ### BEGIN SOLUTION: return 1\n    return 1\n    ### END SOLUTION"),
        new_code_cell("train()", outputs=[
            stream("stdout", "epoch 1 loss 0.5\n"),
            shown(RECORD_MIME, {"name": "acc", "value": 0.5}, "[recorded] acc = 0.5"),
            new_output("display_data", data={"image/png": base64.b64encode(png_bytes()).decode(),
                                             "text/plain": "<Figure>"}),
        ]),
        new_code_cell("setup_only()"),
        tagged(new_code_cell("check()", outputs=[stream("stdout", "check passed\n")]), "hidden-check"),
        tagged(new_markdown_cell(""), "analysis", "analysis:results"),
        tagged(new_markdown_cell("Mine."), "analysis", "analysis:summary"),
        tagged(new_markdown_cell("## Summary"), "lang-en"),
        tagged(new_markdown_cell("## 总结与心得"), "lang-zh"),
    ]
    return new_notebook(cells=cells)


def sources(nb) -> list[str]:
    return [cell.source for cell in nb.cells]


# --------------------------------------------------------------------------- language, cover, notes, boxes

def test_only_the_report_language_is_kept_and_the_input_is_unchanged():
    nb = executed_notebook()
    before = nbformat.writes(nb)
    zh = document.prepare(nb, lang="zh")
    text = "\n".join(sources(zh))
    assert "实验一：标题" in text and "总结与心得" in text and "$x^2$" in text
    assert "Lab 1: Title" not in text and "## Summary" not in text
    en = "\n".join(sources(document.prepare(nb, lang="en")))
    assert "Lab 1: Title" in en and "实验一" not in en
    assert nbformat.writes(nb) == before
    with pytest.raises(ValueError, match="en, zh"):
        document.prepare(nb, lang="fr")


def test_cover_page_first_with_fields_and_blank_lines():
    student = Student(name="张三", student_id="2023012345", course="深度学习")
    doc = document.prepare(executed_notebook(), lang="zh", student=student)
    cover = doc.cells[0]
    assert document.COVER_TAG in cover.metadata["tags"]
    for text in ("实验报告", "姓名", "张三", "学号", "2023012345", "班级", "指导教师", "日期", "深度学习",
                 "实验一：标题"):  # the experiment name defaults to the notebook's title
        assert text in cover.source
    assert cover.source.count("labkit-blank") == 3  # class, instructor, date: lines to fill by hand
    blank = document.prepare(executed_notebook(), lang="en").cells[0].source
    assert "Student number" in blank and blank.count("labkit-blank") == 6


def test_smoke_note_sample_note_once_and_analysis_box():
    doc = document.prepare(executed_notebook(), lang="zh", profile="smoke")
    notes = [c.source for c in doc.cells if document.NOTE_TAG in c.metadata.get("tags", [])]
    assert len(notes) == 2 and "smoke" in notes[0] and "没有任何意义" in notes[0]
    assert "MNIST" in notes[1] and "内置样本" in notes[1]
    streams = [o["text"] for c in doc.cells if c.cell_type == "code" for o in c.outputs
               if o["output_type"] == "stream"]
    assert not any("embedded sample" in s for s in streams)  # said once, in the note
    boxes = [c.source for c in doc.cells if document.is_analysis(c)]
    assert "labkit-analysis-todo" in boxes[0] and "待填写" in boxes[0]
    assert boxes[1] == "Mine."  # what the student wrote stays as written
    quick = document.prepare(executed_notebook(), lang="en", profile="quick")
    assert sum(document.NOTE_TAG in c.metadata.get("tags", []) for c in quick.cells) == 1  # the sample note only


def test_provenance_moves_to_the_end():
    doc = document.prepare(executed_notebook(), lang="en")
    assert document.PROVENANCE_TAG in doc.cells[-1].metadata["tags"]


# --------------------------------------------------------------------------- print options

def shown_code(doc) -> list[str]:
    return [c.source for c in doc.cells if c.cell_type == "code"
            and not c.metadata.get("transient", {}).get("remove_source")]


def test_print_options_code():
    nb = executed_notebook()
    everything = shown_code(document.prepare(nb, lang="en"))
    assert "check()" in everything and "setup_only()" in everything
    exercises = document.prepare(nb, lang="en", options=PrintOptions(code="exercises"))
    assert [s.split("\n")[0] for s in shown_code(exercises)] == ["def f():"]
    assert any(o.get("output_type") == "display_data" for c in exercises.cells if c.cell_type == "code"
               for o in c.outputs)  # the figure stays
    assert not any(c.source == "setup_only()" for c in exercises.cells)  # nothing left to show: dropped
    assert not any(c.source == "check()" for c in exercises.cells)  # hidden checks are the instructor's
    assert shown_code(document.prepare(nb, lang="en", options=PrintOptions(code="none"))) == []
    with pytest.raises(ValueError, match="all, exercises, none"):
        PrintOptions(code="some")


def test_exercises_found_after_the_markers_are_stripped():
    from labkit.report.prepare import for_render

    nb = for_render(document.mark_exercises(executed_notebook()))  # what the pipeline does
    doc = document.prepare(nb, lang="en", options=PrintOptions(code="exercises"))
    assert [s.strip() for s in shown_code(doc)] == ["def f():\n    return 1"]


def test_print_options_no_logs():
    doc = document.prepare(executed_notebook(), lang="en", options=PrintOptions(logs=False))
    outputs = [o for c in doc.cells if c.cell_type == "code" for o in c.outputs]
    assert [o["output_type"] for o in outputs] == ["display_data"]  # only the figure
    assert "image/png" in outputs[0]["data"]


# --------------------------------------------------------------------------- student.yaml

def test_student_yaml_english_and_chinese_keys(tmp_path):
    path = tmp_path / "student.yaml"
    path.write_text('姓名: 张三\nstudent_id: "0012345"\nclass: 计算机 2101\ndate: 2026-12-01\n', encoding="utf-8")
    student = document.read_student(path)
    assert (student.name, student.student_id, student.class_name, student.date) == \
        ("张三", "0012345", "计算机 2101", "2026-12-01")
    assert student.instructor == "" and student.source == str(path)


@pytest.mark.parametrize("text, message", [
    ("name: [oops\n", "not valid YAML at line 2"),
    ("- a\n- b\n", "must hold `key: value` lines"),
    ("nmae: x\n", "unknown field 'nmae'"),
    ("name: {a: 1}\n", "must be a single value"),
    ("date: 2026-13-45\n", "field 'date' is '2026-13-45', not a valid date"),
    ("日期: someday\n", "field '日期' is 'someday', not a valid date"),
    ("name: 张三\n姓名: 李四\n", "fields 'name' and '姓名' both give the name"),
    ("name: 张三\nname: 李四\n", "field 'name' is given twice"),
])
def test_bad_student_yaml_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "student.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StudentFileError, match=re.escape(message)) as info:
        document.read_student(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


@pytest.mark.parametrize("text, field, value", [
    ("student_id: 02345670\n", "student_id", "02345670"),  # not YAML 1.1 octal 641976
    ("学号: 0023012345\n", "student_id", "0023012345"),
    ("name: yes\n", "name", "yes"),  # not True
    ("class: 2101\n", "class_name", "2101"),
    ("date: 2026年12月1日\n", "date", "2026-12-01"),
    ("date: 2026-12-01\n", "date", "2026-12-01"),
])
def test_student_yaml_values_are_the_text_written(tmp_path, text, field, value):
    path = tmp_path / "student.yaml"
    path.write_text(text, encoding="utf-8")
    assert getattr(document.read_student(path), field) == value


def test_student_file_found_beside_the_notebook_then_in_the_working_folder(tmp_path, monkeypatch):
    lab, cwd = tmp_path / "lab", tmp_path / "cwd"
    lab.mkdir(), cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert document.load_student(None, lab / "x.ipynb") == Student()
    (cwd / "student.yaml").write_text("name: 李四\n", encoding="utf-8")
    assert document.load_student(None, lab / "x.ipynb").name == "李四"
    (lab / "student.yaml").write_text("name: 王五\n", encoding="utf-8")
    assert document.load_student(None, lab / "x.ipynb").name == "王五"
    with pytest.raises(StudentFileError, match="does not exist"):
        document.load_student(tmp_path / "missing.yaml", lab / "x.ipynb")


def test_cli_bad_student_yaml_exits_2_before_anything_is_written(tmp_path):
    bad = tmp_path / "student.yaml"
    bad.write_text("name: [oops\n", encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(["python", "-m", "labkit.cli", "report", str(FIXTURE), "--out", str(out),
                           "--student", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "not valid YAML" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def _printed_words(table_html: str, tmp_path, lang: str) -> str:
    """``table_html`` as the one output of a notebook, printed by the real pipeline (HTML, Chromium):
    ``pdftotext -bbox`` of the PDF (``t.pdf`` in ``tmp_path``)."""
    from labkit.report import pipeline as report

    nb = new_notebook(cells=[new_code_cell("x", outputs=[
        new_output("display_data", data={"text/html": table_html, "text/plain": "table"})])])
    report.to_html(nb, tmp_path / "t.html", lang=lang)
    report.html_to_pdf(tmp_path / "t.html", tmp_path / "t.pdf")
    return subprocess.run(["pdftotext", "-bbox", str(tmp_path / "t.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout


# --------------------------------------------------------------------------- wide tables

@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_wide_table_column_groups_print_at_one_readable_size(tmp_path):
    """A 40-column table is continued in column groups: every group (the first too) at the size of
    the last, none below the minimum, nothing past the page's edge."""
    import numpy as np
    import pandas as pd

    from labkit.report import pipeline as report
    from labkit.tables import styled

    if report.chromium_path() is None:
        pytest.skip("Chromium is not installed")
    frame = pd.DataFrame({f"col{i:02d}_value": np.arange(3) * 1.2345 + i for i in range(40)},
                         index=pd.Index(["alpha", "beta", "gamma"], name="setting"))
    table = styled(frame).to_html(table_attributes='class="labkit-table"')
    bbox = _printed_words(table, tmp_path, "en")
    page = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    words = {m.group(5): (float(m.group(4)) - float(m.group(2)), float(m.group(3)))
             for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                                  r'(col\d\d_value)</word>', bbox)}
    assert sorted(words) == sorted(frame.columns), "a column is missing from the PDF"
    heights = [height for height, _ in words.values()]
    assert max(heights) - min(heights) < 0.5, f"column groups printed at different sizes: {sorted(set(heights))}"
    assert min(heights) > 7.3  # 8pt table text, at least 0.8 of it (a 6.05 pt box was the bug)
    assert max(right for _, right in words.values()) < page
    assert "continued: columns" in subprocess.run(["pdftotext", str(tmp_path / "t.pdf"), "-"],
                                                  capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_narrow_table_caption_prints_on_one_line(tmp_path):
    """A two-column table's caption is not wrapped to the table's width (it printed in four lines)."""
    import pandas as pd

    from labkit.report import pipeline as report
    from labkit.tables import styled

    if report.chromium_path() is None:
        pytest.skip("Chromium is not installed")
    frame = pd.DataFrame({"value": ["adam", 64]}, index=pd.Index(["optimizer", "batch_size"], name="setting"))
    table = styled(frame, caption="CAPSTART ResNet-18 训练设置（方案：source） CAPEND").to_html()
    bbox = _printed_words(table, tmp_path, "zh")
    top = {m.group(2): float(m.group(1)) for m in re.finditer(r'yMin="([\d.]+)"[^>]*>(CAPSTART|CAPEND)<', bbox)}
    assert set(top) == {"CAPSTART", "CAPEND"} and abs(top["CAPSTART"] - top["CAPEND"]) < 2, top


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_pages_are_numbered_after_the_cover(tmp_path):
    """Every page but the cover carries "n / total" at its foot (a printed report is handed in loose)."""
    from labkit.report import pipeline as report

    if report.chromium_path() is None:
        pytest.skip("Chromium is not installed")
    nb = executed_notebook()
    nb.cells += [new_markdown_cell(f"段落 {i}：" + "证据下界的推导。" * 30) for i in range(40)]
    report.to_html(document.prepare(nb, lang="zh"), tmp_path / "t.html", lang="zh")
    report.html_to_pdf(tmp_path / "t.html", tmp_path / "t.pdf")
    printed = subprocess.run(["pdftotext", str(tmp_path / "t.pdf"), "-"], capture_output=True, text=True,
                             check=True).stdout.split("\f")[:-1]
    total = len(printed)
    assert total >= 3
    assert "实验报告" in printed[0] and not re.search(rf"(?m)^\s*1\s*/\s*{total}\s*$", printed[0])
    for number, page in enumerate(printed[1:], start=2):
        assert re.search(rf"(?m)^\s*{number}\s*/\s*{total}\s*$", page), f"page {number} has no page number"


# --------------------------------------------------------------------------- Word

def docx_parts(path: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(path) as docx:
        return docx.read("word/document.xml").decode("utf-8"), [n for n in docx.namelist() if n.startswith("word/media/")]


@needs_pandoc
def test_docx_has_figures_tables_math_and_chinese(tmp_path):
    import pandas as pd

    nb = executed_notebook()
    table = pd.DataFrame({"模型": ["a", "b"], "准确率": [0.9, 0.8]})
    nb.cells.append(new_code_cell("table", outputs=[new_output(
        "execute_result", data={"text/html": table.to_html(), "text/plain": str(table)}, execution_count=3)]))
    # labkit.show_text: a sentence written from the run's numbers (Markdown, with its repr as text/plain)
    nb.cells.append(new_code_cell("labkit.show_text(...)", outputs=[new_output("display_data", data={
        "text/markdown": "本次运行中 **FID** 最低的是 kit（$x_1$）", "text/plain": "<IPython.core.display.Markdown object>"})]))
    nb.cells.append(new_code_cell("fit(...)", outputs=[
        new_output("stream", name="stdout", text="\rrun:   0%|   | 0/8 BARFRAME"),
        new_output("stream", name="stdout", text="\rrun: 100%|###| 8/8 BARFRAME"), new_output("stream", name="stdout", text="\n")]))
    doc = document.prepare(nb, lang="zh", student=Student(name="张三"), target="docx")
    path = document.to_docx(doc, tmp_path / "lab.docx", lang="zh")
    xml, media = docx_parts(path)
    assert len(media) == 1  # the figure
    assert xml.count("<w:tbl>") >= 2  # the cover's fields and the pandas table
    assert "<m:oMath" in xml  # $x^2$ as a Word equation
    assert xml.count('<w:br w:type="page"/>') == 1  # after the cover page
    for text in ("实验一：标题", "张三", "学号", "模型", "准确率", "待填写", "本次运行中", "最低的是 kit"):
        assert text in xml
    assert "IPython.core.display" not in xml and "**" not in xml  # the sentence, parsed, not its repr
    assert xml.count("BARFRAME") == 1  # a progress bar prints its final line only, as in the PDF
    # labkit's records and banners print as their line, not as their JSON payload
    assert "[recorded] acc = 0.5" in xml and "Dataset MNIST" in xml and '"source"' not in xml.replace("&quot;", '"')
    # printed like the PDF: A4, pages numbered after the cover
    page = re.search(r"<w:pgSz [^>]*>", xml).group(0)
    assert 'w:w="11906"' in page and 'w:h="16838"' in page and "<w:titlePg" in xml
    with zipfile.ZipFile(path) as docx:
        footer = docx.read("word/footer1.xml").decode("utf-8")
    assert "PAGE" in footer and "NUMPAGES" in footer
    assert not (tmp_path / "lab.docx.part").exists()


def test_docx_without_pandoc_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(document.PandocMissing, match="apt-get install pandoc"):
        document.to_docx(executed_notebook(), tmp_path / "x.docx")


# --------------------------------------------------------------------------- the whole pipeline

def pdf_text(pdf: Path, layout: bool = True) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def render(out: Path, overrides: dict, **kwargs):
    from labkit.report import pipeline as report

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_DATA", DATA)
        patch.setenv("OMP_NUM_THREADS", "1")
        return report.render(FIXTURE, out, overrides, log=None, **kwargs)


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zh")
    student = folder / "student.yaml"
    student.write_text('name: 张三\nstudent_id: "2023012345"\ncourse: 深度学习\n', encoding="utf-8")
    return render(folder / "out", {"lang": "zh"}, student=student)


@pytest.fixture(scope="module")
def en_lean_report(tmp_path_factory):
    return render(tmp_path_factory.mktemp("en") / "out", {"lang": "en", "profile": "quick"},
                  print_options=PrintOptions(code="none", logs=False), docx=False)


@pipeline
def test_zh_report_is_chinese_with_cover_and_every_table_header(zh_report):
    assert zh_report.failure is None and zh_report.pdf is not None, zh_report.pdf_error
    html = zh_report.html.read_text(encoding="utf-8")
    assert re.search(r'<html lang="zh"', html)
    text = pdf_text(zh_report.pdf)
    first_page = text.split("\f")[0]
    for field in ("实验报告", "姓名", "张三", "学号", "2023012345", "班级", "实验九：打印的报告"):
        assert field in first_page
    for prose in ("实验目的", "实验原理", "证据下界", "实验内容、结果与分析", "总结与心得", "改进建议"):
        assert prose in text
    for english in ("Objectives", "Principles", "Summary", "Tell us what to improve"):
        assert english not in text
    assert "没有任何意义" in text  # the smoke note
    assert text.count("待填写") == 2 and "STUDENT_WROTE_THIS" in text
    words = set(pdf_text(zh_report.pdf, layout=False).split())
    missing = [h for h in TABLE12 + TABLE30 if h not in words]
    assert not missing, f"table headers cut off the page: {missing}"


@pipeline
def test_zh_report_prose_is_chinese(zh_report):
    """Every line of prose in the PDF (code, numbers and identifiers aside) holds Chinese."""
    nb = nbformat.read(zh_report.ipynb, as_version=4)
    prose = [c.source for c in document.prepare(nb, lang="zh").cells
             if c.cell_type == "markdown" and document.cell_language(c) == "zh"]
    assert prose and all(CJK.search(p) for p in prose)
    assert not any(document.cell_language(c) == "en" for c in document.prepare(nb, lang="zh").cells)


def english_sentences(html: str) -> list[str]:
    """Runs of four or more English words in a report's HTML outside code, logs, the student's own
    analysis and the appendix (the prose, headings, captions, table cells and notes a Chinese reader sees)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "pre", "code"]):
        tag.decompose()
    for selector in (".jp-CodeCell .jp-InputArea", ".celltag_labkit-provenance", ".celltag_analysis",
                     "[data-mime-type='application/vnd.jupyter.stdout']", "[data-mime-type='application/vnd.jupyter.stderr']"):
        for tag in soup.select(selector):
            tag.decompose()
    words = re.compile(r"[A-Za-z][A-Za-z'-]*(?:[ ,;:]+[A-Za-z][A-Za-z'-]*){3,}")
    return [m.group(0) for text in soup.stripped_strings for m in words.finditer(text)]


@pipeline
def test_zh_report_has_no_english_sentence_outside_code(zh_report):
    assert english_sentences(zh_report.html.read_text(encoding="utf-8")) == []
    # the check can fail: the English report's prose is caught
    assert "This lab checks how a report prints" in english_sentences(
        to_english_html(zh_report.ipynb, zh_report.html.parent.parent / "en.html"))


def to_english_html(ipynb: Path, html: Path) -> str:
    from labkit.report import pipeline as report

    nb = nbformat.read(ipynb, as_version=4)
    report.to_html(document.prepare(nb, lang="en"), html, lang="en")
    return html.read_text(encoding="utf-8")


@pipeline
def test_zh_report_docx(zh_report):
    assert zh_report.docx is not None and zh_report.docx.name == "printed.docx", zh_report.docx_error
    xml, media = docx_parts(zh_report.docx)
    assert media, "the figure is missing from the Word file"
    assert "<m:oMath" in xml and xml.count("<w:tbl>") >= 4
    for text in ("张三", "实验目的", "证据下界", "待填写", *TABLE12, *TABLE30):
        assert text in xml, text
    assert "Objectives" not in xml


@pipeline
def test_metrics_json_numbers_for_people(zh_report):
    metrics = zh_report.metrics.read_text(encoding="utf-8")
    assert '"accuracy": 0.8123' in metrics and '"entropy": 0.0' in metrics
    assert "-0" not in pdf_text(zh_report.pdf).split("[recorded] entropy")[1].split("\n")[0]
    # a cell ending with labkit.record(...) shows the [recorded] line only (resnet printed Out[13]: 'too_few_epochs')
    assert "Out[" not in pdf_text(zh_report.pdf).split("[recorded] entropy")[1].split("\n")[1]


@pipeline
def test_lean_report_leaves_out_code_and_logs(zh_report, en_lean_report):
    assert en_lean_report.failure is None and en_lean_report.pdf is not None
    text = pdf_text(en_lean_report.pdf)
    for gone in ("EXERCISE_CODE_LINE", "def reparameterize", "LOG_LINE_STDOUT", "LOG_LINE_STDERR", "[recorded]",
                 "import numpy", "Smoke run"):
        assert gone not in text, gone
    for kept in ("Objectives", "reparameterization trick", "overall_ZZEND", "To be written", "Student number"):
        assert kept in text, kept
    assert "实验" not in text
    assert en_lean_report.docx is None and not (en_lean_report.pdf.parent / "printed.docx").exists()
    assert pages(en_lean_report.pdf) < pages(zh_report.pdf)


def test_each_progress_bar_of_a_cell_keeps_its_final_line(tmp_path):
    """Two bars in one cell: tqdm ends each with a stream holding only "\\n"; dropping it as empty joined
    the bars on one line and the second bar's "\\r" erased the first in the report (vae's "mlp AE")."""
    from labkit.report import pipeline as report

    stream = lambda text: new_output("stream", name="stdout", text=text)  # noqa: E731
    nb = executed_notebook()
    nb.cells.append(new_code_cell("train both", outputs=[
        stream("\rmlp AE:   0%|   | 0/24"), stream("\rmlp AE: 100%|###| 24/24 FIRSTBAR"), stream("\n"),
        stream("\rconv AE:   0%|   | 0/12"), stream("\rconv AE: 100%|###| 12/12 SECONDBAR"), stream("\n")]))
    html = report.to_html(document.prepare(nb, lang="en"), tmp_path / "bars.html").read_text()
    assert "FIRSTBAR" in html and "SECONDBAR" in html


def test_cli_says_which_student_file_made_the_cover(tmp_path):
    good = tmp_path / "me.yaml"
    good.write_text("name: 张三\nstudent_id: 2021123456\n", encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(["python", "-m", "labkit.cli", "report", str(FIXTURE), "--out", str(out), "--no-docx",
                           "--student", str(good)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"labkit: cover page from {good}" in done.stdout


def test_line_breaks_between_chinese_characters_print_no_space():
    """A browser prints a paragraph's line break as a space: "方案下 训练", "带 掩码" in every zh report."""
    source = "## 3. 实验内容\n本节在两种方案下\n训练模型。\nEnglish line\n- 列表项\n续行\n\n```\n代码\n注释\n```\n在\n`code`\n之后"
    assert document.tidy_cjk(source) == ("## 3. 实验内容\n本节在两种方案下训练模型。\nEnglish line\n- 列表项续行\n\n"
                                         "```\n代码\n注释\n```\n在\n`code`\n之后")
    # a space beside full-width punctuation goes too (a template's space before a run name that was Chinese),
    # but not inside code or math, nor between a Chinese and a Latin word
    assert document.tidy_cjk("3 个模型（已在表中标出） 出现模式崩溃；学习率 （lr） 为 `a， b` 和 $x， y$") == \
        "3 个模型（已在表中标出）出现模式崩溃；学习率（lr）为 `a， b` 和 $x， y$"
    assert document.tidy_cjk("- （注） 见下\n## （一） 原理\n> （引） 文") == "- （注）见下\n## （一）原理\n> （引）文"
    nb = executed_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("带\n掩码的损失", metadata={"tags": ["lang-zh"]}))
    nb.cells.append(nbformat.v4.new_code_cell("labkit.show_text(...)", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/markdown": "MNIST：3 个模型（已在表中标出） 出现模式崩溃。", "text/plain": "<Markdown>"})]))
    cells = document.prepare(nb, lang="zh").cells
    assert any(cell.source == "带掩码的损失" for cell in cells)
    shown = [o["data"]["text/markdown"] for cell in cells for o in cell.get("outputs", []) if "text/markdown" in o.get("data", {})]
    assert "MNIST：3 个模型（已在表中标出）出现模式崩溃。" in shown
