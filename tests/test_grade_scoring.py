"""Hidden-check results, rubric scoring, the gradebook files and submission discovery (no sandbox)."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import nbformat
import pytest

from labkit.grade import hidden
from labkit.grade.scoring import Evidence, figure_count, headings, score
from labkit.grade.execute import classify, read_notebook
from labkit.grade.gradebook import write_csv, write_html
from labkit.grade.rubric import load_rubric
from labkit.grade.runner import file_name, find_submissions, read_submission, student_id
from labkit.records import RECORD_MIME

TOY = Path(__file__).parent / "fixtures" / "grading" / "lab"


# --------------------------------------------------------------------------- @check


@pytest.mark.parametrize("outcome, passed, message", [
    (lambda: None, True, ""),
    (lambda: True, True, ""),
    (lambda: False, False, "returned False"),
    (lambda: 3, False, "returned int"),
])
def test_a_checks_outcome_decides_its_result(outcome, passed, message):
    result = hidden.evaluate("c", outcome)
    assert result["passed"] is passed and message in result["message"]


def test_assertions_exceptions_and_interrupts_fail_with_their_message():
    student: dict = {}
    exec(compile("def mean(xs):\n    return sum(xs) / len(xs)\n\n"
                 "def lying(x):\n    raise AssertionError('what the check looks like')\n",
                 "<exercise cell>", "exec"), student)
    checks: dict = {"student": student}
    exec(compile("def asserts():\n    assert 1 == 2, 'one is not two'\n\n"
                 "def calls():\n    return student['mean']([])\n\n"
                 "def calls_lying():\n    student['lying'](1)\n\n"
                 "def interrupted():\n    raise KeyboardInterrupt\n",
                 "<hidden check cell 1>", "exec"), checks)
    assert hidden.evaluate("a", checks["asserts"])["message"] == "one is not two"
    assert hidden.evaluate("b", checks["calls"])["message"] == "ZeroDivisionError: division by zero (in mean, line 2)"
    # an AssertionError raised by the student's code is the student's exception, not the check's words
    assert hidden.evaluate("c", checks["calls_lying"])["message"] == \
        "AssertionError: what the check looks like (in lying, line 5)"
    assert "ran out of time" in hidden.evaluate("d", checks["interrupted"])["message"]


def test_provided_values_are_required_and_kept():
    import torch

    result = hidden.evaluate("v", lambda: {"acc": torch.tensor(0.5), "extra": 1}, ("acc",))
    assert result["passed"] and result["values"] == {"acc": 0.5}
    missing = hidden.evaluate("v", lambda: {"other": 1.0}, ("acc",))
    assert not missing["passed"] and "did not return acc" in missing["message"]


def test_in_an_ordinary_run_a_check_runs_at_once(capsys):
    @hidden.check("demo", provides=["x"])
    def _():
        return {"x": 0.25}

    assert "[check] demo: passed (x = 0.25)" in capsys.readouterr().out
    with pytest.raises(hidden.CheckDefinitionError):
        hidden.check("demo", provides="x")


def test_collect_defines_checks_without_running_them(capsys):
    namespace = {"value": 2}
    source = ("from labkit.grade.hidden import check\n"
              "@check('double', provides=['twice'])\n"
              "def _():\n    return {'twice': value * 2}\n")
    checks, errors = hidden.collect_quietly([source, "raise RuntimeError('broken cell')"], namespace)
    assert list(checks) == ["double"] and errors == ["hidden check cell 2: RuntimeError: broken cell"]
    assert "[check]" not in capsys.readouterr().out
    function, provides = checks["double"]
    assert hidden.evaluate("double", function, provides)["values"] == {"twice": 4}


# --------------------------------------------------------------------------- scoring


def notebook(records: dict, *, headings_md: str = "## 1. Least squares\n## 2. A figure", images: int = 1):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(headings_md))
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={RECORD_MIME: {"name": k, "value": v},
                                                                  "text/plain": ""}) for k, v in records.items()]
    cell.outputs += [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}) for _ in range(images)]
    nb.cells.append(cell)
    return nb


def test_headings_and_figures_are_read_from_the_notebook():
    nb = notebook({}, headings_md="# Title\n  ## 1.  Least   squares ##\nnot a heading\n#nospace", images=2)
    assert headings(nb) == ["Title", "1. Least squares"]
    assert figure_count(nb) == 2


def test_a_verified_value_wins_over_the_students_record():
    rubric = load_rubric(str(TOY / "toy.yaml"))
    checks = {"mse_matches": {"name": "mse_matches", "passed": True, "message": "", "values": {}},
              "slope_heldout": {"name": "slope_heldout", "passed": True, "message": "",
                                "values": {"slope_error": 1.2}}}
    evidence = Evidence(status="graded", notebook=notebook({"slope_error": 0.0, "fit_mse": 0.01}), checks=checks,
                        checks_ran=True)
    items = {i.id: i for i in score(rubric, "smoke", evidence)}
    assert items["slope"].points == 0 and items["slope"].value == 1.2
    assert "re-measured" in items["slope"].message and "own record, 0, is not used" in items["slope"].message
    assert items["mse"].points == 3 and items["fit"].points == 1 and items["sections"].points == 1
    assert items["figure"].points == 1
    # a check that failed before it could re-measure gives nothing, whatever was recorded
    checks["slope_heldout"] = {"name": "slope_heldout", "passed": False, "message": "NameError: fit_slope",
                               "values": {}}
    items = {i.id: i for i in score(rubric, "smoke", evidence)}
    assert items["slope"].points == 0 and "NameError" in items["slope"].message


def test_without_hidden_checks_only_unverified_items_can_score():
    rubric = load_rubric(str(TOY / "toy.yaml"))
    evidence = Evidence(status="graded", notebook=notebook({"slope_error": 0.0, "fit_mse": 0.01}))
    items = {i.id: i for i in score(rubric, "smoke", evidence)}
    assert items["slope"].points == 0 and "did not run" in items["slope"].message
    assert items["mse"].points == 0 and items["fit"].points == 1


@pytest.mark.parametrize("status", ["timeout", "memory", "killed", "invalid"])
def test_runs_that_did_not_finish_score_nothing(status):
    rubric = load_rubric(str(TOY / "toy.yaml"))
    evidence = Evidence(status=status, notebook=notebook({"fit_mse": 0.01}), reason="why")
    assert all(i.points == 0 and status in i.message for i in score(rubric, "smoke", evidence))


def test_statuses_are_classified_from_what_was_seen():
    from labkit.report.cells import CellFailure

    def failure(ename: str = "MemoryError", evalue: str = "", kind: str = "error") -> CellFailure:
        return CellFailure(3, None, ename, evalue, kind=kind)

    assert classify(failure(), None, False, True, 0)[0] == "memory"
    assert classify(failure("RuntimeError", "DefaultCPUAllocator: can't allocate memory"),
                    None, False, True, 0)[0] == "memory"
    assert classify(failure("ValueError"), None, False, True, 0) == ("error", "cell 3: ValueError")
    assert classify(failure("DeadKernelError", kind="dead_kernel"), None, False, True, 0)[0] == "killed"
    assert classify(failure("Timeout", kind="timeout"), None, False, True, 0)[0] == "timeout"
    assert classify(None, "memory", False, True, 0)[0] == "memory"
    assert classify(None, "processes", False, True, 0)[0] == "killed"
    assert classify(None, None, True, False, -9)[0] == "timeout"
    assert classify(None, None, False, False, -9)[0] == "killed"
    assert classify(None, None, False, True, 0) == ("graded", "")


def test_a_results_failure_is_a_cell_failure_that_crosses_json_and_marks_the_students_cell():
    """One model of a failed cell (labkit.report.cells): the sandbox's JSON, the result file and the
    feedback page's marker agree on the index in the student's file, injected parameters or not."""
    import json

    from labkit.grade.execute import run_as_submitted
    from labkit.grade.gradebook import feedback_html
    from labkit.grade.result import GradeResult
    from labkit.report.cells import CellFailure, CellMap

    failure = CellFailure(4, 3, "KeyError", "'x'", kind="error")
    result = GradeResult(student="s", lab="toy", status="error", failure=failure.to_dict())
    assert isinstance(result.failure, CellFailure) and result.failure.to_dict() == failure.to_dict()
    saved = json.loads(json.dumps(result.to_dict()))
    assert saved["failure"] == {"cell_index": 4, "execution_count": 3, "ename": "KeyError", "evalue": "'x'",
                                "kind": "error"}
    again = GradeResult.from_dict(saved)
    assert again.failure.cell_index == 4 and again["failure"].message().startswith("cell 4")
    assert again["failure"]["ename"] == "KeyError" and again.get("failure").get("kind") == "error"  # read both ways
    with pytest.raises(ValueError, match="not a grade result"):
        GradeResult.from_dict({**saved, "failure": {"ename": "KeyError"}})

    # the injected parameters cell (after the parameters cell) is not the student's: indices skip it
    cells = [nbformat.v4.new_markdown_cell(f"Cell-{i}-of-the-student") for i in range(4)]
    injected = nbformat.v4.new_code_cell("profile = 'smoke'")
    injected.metadata["tags"] = ["injected-parameters"]
    run = nbformat.v4.new_notebook(cells=cells[:2] + [injected] + cells[2:])
    mapping = CellMap.skipping_injected(run.cells)
    assert [mapping.source_index(i) for i in range(5)] == [0, 1, 2, 2, 3]
    assert [mapping.run_index(i) for i in range(5)] == [0, 1, 3, 4, 5]
    page = feedback_html(GradeResult(student="s", lab="toy", status="error",
                                     failure=CellFailure(2, 3, "KeyError", "'x2'")), run)
    marker = page.index("This cell stopped the notebook: KeyError")
    assert page.index("Cell-1-of-the-student") < page.index("profile") < marker < page.index("Cell-2-of-the-student")

    handed_in = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("1/0")])
    handed_in.cells[1].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError",
                                                         evalue="division by zero", traceback=[])]
    seen = run_as_submitted(handed_in)
    assert (seen.status, seen.reason) == ("error", "cell 1: ZeroDivisionError: division by zero")
    assert isinstance(seen.failure, CellFailure) and seen.failure.cell_index == 1


@pytest.mark.parametrize("data, message", [
    (b"not json", "not a Jupyter notebook"),
    (b'{"cells": 3}', "not a Jupyter notebook"),
    (b"\xff\xfe", "not a Jupyter notebook"),
])
def test_unreadable_submissions_are_invalid(data, message):
    with pytest.raises(ValueError, match=message):
        read_notebook(data)


# --------------------------------------------------------------------------- files


def test_gradebook_files(tmp_path):
    rubric = load_rubric(str(TOY / "toy.yaml"))
    results = [
        {"student": "bob", "status": "timeout", "total": 0.0, "wall_seconds": 31.0, "message": "=HYPERLINK(evil)",
         "items": []},
        {"student": "alice", "status": "graded", "total": 10.0, "wall_seconds": 4.2, "message": "",
         "feedback": "feedback/alice.html",
         "items": [{"id": i.id, "title": i.title, "points": i.points, "max_points": i.points, "passed": True,
                    "message": "<b>ok</b>"} for i in rubric.items]},
    ]
    rows = list(csv.reader(open(write_csv(results, rubric, tmp_path / "gradebook.csv"))))
    assert rows[0] == ["student", "status", "slope", "mse", "fit", "sections", "figure", "total", "wall_seconds",
                       "message", "flags"]
    assert rows[1][:2] == ["alice", "graded"] and rows[1][-4] == "10"
    assert rows[2][:2] == ["bob", "timeout"] and rows[2][-2] == "'=HYPERLINK(evil)"
    page = write_html(results, rubric, tmp_path / "gradebook.html").read_text()
    assert '<a href="feedback/alice.html">alice</a>' in page and "&lt;b&gt;ok&lt;/b&gt;" in page
    assert "<b>ok</b>" not in page


def test_submissions_are_found_by_file_or_folder(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "toy.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "other.ipynb").write_text("{}")
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "toy.ipynb").write_text("{}")
    (tmp_path / "dave.IPYNB").write_text("{}")
    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "Toy.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "bob" / "toy.ipynb")
    (tmp_path / "linked").symlink_to(tmp_path / "bob")
    os.mkfifo(tmp_path / "pipe.ipynb")
    skipped: list[str] = []
    found = {s.student: s for s in find_submissions(tmp_path, "toy", skipped)}
    assert sorted(found) == ["alice", "bob", "carol", "dave", "erin", "link", "linked"]
    assert found["bob"].path == tmp_path / "bob" / "toy.ipynb" and not found["bob"].problem
    assert found["dave"].path == tmp_path / "dave.IPYNB" and found["erin"].path == tmp_path / "erin" / "Toy.ipynb"
    assert "2 submissions for alice" in found["alice"].problem
    assert "no toy.ipynb in carol/ (found other.ipynb)" in found["carol"].problem
    assert "symbolic link" in found["link"].problem and "symbolic link" in found["linked"].problem
    assert sorted(line.split(":")[0] for line in skipped) == [".hidden.ipynb", "notes.txt", "pipe.ipynb"]
    assert "named pipe" in next(line for line in skipped if line.startswith("pipe.ipynb"))


def test_every_name_is_its_own_student(tmp_path):
    """/work/shared/cases/grade_name_collision: Chinese names, and `a b` beside `a_b`, are four students."""
    for name in ("张三", "李四", "a b", "a_b", "%41", "A", ".x", "-rf", "tab\tname"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    found = find_submissions(tmp_path, "toy")
    students = [s.student for s in found]
    assert sorted(students) == sorted(["张三", "李四", "a b", "a_b", "%41", "A", "-rf", "tab\tname"])
    assert not [s for s in found if s.problem]
    names = [file_name(s) for s in students]
    assert len(set(names)) == len(names)  # distinct files in the outputs
    assert all(student_id(file_name(s)) == s for s in students)  # reversible
    assert file_name("张三") == "张三" and file_name("a b") == "a b"
    assert "/" not in file_name("a/b") and not file_name("-rf").startswith("-")


def test_a_named_pipe_is_never_opened(tmp_path):
    os.mkfifo(tmp_path / "x.ipynb")
    with pytest.raises(OSError, match="not a regular file"):
        read_submission(tmp_path / "x.ipynb", 1 << 20)


def test_an_oversized_notebook_is_read_without_its_outputs(monkeypatch):
    from labkit.grade import execute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="x" * 5000)]
    monkeypatch.setattr(execute, "MAX_SUBMISSION_BYTES", 2000)
    read = read_notebook(nbformat.writes(nb).encode())
    assert read.cells[0].outputs == [] and "graded with its outputs removed" in read.metadata["labkit_grade_note"]


def test_feedback_is_bounded_and_runs_no_script():
    import time

    from labkit.grade.gradebook import MAX_OUTPUTS, feedback_html

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x") for _ in range(200)])
    for cell in nb.cells:
        cell.outputs = [nbformat.v4.new_output("stream", text=f"line {i}\n") for i in range(150)]
    nb.cells[0].outputs.insert(0, nbformat.v4.new_output(
        "display_data", data={"text/html": "<script>document.title='HACKED'</script>"}))
    result = {"student": "s", "status": "graded", "total": 1.0, "max_total": 1.0, "items": [], "data": "full data"}
    started = time.perf_counter()
    page = feedback_html(result, nb)
    assert time.perf_counter() - started < 60
    assert page.count("line 1\n") <= MAX_OUTPUTS and "more output(s) not shown" in page
    head = page[:page.index("</head>")]
    assert "Content-Security-Policy" in head and "script-src 'sha256-" in head
    policy = head[head.index("Content-Security-Policy"):].split(">", 1)[0]
    script_src = policy[policy.index("script-src"):].split(";", 1)[0]
    assert "'unsafe-inline'" not in script_src and "*" not in script_src  # only the template's own head scripts, by hash
    assert head.index("Content-Security-Policy") < head.index("<script") if "<script" in head else True
    assert "Data: full data" in page


def test_flags_find_attempts_on_the_grader():
    from labkit.grade.flags import flag_code

    code = ("import builtins, torch\nfrom torch import nn\nimport labkit.grade.hidden as h\n"
            "builtins.abs = lambda x: 0\ntorch.Tensor.__eq__ = None\nh.evaluate = None\nsetattr(nn, 'Linear', 1)\n"
            "import sys\nf = sys._getframe(1).f_back\n"
            "class M(nn.Module):\n    def __init__(self):\n        self.fc = nn.Linear(2, 2)\n"
            "model = M()\nmodel.fc.weight.data = torch.zeros(2, 2)\n")
    flags = " ".join(flag_code([("cell", code)]))
    for expected in ("builtins.abs", "torch.Tensor.__eq__", "h.evaluate", "setattr() on nn", "sys._getframe", "f_back"):
        assert expected in flags, expected
    assert "self.fc" not in flags and "model.fc" not in flags  # ordinary attributes of the student's objects
    assert flag_code([("cell", "def f(x):\n    return x + 1\n")]) == []


def test_the_feedback_page_shows_the_runs_language_only():
    from labkit.grade.gradebook import feedback_html

    cells = [nbformat.v4.new_markdown_cell("## 1. Objectives"), nbformat.v4.new_markdown_cell("## 1. 实验目的"),
             nbformat.v4.new_markdown_cell("Both languages: $x^2$")]
    cells[0].metadata["tags"], cells[1].metadata["tags"] = ["lang-en"], ["lang-zh"]
    nb = nbformat.v4.new_notebook(cells=cells)
    result = {"student": "s", "status": "graded", "total": 1.0, "max_total": 1.0, "items": [], "lang": "zh"}
    page = feedback_html(result, nb)
    assert "实验目的" in page and "Objectives" not in page and "Both languages" in page
    page = feedback_html({**result, "lang": "en"}, nb)
    assert "Objectives" in page and "实验目的" not in page


def test_the_gradebook_folds_long_messages_and_counts_students_in_whole_numbers(tmp_path):
    from matplotlib.ticker import MaxNLocator

    from labkit.grade import gradebook
    from labkit.grade.rubric import load_rubric

    rubric = load_rubric(str(Path(__file__).parent / "fixtures" / "grading" / "lab" / "toy.yaml"))
    long = "the hidden checks did not finish in time " * 8
    results = [{"student": f"s{i}", "status": "error" if i else "graded", "total": float(i), "max_total": 10.0,
                "items": [], "message": long if i == 1 else "", "flags": ["x"] * i} for i in range(3)]
    page = gradebook.write_html(results, rubric, tmp_path / "gradebook.html", data="full data").read_text()
    assert f"<details><summary>{long[:gradebook.SHORT_MESSAGE]}…</summary>{long}</details>" in page
    assert "td.message { max-width" in page
    axes = []
    original = MaxNLocator.__init__

    def spy(self, *args, **kwargs):
        axes.append(kwargs.get("integer"))
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MaxNLocator, "__init__", spy)
        gradebook.statistics_figure(gradebook.statistics(results, rubric), rubric, tmp_path / "statistics.png")
    assert True in axes  # the histogram's count axis has integer ticks


def test_the_statistics_give_each_items_distribution_mean_and_median(tmp_path):
    """Issue 16 item 3: a histogram of the totals and of every item (mean and median marked) on the gradebook page."""
    from labkit.grade import gradebook
    from labkit.grade.rubric import load_rubric

    rubric = load_rubric(str(Path(__file__).parent / "fixtures" / "grading" / "lab" / "toy_manual.yaml"))
    earned = [{"mse": 3, "sections": 1, "discussion": 3.5}, {"mse": 0, "sections": 1, "discussion": 1},
              {"mse": 3, "sections": 0, "discussion": 0}, {"mse": 0, "sections": 0, "discussion": 0}]
    results = [{"student": f"s{n}", "status": "graded", "total": float(sum(points.values())),
                "items": [{"id": k, "points": v, "passed": v == {"mse": 3, "sections": 1, "discussion": 4}[k]}
                          for k, v in points.items()]} for n, points in enumerate(earned)]
    results.append({"student": "absent", "status": "missing", "total": 0.0, "items": []})
    summary = gradebook.statistics(results, rubric)
    items = {i["id"]: i for i in summary["items"]}
    assert items["discussion"]["points"] == [3.5, 1, 0, 0]  # the missing student is not a zero
    assert (items["discussion"]["mean"], items["discussion"]["median"]) == (1.125, 0.5)
    assert (items["mse"]["median"], summary["median"], summary["counts"]) == (1.5, 2.5, {"graded": 4, "missing": 1})
    drawn = []
    original = gradebook._histogram
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gradebook, "_histogram", lambda axes, values, *rest, **kw: (drawn.append((rest[3], values)),
                                                                                  original(axes, values, *rest, **kw)))
        section = gradebook.statistics_html(results, rubric, tmp_path)
    assert [title for title, _ in drawn] == ["Totals (out of 8)", "mse (of 3)", "sections (of 1)", "discussion (of 4)"]
    assert drawn[3][1] == [3.5, 1, 0, 0]
    assert '<tr data-item="discussion">' in section and '<td class="num median">0.5</td>' in section
    assert (tmp_path / "statistics.png").stat().st_size > 1000
