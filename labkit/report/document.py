"""The document a student hands in: what of the executed notebook goes into the HTML, PDF and Word files.

The executed notebook (``reports/<lab>/<lab>.ipynb``) keeps everything; :func:`prepare` builds the
*printed* view of it:

* **language** — only the markdown cells of the report's language are kept (cells tagged
  ``lang-en`` / ``lang-zh``; untagged cells appear in both);
* **cover page** — the course template's cover (课程名称, 实验名称, 姓名, 学号, 班级, 指导教师, 日期)
  from a ``student.yaml`` (:func:`load_student`), with blank lines to fill by hand where a field is absent;
* **notes** — a visible note on smoke-profile reports (their numbers mean nothing) and one note
  naming the datasets that came from the embedded sample (the notebook's own repeated warnings are
  dropped);
* **analysis boxes** — an empty markdown cell tagged ``analysis`` becomes a visible
  "To be written / 待填写" box;
* **print options** (:class:`PrintOptions`) — all code, only the exercise cells' code, or none; with
  or without logs (streams, progress bars, ``[recorded]`` lines);
* the "Environment and provenance" section moves to the end, as an appendix.

:func:`to_docx` writes the prepared notebook as a Word file with pandoc (``pandoc -f ipynb``, a Lua
filter turning the HTML tables of outputs into Word tables).
"""
from __future__ import annotations

import copy
import datetime as _dt
import html as html_lib
import re
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from labkit.i18n import CJK, check_language, t
from labkit.plumbing import atomic_path, short_error
from labkit.report.tools import make_file
from labkit.records import DATASET_MIME, RECORD_MIME, RUN_MIME

#: Tags the lab notebooks use (see the conventions in CONTRIBUTING.md / LABS.md).
LANG_TAG = "lang-{lang}"
ANALYSIS_TAG = "analysis"
HIDDEN_CHECK_TAG = "hidden-check"
EXERCISE_MARKER = "### BEGIN SOLUTION"
#: Tags of the cells the report pipeline adds (the same strings as in pipeline.py).
PROVENANCE_TAG = "labkit-provenance"
COVER_TAG, NOTE_TAG = "labkit-cover", "labkit-note"

#: The student file looked for beside the notebook, then in the working folder.
STUDENT_FILE = "student.yaml"
CODE_CHOICES = ("all", "exercises", "none")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_LOG_MIMES = (RECORD_MIME, RUN_MIME, DATASET_MIME)
_LUA_FILTER = Path(__file__).parent / "templates" / "docx" / "labkit.lua"


class StudentFileError(ValueError):
    """``student.yaml`` cannot be read (bad YAML, unknown field, not a mapping); the message says how to fix it."""


class DocxError(RuntimeError):
    """pandoc could not write the Word file."""


class PandocMissing(DocxError):
    """No ``pandoc`` executable was found; the message says how to install it."""


# --------------------------------------------------------------------------- student.yaml

@dataclass(frozen=True)
class Student:
    """The cover page's fields. Each is a string; "" prints as a blank line to fill by hand."""

    name: str = ""
    student_id: str = ""
    class_name: str = ""
    course: str = ""
    experiment: str = ""
    instructor: str = ""
    date: str = ""
    source: str = ""  # the file the fields came from ("" when none)

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self) if f.name != "source")


#: Accepted keys of student.yaml (English or the template's Chinese labels) -> Student field.
STUDENT_KEYS = {
    "name": "name", "姓名": "name",
    "student_id": "student_id", "number": "student_id", "学号": "student_id",
    "class": "class_name", "班级": "class_name",
    "course": "course", "课程名称": "course", "课程": "course",
    "experiment": "experiment", "实验名称": "experiment",
    "instructor": "instructor", "指导教师": "instructor",
    "date": "date", "日期": "date",
}

STUDENT_EXAMPLE = """\
# student.yaml — the cover page of your lab reports (put it beside the notebook or in the folder you run from)
name: 张三            # 姓名
student_id: 0023012345     # 学号 (read as written: leading zeros stay)
class: 计算机 2101    # 班级
course: 深度学习       # 课程名称
instructor: 李老师     # 指导教师
# experiment: ...     # 实验名称 (default: the notebook's title)
# date: 2026-12-01    # 日期 (or "today"; default: a blank line)
"""


#: Dates the cover accepts (besides "today"): 2026-12-01, 2026/12/01, 2026.12.01, 2026年12月1日.
_DATE = re.compile(r"^(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?$")


def _field_text(key: str, field: str, value: Any, path: Path) -> str:
    """The text of one value as written (the loader gives strings); dates are checked."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise StudentFileError(f"{path}: field {key!r} must be a single value, not a {type(value).__name__}")
    text = " ".join(str(value).split())
    if field == "date" and text:
        if text.lower() == "today":
            return _dt.date.today().strftime("%Y-%m-%d")
        match = _DATE.match(text)
        try:
            if match is None:
                raise ValueError("not a date")
            return _dt.date(*map(int, match.groups())).strftime("%Y-%m-%d")
        except ValueError as exc:
            raise StudentFileError(f"{path}: field {key!r} is {text!r}, not a valid date ({exc}); write it as "
                                   "YYYY-MM-DD (e.g. 2026-12-01) or today") from exc
    return text


def _text_loader():
    """A YAML loader that reads every scalar as the text written (``yaml.BaseLoader``: ``02345670``
    stays ``"02345670"``, ``yes`` stays ``"yes"``) and refuses a key given twice."""
    import yaml

    class TextLoader(yaml.BaseLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if key is not None and key in seen:
                    raise StudentFileError(f"field {key!r} is given twice (lines {seen[key]} and "
                                           f"{key_node.start_mark.line + 1}); keep one")
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    return TextLoader


def read_student(path: Path | str) -> Student:
    """Read the cover page's fields from a YAML file (keys: see :data:`STUDENT_KEYS`).

    Every value is read as the text written (an unquoted ``student_id: 02345670`` keeps its leading
    zero, ``name: yes`` stays ``yes``). Raises :class:`StudentFileError` with a one-line message naming
    the file (and the field) for a missing file, bad YAML, a file that is not a mapping, an unknown
    key, a field given twice (also as its English and Chinese names, e.g. ``name`` and ``姓名``), or a
    date that is not a valid ``YYYY-MM-DD``.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudentFileError(f"cannot read the student file {path}: {short_error(exc)}") from exc
    try:
        data = yaml.load(text, Loader=_text_loader())  # noqa: S506 - BaseLoader builds only str/list/dict
    except StudentFileError as exc:
        raise StudentFileError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StudentFileError(f"{path} is not valid YAML{where} ({problem}); "
                               "write one `key: value` per line, e.g. `name: 张三`") from exc
    if data is None or data == "":
        data = {}
    if not isinstance(data, dict):
        raise StudentFileError(f"{path} must hold `key: value` lines (name, student_id, class, course, "
                               f"experiment, instructor, date), not a {type(data).__name__}")
    values: dict[str, str] = {}
    given: dict[str, str] = {}
    for key, value in data.items():
        field = STUDENT_KEYS.get(str(key).strip().lower())
        if field is None:
            raise StudentFileError(f"{path}: unknown field {key!r}; use name, student_id, class, course, "
                                   "experiment, instructor, date (or 姓名, 学号, 班级, 课程名称, 实验名称, 指导教师, 日期)")
        if field in given:
            raise StudentFileError(f"{path}: fields {given[field]!r} and {key!r} both give the {field}; keep one")
        given[field] = key
        values[field] = _field_text(str(key), field, value, path)
    return Student(**values, source=str(path))


def find_student_file(notebook: Path | str | None = None, cwd: Path | str | None = None) -> Path | None:
    """``student.yaml`` beside ``notebook``, else in ``cwd`` (default: the working folder), else None."""
    folders = [Path(notebook).resolve().parent] if notebook is not None else []
    folders.append(Path(cwd or Path.cwd()).resolve())
    for folder in folders:
        candidate = folder / STUDENT_FILE
        if candidate.is_file():
            return candidate
    return None


def load_student(student: Student | Path | str | None, notebook: Path | str | None = None) -> Student:
    """The cover page's fields: ``student`` itself, the file it names, or the ``student.yaml`` found
    by :func:`find_student_file`; an empty :class:`Student` (blank lines) when there is none.

    Raises :class:`StudentFileError` for a file that is named but missing, or that cannot be read.
    """
    if isinstance(student, Student):
        return student
    if student is not None:
        path = Path(student)
        if not path.is_file():
            raise StudentFileError(f"the student file {path} does not exist; create it with one `key: value` per "
                                   "line (name, student_id, class, course, instructor; see README.md)")
        return read_student(path)
    found = find_student_file(notebook)
    return read_student(found) if found is not None else Student()


# --------------------------------------------------------------------------- print options

@dataclass(frozen=True)
class PrintOptions:
    """What of the executed notebook is printed.

    ``code``: ``"all"`` (every code cell's source), ``"exercises"`` (only the cells holding an
    exercise region, ``### BEGIN SOLUTION``: the code the student wrote) or ``"none"``. Outputs
    (figures, tables) are kept in every case. ``logs``: False leaves out stream output (prints,
    warnings, progress bars), ``[recorded]`` lines and the run/dataset banners.
    """

    code: str = "all"
    logs: bool = True

    def __post_init__(self) -> None:
        if self.code not in CODE_CHOICES:
            raise ValueError(f"code={self.code!r} is not a print option; choose one of: {', '.join(CODE_CHOICES)}")


# --------------------------------------------------------------------------- preparing the printed notebook

def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def cell_language(cell: Any) -> str | None:
    """``"en"``/``"zh"`` for a cell tagged ``lang-en``/``lang-zh``, else None (shown in every language)."""
    for tag in _tags(cell):
        if tag.startswith("lang-"):
            return tag[len("lang-"):]
    return None


def is_exercise(cell: Any) -> bool:
    """Whether a code cell holds an exercise region (the code the student writes): its source has
    ``### BEGIN SOLUTION``, or :func:`mark_exercises` marked it before the markers were stripped."""
    return cell.get("cell_type") == "code" and (
        EXERCISE_MARKER in cell.get("source", "")
        or bool((cell.get("metadata", {}).get("labkit") or {}).get("exercise")))


def mark_exercises(nb: Any) -> Any:
    """Mark (``metadata.labkit.exercise = true``) the code cells holding an exercise region, so the
    print options still find them after the pipeline strips the solution markers. Returns ``nb``."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and EXERCISE_MARKER in cell.get("source", ""):
            cell.metadata.setdefault("labkit", {})["exercise"] = True
    return nb


def is_analysis(cell: Any) -> bool:
    return cell.get("cell_type") == "markdown" and ANALYSIS_TAG in _tags(cell)


def filter_language(cells: list, lang: str) -> list:
    """The cells of ``lang``: cells tagged for another language are left out."""
    lang = check_language(lang)
    return [cell for cell in cells if cell_language(cell) in (None, lang)]


def _markdown(source: str, tag: str) -> Any:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = [tag]
    return cell


def _title(cells: list) -> str:
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in cell.get("source", "").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


_COVER_FIELDS = (("course", "cover.course"), ("experiment", "cover.experiment"), ("name", "cover.name"),
                 ("student_id", "cover.student_id"), ("class_name", "cover.class"),
                 ("instructor", "cover.instructor"), ("date", "cover.date"))


def cover_cell(student: Student, title: str, lang: str, *, target: str = "html") -> Any:
    """The cover page: the report's heading, then the template's fields (blank lines where empty)."""
    values = {name: getattr(student, name) for name, _ in _COVER_FIELDS}
    values["experiment"] = values["experiment"] or title
    if target == "docx":
        blank = "\\_" * 24
        rows = [f"| {t(key, lang)} | {values[name] or blank} |" for name, key in _COVER_FIELDS]
        source = "\n".join([f"**{t('cover.heading', lang)}**", "", "| | |", "|---|---|", *rows, "",
                            "```labkit-pagebreak", "page break", "```", ""])
        return _markdown(source, COVER_TAG)
    rows = "".join(
        f'<tr><th>{html_lib.escape(t(key, lang))}</th>'
        f'<td class="{"" if values[name] else "labkit-blank"}">{html_lib.escape(values[name]) or "&nbsp;"}</td></tr>'
        for name, key in _COVER_FIELDS)
    course = html_lib.escape(values["course"])
    source = (f'<div class="labkit-cover labkit-nomath">'
              f'<div class="labkit-cover-course">{course or "&nbsp;"}</div>'
              f'<div class="labkit-cover-heading">{html_lib.escape(t("cover.heading", lang))}</div>'
              f'<table class="labkit-cover-fields">{rows}</table></div>')
    return _markdown(source, COVER_TAG)


def _note(kind: str, title: str, body: str, target: str) -> Any:
    if target == "docx":
        return _markdown(f"> **{title}** {body}", NOTE_TAG)
    return _markdown(f'<div class="labkit-note labkit-note-{kind} labkit-nomath"><strong>{html_lib.escape(title)}</strong> '
                     f'{html_lib.escape(body)}</div>', NOTE_TAG)


def _analysis_box(lang: str, target: str) -> str:
    if target == "docx":
        return f"> **{t('analysis.todo', lang)}**\n>\n> {t('analysis.hint', lang)}\n"
    return (f'<div class="labkit-analysis-todo labkit-nomath"><strong>{html_lib.escape(t("analysis.todo", lang))}'
            f'</strong><p>{html_lib.escape(t("analysis.hint", lang))}</p></div>')


def _sample_datasets(nb: Any) -> list[dict]:
    seen, found = set(), []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            info = output.get("data", {}).get(DATASET_MIME)
            if isinstance(info, dict) and info.get("source") == "sample" and info.get("name") not in seen:
                seen.add(info.get("name"))
                found.append(info)
    return found


#: The notebook's own offline-sample warning (i18n key data.sample_warning, both languages).
_SAMPLE_LINE = re.compile(r"^(Using the embedded sample of .*|正在使用 .* 的内置样本.*)(\n|$)", re.MULTILINE)


def _keep_output(output: Any, options: PrintOptions) -> Any | None:
    """The output as printed (possibly edited), or None to leave it out."""
    kind = output.get("output_type")
    if kind == "stream":
        if not options.logs:
            return None
        text = output.get("text", "")
        if output.get("name") == "stderr":
            text = _SAMPLE_LINE.sub("", text)  # said once, in the note at the top
            if not text.strip():
                return None
        elif not text:
            return None  # a stream of newlines stays: it ends a progress bar's line (tqdm's close writes
            # "\n" alone), and without it the next bar's "\r" erased this one in the printed report
        output = copy.deepcopy(output)
        output["text"] = text
        return output
    if kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        if not options.logs and any(mime in data for mime in _LOG_MIMES):
            return None
        if not options.logs and (WIDGET_MIME in data or 'class="labkit-widget"' in str(data.get("text/html", ""))):
            return None  # a progress bar (tqdm.auto), drawn from its saved widget state by prepare.for_render
        return output
    return output  # errors are always shown


def _for_pandoc(output: Any) -> Any:
    """An output as pandoc should print it in the Word file: one holding an HTML table keeps only
    its HTML (pandoc's ipynb reader would otherwise pick the text/plain form), which the Lua filter
    turns into a Word table; one holding Markdown (:func:`labkit.show_text`) keeps only the Markdown,
    which the filter parses; labkit's own bundles (records, the run banner, datasets) keep
    only their text/plain line (pandoc printed their JSON payload)."""
    data = output.get("data", {})
    if "text/markdown" in data and "text/plain" in data:  # labkit.show_text: the sentence, not its repr
        output = copy.deepcopy(output)
        del output["data"]["text/plain"]
    elif "<table" in str(data.get("text/html", "")) and "text/plain" in data:
        output = copy.deepcopy(output)
        del output["data"]["text/plain"]
    elif "text/plain" in data and any(mime in data for mime in _LOG_MIMES):
        output = copy.deepcopy(output)
        output["data"] = {"text/plain": data["text/plain"]}
    return output


#: CSS pixels per inch (the printed page: 96 px = 1 in).
_CSS_DPI = 96


def png_print_width(data: str) -> int | None:
    """The width, in CSS pixels, at which a base64 PNG prints at the size it was drawn: its pixel width
    times 96 / its resolution (the PNG's pHYs chunk: matplotlib writes the figure's dpi there). None
    when the PNG says no resolution (then it prints at one CSS pixel per pixel, as before) or cannot
    be read. A matplotlib figure drawn 4.6 in wide at 110 dpi is 506 px: it printed 5.3 in wide, its
    10 pt labels at 11.5 pt; with this width it prints 4.6 in wide, its labels at 10 pt."""
    import base64
    import binascii
    import struct

    try:
        head = base64.b64decode("".join(data.split())[:4096] + "=" * (-len("".join(data.split())[:4096]) % 4))
    except (binascii.Error, ValueError):
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width = struct.unpack(">I", head[16:20])[0]
    at = head.find(b"pHYs")
    if at < 0 or len(head) < at + 13:
        return None
    per_x, _, unit = struct.unpack(">IIB", head[at + 4:at + 13])
    if unit != 1 or per_x <= 0:  # unit 1: pixels per metre
        return None
    return max(1, round(width * _CSS_DPI / (per_x * 0.0254)))


def _print_size(output: Any) -> Any:
    """A PNG output with ``metadata["image/png"]["width"]`` set to :func:`png_print_width` (unless it has
    a width already), so the HTML/PDF prints the figure at its drawn size (a copy when changed)."""
    data = output.get("data", {}).get("image/png")
    if not isinstance(data, str) or "width" in (output.get("metadata", {}).get("image/png") or {}):
        return output
    width = png_print_width(data)
    if width is None:
        return output
    output = copy.deepcopy(output)
    output.setdefault("metadata", {}).setdefault("image/png", {})["width"] = width
    return output


_CJK = CJK  # a line break between two of them is not a space
_CJK_END = re.compile(rf"[{_CJK}][ \t]*$")
_CJK_START = re.compile(rf"^[ \t]*[{_CJK}]")
#: full-width punctuation: a space beside one is never wanted ("（已在表中标出） 出现", "学习率 （lr）")
_FULL_WIDTH_SPACE = re.compile(r"(?<=[，。；：、！？（）《》「」『』])[ \t]+|[ \t]+(?=[，。；：、！？（）《》「」『』])")
#: left as they are: fenced code, display and inline math, inline code
_VERBATIM = re.compile(r"(```.*?```|~~~.*?~~~|\$\$.*?\$\$|`[^`\n]*`|\$[^$\n]*\$)", re.S)


def tidy_cjk(markdown: str) -> str:
    """``markdown`` with the spaces that Chinese text never has removed (outside code and math):

    * a line break inside a paragraph between two Chinese characters. A browser turns every line break
      of a paragraph into a space (CSS's rule to drop it between Chinese characters is not implemented
      by Chromium), so prose wrapped in the notebook printed as "方案下 训练" and "带 掩码". A heading's
      line is never joined to the next;
    * spaces beside full-width punctuation: a sentence written from a template that separates a Latin
      run name with a space ("{runs} 出现模式崩溃") printed "（已在表中标出） 出现" when the name was Chinese.

    Applied to every markdown cell and every Markdown output (``labkit.show_text``) of a report.
    """
    def tidy(text: str) -> str:
        out: list[str] = []
        for line in text.split("\n"):
            if out and _CJK_END.search(out[-1]) and _CJK_START.match(line) and not out[-1].lstrip().startswith("#"):
                out[-1] = out[-1].rstrip() + line.lstrip()
            else:
                out.append(line)
        return "\n".join(_tidy_line(line) for line in out)

    parts = _VERBATIM.split(markdown)
    return "".join(part if i % 2 else tidy(part) for i, part in enumerate(parts))


_BLOCK_MARKER = re.compile(r"^[ \t]*(?:(?:[-*+]|\d+[.)]|#{1,6}|>)[ \t]+)*")


def _tidy_line(line: str) -> str:
    """One line without spaces beside full-width punctuation; its leading list, heading or quote marker
    and the space after it stay ("- （注）" is still a list item)."""
    marker = _BLOCK_MARKER.match(line).group(0)
    return marker + _FULL_WIDTH_SPACE.sub("", line[len(marker):])


def _tidy_markdown_output(output: Any) -> Any:
    """A Markdown display output (``labkit.show_text``) with :func:`tidy_cjk` applied (a copy when changed)."""
    data = output.get("data", {}).get("text/markdown") if isinstance(output.get("data"), dict) else None
    if data is None:
        return output
    text = "".join(data) if isinstance(data, list) else str(data)
    tidied = tidy_cjk(text)
    if tidied == text:
        return output
    output = copy.deepcopy(output)
    output["data"]["text/markdown"] = tidied
    return output


def prepare(nb: Any, *, lang: str, options: PrintOptions | None = None, student: Student | None = None,
            profile: str | None = None, target: str = "html") -> Any:
    """The printed view of an executed notebook (a deep copy; ``nb`` is not changed).

    ``target`` is ``"html"`` (for the HTML/PDF: notes and boxes as styled HTML) or ``"docx"`` (the same
    content as plain markdown pandoc turns into Word). See the module's docstring for what changes.
    """
    lang = check_language(lang)
    if target not in ("html", "docx"):
        raise ValueError(f"target={target!r}: choose html or docx")
    options = options or PrintOptions()
    doc = copy.deepcopy(nb)
    cells = filter_language(doc.cells, lang)
    samples = _sample_datasets(doc)

    printed, provenance = [], []
    for cell in cells:
        tags = _tags(cell)
        if PROVENANCE_TAG in tags:
            provenance.append(cell)
            continue
        if cell.get("cell_type") == "code":
            if HIDDEN_CHECK_TAG in tags and options.code != "all":
                continue
            hide = options.code == "none" or (options.code == "exercises" and not is_exercise(cell))
            cell.outputs = [_tidy_markdown_output(kept) for kept in (_keep_output(o, options)
                                                                     for o in cell.get("outputs", []))
                            if kept is not None]
            if target == "docx":
                cell.outputs = [_for_pandoc(o) for o in cell.outputs]
            else:  # figures print at the size they were drawn (labkit.plots sizes them for the page)
                cell.outputs = [_print_size(o) for o in cell.outputs]
            if hide:
                if not cell.outputs:
                    continue
                if target == "docx":
                    cell.source = ""
                else:
                    cell.metadata.setdefault("transient", {})["remove_source"] = True
        elif is_analysis(cell) and not cell.get("source", "").strip():
            cell.source = _analysis_box(lang, target)
        elif cell.get("cell_type") == "markdown":
            cell.source = tidy_cjk(cell.get("source", ""))
        printed.append(cell)

    front = [cover_cell(student or Student(), _title(printed), lang, target=target)]
    if profile == "smoke":
        front.append(_note("smoke", t("note.smoke.title", lang), t("note.smoke.body", lang), target))
    if samples:
        names = ", ".join(str(info.get("title") or info.get("name")) for info in samples)
        front.append(_note("sample", t("note.sample.title", lang), t("note.sample.body", lang, names=names), target))
    # the error banner (if any) stays first after the front matter, as the pipeline put it
    doc.cells = front + printed + provenance
    doc.metadata.setdefault("labkit", {})["table_continued"] = t("table.continued", lang)
    return doc


# --------------------------------------------------------------------------- Word

def pandoc_path() -> str | None:
    return shutil.which("pandoc")


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_FIELD = ('<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> {0} </w:instrText>'
          '</w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>1</w:t></w:r>'
          '<w:r><w:fldChar w:fldCharType="end"/></w:r>')
#: The footer of every page but the first (the cover): "page / pages", centred.
_FOOTER = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:ftr xmlns:w="{_W}"><w:p><w:pPr>'
           '<w:jc w:val="center"/></w:pPr>' + _FIELD.format("PAGE")
           + '<w:r><w:t xml:space="preserve"> / </w:t></w:r>' + _FIELD.format("NUMPAGES") + '</w:p></w:ftr>')
_FOOTER_ID = "rIdLabkitFooter"
#: A4 (twentieths of a point: 210 x 297 mm), 2 cm margins, a first page (the cover) of its own, unnumbered.
_SECTION = (f'<w:sectPr><w:footerReference w:type="default" r:id="{_FOOTER_ID}"/>'
            '<w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1134" w:right="1134" w:bottom="1134" '
            'w:left="1134" w:header="567" w:footer="567" w:gutter="0"/><w:titlePg/></w:sectPr>')


#: East-Asian fonts of the Word file, as a Chinese university's report template sets them: body text
#: 宋体 (SimSun), headings and the title 黑体 (SimHei). The Latin fonts stay pandoc's (theme fonts).
BODY_EAST_ASIAN_FONT, HEADING_EAST_ASIAN_FONT = "SimSun", "SimHei"


def _east_asian_fonts(styles: str) -> str:
    """pandoc's ``word/styles.xml`` with explicit East-Asian fonts: the document default (every body
    style inherits it) becomes :data:`BODY_EAST_ASIAN_FONT`, every style that takes the theme's heading
    font (``majorEastAsia``: the title and headings) :data:`HEADING_EAST_ASIAN_FONT`. The theme
    attribute goes (Word lets ``w:eastAsiaTheme`` win over ``w:eastAsia``). Raises ValueError if
    pandoc's styles no longer have the expected shape (so a changed pandoc is noticed, not ignored)."""
    default = re.compile(r'(<w:rPrDefault>\s*<w:rPr>\s*<w:rFonts\b[^>]*?)\s+w:eastAsiaTheme="[^"]*"', re.S)
    styles, n_default = default.subn(rf'\1 w:eastAsia="{BODY_EAST_ASIAN_FONT}"', styles)
    styles, n_heading = re.subn(r'w:eastAsiaTheme="majorEastAsia"', f'w:eastAsia="{HEADING_EAST_ASIAN_FONT}"', styles)
    if n_default != 1 or n_heading == 0:
        raise ValueError("pandoc's reference styles.xml has an unexpected shape: cannot set the Chinese fonts")
    return styles


def reference_docx(exe: str, folder: Path | str, *, timeout: float = 60) -> Path:
    """pandoc's default reference document (its styles) with the printed page of the PDF report:
    A4, 2 cm margins, "page / pages" at the foot of every page but the cover, and the Chinese fonts
    of the course template (body 宋体 SimSun, headings 黑体 SimHei; :func:`_east_asian_fonts`).

    Written into ``folder`` as ``reference.docx`` and returned (for ``pandoc --reference-doc``; pandoc
    takes page size, margins and footers from it). Raises :class:`DocxError` when pandoc fails.
    """
    import zipfile

    plain, path = Path(folder) / "default-reference.docx", Path(folder) / "reference.docx"
    make_file([exe, "--output", str(plain), "--print-default-data-file", "reference.docx"], plain,
              tool="pandoc", doing="writing its reference document", timeout=timeout, error=DocxError)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                text = re.sub(r"<w:sectPr\s*/>|<w:sectPr\b.*?</w:sectPr>", "", data.decode("utf-8"), flags=re.S)
                data = text.replace("</w:body>", _SECTION + "</w:body>").encode("utf-8")
            elif item.filename == "word/styles.xml":
                try:
                    data = _east_asian_fonts(data.decode("utf-8")).encode("utf-8")
                except ValueError as exc:
                    raise DocxError(f"{exc} (pandoc {exe})") from exc
            elif item.filename == "word/_rels/document.xml.rels":
                data = data.decode("utf-8").replace("</Relationships>", (
                    '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
                    f'footer" Id="{_FOOTER_ID}" Target="footer1.xml" /></Relationships>')).encode("utf-8")
            elif item.filename == "[Content_Types].xml":
                data = data.decode("utf-8").replace("</Types>", (
                    '<Override PartName="/word/footer1.xml" ContentType="application/vnd.openxmlformats-'
                    'officedocument.wordprocessingml.footer+xml" /></Types>')).encode("utf-8")
            target.writestr(item, data)
        target.writestr("word/footer1.xml", _FOOTER)
    return path


def to_docx(nb: Any, docx: Path | str, *, lang: str = "en", resources_path: Path | str | None = None,
            timeout: float = 300) -> Path:
    """Write a prepared notebook (:func:`prepare` with ``target="docx"``) as a Word file with pandoc.

    Figures (PNG/JPEG/SVG outputs) are embedded, pandas/HTML tables become Word tables, ``$...$`` math
    becomes Word equations (OMML), Chinese text is marked ``zh-CN``; pages are A4 and numbered after
    the cover (:func:`reference_docx`). Raises :class:`PandocMissing`
    when pandoc is not installed and :class:`DocxError` when it fails; an existing ``docx`` is only
    replaced by a complete file.
    """
    exe = pandoc_path()
    if exe is None:
        raise PandocMissing("cannot make the Word file: pandoc was not found; install it "
                            "(Debian/Ubuntu: `sudo apt-get install pandoc`, or `make system-packages`)")
    docx = Path(docx).resolve()
    with tempfile.TemporaryDirectory(prefix="labkit-docx-") as tmp, atomic_path(docx) as partial:
        source = Path(tmp) / "report.ipynb"
        nb = copy.deepcopy(nb)
        nb.metadata.pop("widgets", None)
        # as the HTML does: consecutive streams merged, a "\r"-updated progress bar keeps its final line
        nb, _ = CoalesceStreamsPreprocessor(enabled=True).preprocess(nb, {})
        nbformat.write(nb, source)
        command = [exe, "--from", "ipynb", "--to", "docx", "--output", str(partial),
                   "--lua-filter", str(_LUA_FILTER), "--reference-doc", str(reference_docx(exe, tmp)),
                   "--metadata", f"lang={'zh-CN' if lang == 'zh' else 'en-US'}",
                   "--resource-path", str(Path(resources_path or docx.parent).resolve()), str(source)]
        make_file(command, partial, tool="pandoc", doing=f"writing {docx.name}", timeout=timeout,
                  error=DocxError, cwd=tmp, detail_lines=3)
    return docx
