"""The student version of a lab notebook (``labkit release``).

In the lab's (solution) notebook, the code students must write is marked::

    def make_model():
        layers = [nn.Flatten()]
        ### BEGIN SOLUTION
        layers += [nn.Linear(784, 10)]
        ### END SOLUTION
        return nn.Sequential(*layers)

:func:`release_notebook` replaces every marked region by one line, at the
marker's indentation, that fails clearly when reached::

        raise NotImplementedError("exercise: write your solution here")

A marker may say what to write; the stub's message then says it to the
student (``### BEGIN SOLUTION: return z = mu + sigma * eps`` gives
``raise NotImplementedError("exercise: return z = mu + sigma * eps")``).

removes every cell tagged ``hidden-check`` (the instructor's checks), and
clears all outputs. The released notebook therefore runs until the first
unwritten exercise and stops there with that error.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from labkit.grade.hidden import HIDDEN_TAG

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEFAULT_HINT = "write your solution here"
STUB_PREFIX = 'raise NotImplementedError("exercise: '
def stub(hint: str = DEFAULT_HINT) -> str:
    """The line that replaces a solution region: raises with ``hint`` (what to write)."""
    import json
    return f"raise NotImplementedError({json.dumps('exercise: ' + hint, ensure_ascii=False)})"


STUB = stub()


class ReleaseError(ValueError):
    """Solution markers that do not pair up; the message names the cell and line."""


@dataclass
class Released:
    """What :func:`release` wrote."""

    path: Path
    stubs: int  #: solution regions replaced by a stub
    hidden_removed: int  #: hidden-check cells removed


def _hint(marker_line: str) -> str:
    """What to write, from ``### BEGIN SOLUTION: <hint>`` (the default when the marker has none)."""
    rest = marker_line.strip()[len(BEGIN):].strip()
    return rest[1:].strip() if rest.startswith(":") and rest[1:].strip() else DEFAULT_HINT


def _is_begin(text: str) -> bool:
    return text == BEGIN or (text.startswith(BEGIN) and text[len(BEGIN):].lstrip().startswith(":"))


def _regions(source: str, where: str) -> list[tuple[int, int]]:
    """``(begin_line, end_line)`` of each solution region (0-based, the marker lines)."""
    regions, begin = [], None
    for number, line in enumerate(source.splitlines()):
        text = line.strip()
        if _is_begin(text):
            if begin is not None:
                raise ReleaseError(f"{where}, line {number + 1}: {BEGIN} inside another solution region "
                                   f"(opened on line {begin + 1})")
            begin = number
        elif text == END:
            if begin is None:
                raise ReleaseError(f"{where}, line {number + 1}: {END} without a {BEGIN} before it")
            regions.append((begin, number))
            begin = None
        elif BEGIN[4:] in text or END[4:] in text:
            raise ReleaseError(f"{where}, line {number + 1}: write the marker alone on its line, exactly "
                               f"{BEGIN!r} (optionally followed by ': what to write') or {END!r}")
    if begin is not None:
        raise ReleaseError(f"{where}, line {begin + 1}: {BEGIN} is never closed by {END}")
    return regions


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """``source`` with each solution region replaced by a :func:`stub`; and how many there were."""
    lines = source.splitlines()
    regions = _regions(source, where)
    for begin, end in reversed(regions):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        lines[begin:end + 1] = [indent + stub(_hint(lines[begin]))]
    return "\n".join(lines), len(regions)


def release_notebook(nb: Any) -> tuple[Any, int, int]:
    """The student version of ``nb``: ``(notebook, stubs, hidden cells removed)``. ``nb`` is not changed."""
    released = copy.deepcopy(nb)
    kept, stubs, hidden = [], 0, 0
    for index, cell in enumerate(released.cells):
        if HIDDEN_TAG in cell.metadata.get("tags", []):
            hidden += 1
            continue
        if cell.cell_type == "code":
            cell.source, count = strip_solutions(cell.source, f"cell {index}")
            stubs += count
            cell.outputs, cell.execution_count = [], None
            for key in ("execution", "papermill"):
                cell.metadata.pop(key, None)
        elif BEGIN in cell.source or END in cell.source:
            raise ReleaseError(f"cell {index} is a {cell.cell_type} cell: solution markers belong in code cells")
        kept.append(cell)
    released.cells = kept
    return released, stubs, hidden


def check_out_dir(out_dir: Path | str) -> Path:
    """``out_dir`` resolved, or :class:`ReleaseError` when it is a file or cannot be written (before any work)."""
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ReleaseError(f"--out {out_dir} is a file, not a folder; choose a folder")
    existing = out_dir
    while not existing.exists():
        existing = existing.parent
    try:  # as root, os.access says yes to read-only file systems and /proc: try for real
        if not existing.is_dir():
            raise OSError
        os.rmdir(tempfile.mkdtemp(prefix=".labkit-probe-", dir=existing))
    except OSError:
        raise ReleaseError(f"--out {out_dir}: {existing} is not writable; choose a folder you can write to") from None
    return out_dir


def check_targets(paths: list[Path], force: bool) -> None:
    """:class:`ReleaseError` naming the first of ``paths`` that exists (a file release would replace: a student's
    filled-in notebook, their README, ...), unless ``force``; called before anything is written."""
    if force:
        return
    for path in paths:
        if path.exists() or path.is_symlink():
            raise ReleaseError(f"{path} already exists and release would replace it; move it away, choose another "
                               "--out, or add --force to overwrite")


def release(notebook: Path | str, out_dir: Path | str, *, name: str | None = None, force: bool = False) -> Released:
    """Write the student version of ``notebook`` to ``out_dir/<name>.ipynb``.

    Raises :class:`ReleaseError` (before writing anything) when the markers
    do not pair up, when the notebook has no exercise (its student version
    would be the solution), when ``out_dir`` is a file or not writable, or
    when ``out_dir/<name>.ipynb`` exists (unless ``force``: it may be a
    student's filled-in notebook), and ``ValueError`` when the output would
    overwrite the solution notebook.
    """
    notebook = Path(notebook).resolve()
    out_dir = check_out_dir(out_dir)
    nb = nbformat.read(notebook, as_version=4)
    released, stubs, hidden = release_notebook(nb)
    if stubs == 0:
        raise ReleaseError(f"{notebook.name} has no exercise (no '{BEGIN}' region): its student version would "
                           "be the solution itself; mark the code students write first")
    path = out_dir / f"{name or notebook.stem}.ipynb"
    if path == notebook:
        raise ValueError(f"the student version would overwrite the solution {notebook}: choose another --out")
    check_targets([path], force)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(released, path)
    return Released(path=path, stubs=stubs, hidden_removed=hidden)


def fill_in(released: Any, solution: Any) -> Any:
    """``released`` with every stub replaced by the solution's code, in order.

    What a student who writes exactly the model answer hands in; the tests
    and the benchmark grade it. Raises :class:`ReleaseError` when the stubs
    and the solution regions do not correspond one to one.
    """
    blocks = []
    for index, cell in enumerate(solution.cells):
        if cell.cell_type != "code" or HIDDEN_TAG in cell.metadata.get("tags", []):
            continue
        lines = cell.source.splitlines()
        blocks += [lines[begin + 1:end] for begin, end in _regions(cell.source, f"solution cell {index}")]
    filled = copy.deepcopy(released)
    used = 0
    for cell in filled.cells:
        if cell.cell_type != "code":
            continue
        lines = []
        for line in cell.source.splitlines():
            if line.strip().startswith(STUB_PREFIX):
                if used == len(blocks):
                    raise ReleaseError("the released notebook has more stubs than the solution has regions")
                lines += blocks[used]
                used += 1
            else:
                lines.append(line)
        cell.source = "\n".join(lines)
    if used != len(blocks):
        raise ReleaseError(f"the solution has {len(blocks)} regions but the released notebook {used} stubs")
    return filled


# --------------------------------------------------------------------------- the student kit


def handin_problems(notebook: Path | str, report_dir: Path | str) -> list[str]:
    """What is unfinished in a hand-in (``make handin`` warns about each): one line each.

    * every exercise still a stub (``raise NotImplementedError("exercise: ...")``): its cell and hint;
    * the report in ``report_dir`` stopped at a failed cell (its ``metrics.json`` records the failure);
    * no report PDF, or a PDF older than the notebook (the report is not of the notebook handed in).

    Nothing is checked beyond the files (no kernel runs); ``[]`` when there is nothing to say.
    """
    import json

    notebook, report_dir = Path(notebook), Path(report_dir)
    problems = []
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises many kinds for a broken file
        return [f"{notebook} cannot be read as a notebook ({type(exc).__name__}): open it in Jupyter and save it again"]
    for index, cell in enumerate(nb.cells, 1):
        if cell.get("cell_type") != "code":
            continue
        for line in str(cell.get("source", "")).splitlines():
            if line.strip().startswith(STUB_PREFIX):
                literal = line.strip()[len("raise NotImplementedError("):].rstrip().removesuffix(")")
                try:  # the stub's message is a JSON string literal (see stub())
                    hint = str(json.loads(literal)).removeprefix("exercise: ").strip() or DEFAULT_HINT
                except ValueError:
                    hint = literal
                problems.append(f"unfinished exercise in {notebook.name}, cell {index}: {hint}")
    pdf = report_dir / f"{notebook.stem}.pdf"
    metrics = report_dir / "metrics.json"
    failure = None
    if metrics.is_file():
        try:
            failure = json.loads(metrics.read_text(encoding="utf-8")).get("provenance", {}).get("failure")
        except (ValueError, AttributeError):
            failure = None
    if isinstance(failure, dict):
        what = ": ".join(str(failure.get(k)) for k in ("ename", "evalue") if failure.get(k))
        cell = failure.get("cell_index")
        problems.append(f"the report in {report_dir} is of a failed run (stopped at "
                        f"{'cell ' + str(cell + 1) if isinstance(cell, int) else 'a cell'}"
                        f"{': ' + what[:200] if what else ''}); fix it and run make report again")
    if not pdf.is_file():
        problems.append(f"no report PDF ({pdf}): run make report first")
    elif notebook.is_file() and pdf.stat().st_mtime < notebook.stat().st_mtime:
        problems.append(f"{pdf} is older than {notebook}: the PDF is not of the notebook you hand in; "
                        "run make report again")
    return problems


def warn_handin(notebook: str, report_dir: str) -> int:
    """Print :func:`handin_problems` to stderr as warnings (the student kit's ``make handin``); always 0."""
    for problem in handin_problems(notebook, report_dir):
        print(f"warning: {problem}", file=sys.stderr)
    return 0


STUDENT_README = """\
# 深度学习实验 · 学生包 / Deep-learning labs · student kit

**中文**

本文件夹是你的实验包：`notebooks/` 里是 {count} 个实验的笔记本（{labs}），需要你完成的代码处写着
`raise NotImplementedError("exercise: ...")`，引号里说明了要写什么。

1. **安装**（一次）：需要 Python 3.10 及以上。
   `make setup`（等同于 `pip install -r requirements.txt` 和 `pip install wheels/labkit-*.whl`，
   并注册 Jupyter 内核）。生成 PDF 需要 Chromium，中文需要 Noto CJK 字体
   （Debian/Ubuntu：`sudo apt-get install chromium fonts-noto-cjk`）。
2. **做实验**：`jupyter lab notebooks/mlp.ipynb`，把每个 `raise NotImplementedError(...)` 换成你的代码，
   在标有 `analysis` 的空白单元格里写你的实验结果分析和心得体会。
3. **生成报告**：`make report LAB=mlp`（先用 `PROFILE=smoke` 几秒钟试跑，再用默认的 `quick`），
   报告在 `reports/mlp/`（HTML 和 PDF）。未完成的练习会让报告停在第一个存根处并说明原因。
   报告失败时 `make` 以退出码 2 结束（make 的惯例），它打印的 `Error N` 是 labkit 的退出码：
   1 = 某个单元格出错（报告仍会生成，标出出错的单元格），2 = 参数或输入有误，3 = 笔记本运行完了但无法生成 PDF。
   数据：设置 `LABKIT_DATA` 为老师给的数据文件夹；没有时使用内置的小样本。
   中文报告与封面：`make report LAB=mlp REPORT_LANG=zh STUDENT=student.yaml`，其中 `student.yaml` 每行一项，
   例如 `姓名: 张三`、`学号: "2023123456"`、`班级: 计科 2101`、`课程名称: 深度学习`、`指导教师: 李老师`、`日期: today`
   （放在笔记本旁边或当前文件夹时可省略 `STUDENT=`）。只打印你写的代码：`CODE=exercises`；不打印日志：`LOGS=no`；
   修改参数：`P="epochs=5 lr=0.01"`。
4. **提交**：`make handin LAB=mlp ID=你的学号`，把 `handin/你的学号/` 里的 `mlp.ipynb`
   （以及报告 PDF）按老师的要求提交。不要改动笔记本的文件名，也不要删除单元格。
   若还有未完成的练习、报告是失败的运行、或 PDF 比笔记本旧，`make handin` 会给出警告（仍然复制）。

**English**

This folder is your lab kit: `notebooks/` holds the notebooks of {count} labs ({labs}); the code you write
replaces each `raise NotImplementedError("exercise: ...")`, whose message says what to write.

1. **Set up** (once; Python 3.10 or later): `make setup` (that is `pip install -r requirements.txt`,
   `pip install wheels/labkit-*.whl` and a Jupyter kernel). PDFs need Chromium, Chinese text the Noto CJK
   fonts (Debian/Ubuntu: `sudo apt-get install chromium fonts-noto-cjk`).
2. **Work**: `jupyter lab notebooks/mlp.ipynb`; replace every `raise NotImplementedError(...)` with your
   code, and write your analysis in the empty cells marked `analysis`.
3. **Render your report**: `make report LAB=mlp` (try `PROFILE=smoke` first: seconds), into `reports/mlp/`
   (HTML and PDF). An unfinished exercise stops the report at its stub, saying which one.
   When the report fails, `make` exits with 2 (make's convention); the `Error N` it prints is labkit's
   exit code: 1 = a cell failed (the report is still written, the failed cell marked), 2 = a bad option or
   input, 3 = the notebook ran but the PDF could not be made.
   Data: set `LABKIT_DATA` to the course's data folder; without it the labs use small embedded samples.
   A Chinese report with a cover page: `make report LAB=mlp REPORT_LANG=zh STUDENT=student.yaml`, where
   `student.yaml` has one `field: value` a line (`name`, `student_id`, `class`, `course`, `instructor`,
   `date`, or their Chinese names; found beside the notebook or in this folder without `STUDENT=`).
   Only the code you wrote: `CODE=exercises`; no logs: `LOGS=no`; parameters: `P="epochs=5 lr=0.01"`.
4. **Hand in**: `make handin LAB=mlp ID=<your student id>`, then hand in `handin/<id>/mlp.ipynb` (and the
   report's PDF) as your instructor asks. Keep the notebook's name and its cells. `make handin` warns
   (and still copies) when an exercise is unfinished, the report is of a failed run, or the PDF is older
   than the notebook.
"""

STUDENT_MAKEFILE = """\
# The student kit's commands (see README.md).
PYTHON  ?= python3
LAB     ?= mlp
PROFILE ?=
ID      ?=
PROFILE_ARG := $(if $(PROFILE),--profile $(PROFILE))
# P="epochs=5 lr=0.01" reaches `labkit report --params` as one string (through the environment)
PARAM_ARGS  := $(if $(P),--params "$$LABKIT_MAKE_P")
# REPORT_LANG=zh: the report in Chinese; STUDENT=student.yaml: the cover page; CODE=all|exercises|none; LOGS=no
PRINT_ARGS  := $(if $(REPORT_LANG),--lang $(REPORT_LANG)) $(if $(STUDENT),--student $(STUDENT)) \
               $(if $(CODE),--code $(CODE)) $(if $(filter no,$(LOGS)),--no-logs)

.PHONY: help setup report handin

help:            ## list the targets
\t@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\\t/' | expand -t 18

setup:           ## install labkit and its requirements, and a Jupyter kernel
\t$(PYTHON) -m pip install -r requirements.txt
\t$(PYTHON) -m pip install --no-deps wheels/labkit-*.whl
\t$(PYTHON) -m ipykernel install --user --name python3 --display-name "Python 3 (labkit)"

report: export LABKIT_MAKE_P := $(P)
report:          ## render your notebook: make report LAB=mlp [PROFILE=smoke] [REPORT_LANG=zh] [STUDENT=student.yaml] [CODE=exercises] [LOGS=no] [P="name=value ..."]
\tlabkit report notebooks/$(LAB).ipynb $(PROFILE_ARG) $(PARAM_ARGS) $(PRINT_ARGS) --out reports/$(LAB)

handin:          ## copy your notebook (and its PDF) for handing in: make handin LAB=mlp ID=2023123456
\t@test -n "$(ID)" || (echo "give your student id: make handin LAB=$(LAB) ID=..." >&2; exit 2)
\t@$(PYTHON) -c 'import sys; from labkit.grade.release import warn_handin; warn_handin(*sys.argv[1:])' notebooks/$(LAB).ipynb reports/$(LAB) \\
\t  || true
\tmkdir -p handin/$(ID)
\tcp notebooks/$(LAB).ipynb handin/$(ID)/$(LAB).ipynb
\t-cp reports/$(LAB)/$(LAB).pdf handin/$(ID)/$(LAB).pdf
\t@echo "hand in the folder handin/$(ID)/"
"""


@dataclass
class Kit:
    """What :func:`release_kit` wrote."""

    path: Path
    notebooks: list[Released]
    wheel: Path


def build_wheel(out_dir: Path) -> Path:
    """A wheel of the labkit package (the kit's code only: no notebooks, rubrics or tests), built offline."""
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="labkit-wheel-") as folder:
        source = Path(folder) / "src"
        source.mkdir()
        shutil.copytree(repo / "labkit", source / "labkit",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".labkit-probe"))
        for name in ("pyproject.toml", "README.md", "requirements.txt"):
            if (repo / name).is_file():
                shutil.copy(repo / name, source / name)
        out_dir.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                              "--no-index", "-q", "-w", str(out_dir), str(source)],
                             capture_output=True, text=True, cwd=folder)
        if run.returncode != 0:
            raise ReleaseError(f"could not build the labkit wheel: {(run.stderr or run.stdout).strip()[-500:]}")
    wheels = sorted(out_dir.glob("labkit-*.whl"))
    if not wheels:
        raise ReleaseError("could not build the labkit wheel: pip wrote none")
    return wheels[-1]


def release_kit(notebooks: dict[str, Path], out_dir: Path | str, *, force: bool = False) -> Kit:
    """Write the student kit for the labs ``notebooks`` (name -> solution notebook) into ``out_dir``.

    ``notebooks/<lab>.ipynb`` (each lab's student version), ``README.md``
    (set-up, rendering one's own report, handing in; Chinese and English),
    ``Makefile`` (``setup``, ``report``, ``handin``), ``requirements.txt`` and
    ``wheels/labkit-*.whl``. Nothing of the hidden checks, the solutions or
    the rubrics. Every lab is checked first (markers pair up, at least one
    exercise), and every file the kit would write (a labkit wheel already in
    ``wheels/`` included) must not exist unless ``force``: on any problem,
    :class:`ReleaseError` naming it, and nothing is written.
    """
    out_dir = check_out_dir(out_dir)
    prepared = {}
    for lab, notebook in notebooks.items():
        released, stubs, _ = release_notebook(nbformat.read(notebook, as_version=4))
        if stubs == 0:
            raise ReleaseError(f"lab {lab} has no exercise (no '{BEGIN}' region) in {notebook}: its student version "
                               "would be the solution; mark its exercises first, or release the other labs by name")
        prepared[lab] = notebook
    targets = [out_dir / "notebooks" / f"{lab}.ipynb" for lab in prepared]
    targets += [out_dir / name for name in ("README.md", "Makefile", "requirements.txt")]
    targets += sorted((out_dir / "wheels").glob("labkit-*.whl"))
    check_targets(targets, force)
    written = [release(notebook, out_dir / "notebooks", name=lab, force=force) for lab, notebook in prepared.items()]
    wheel = build_wheel(out_dir / "wheels")
    repo = Path(__file__).resolve().parents[2]
    requirements = [line for line in (repo / "requirements.txt").read_text(encoding="utf-8").splitlines()
                    if not line.lower().startswith(("pytest", "dask", "distributed"))]
    (out_dir / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    labs = ", ".join(prepared)
    (out_dir / "README.md").write_text(STUDENT_README.format(count=len(prepared), labs=labs), encoding="utf-8")
    (out_dir / "Makefile").write_text(STUDENT_MAKEFILE, encoding="utf-8")
    return Kit(path=out_dir, notebooks=written, wheel=wheel)
