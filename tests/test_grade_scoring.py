"""Hidden-check results, rubric scoring, the gradebook files and submission discovery (no sandbox)."""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from labkit.grade import hidden
from labkit.grade.scoring import Evidence, figure_count, headings, score
from labkit.grade.execute import classify, read_notebook
from labkit.grade.gradebook import write_csv, write_html
from labkit.grade.rubric import load_rubric
from labkit.grade.runner import find_submissions
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
    def asserts():
        raise AssertionError("one is not two")  # what `assert x, "one is not two"` raises

    def student_code():
        raise ZeroDivisionError("division by zero")

    def interrupted():
        raise KeyboardInterrupt

    assert hidden.evaluate("a", asserts)["message"] == "one is not two"
    message = hidden.evaluate("b", student_code)["message"]
    assert message.startswith("ZeroDivisionError: division by zero (in student_code, line")
    assert "ran out of time" in hidden.evaluate("c", interrupted)["message"]


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


def test_collect_defines_checks_without_running_them_then_run_runs_one(capsys):
    namespace = {"value": 2}
    source = ("from labkit.grade.hidden import check\n"
              "@check('double', provides=['twice'])\n"
              "def _():\n    return {'twice': value * 2}\n")
    assert hidden.collect([source, "raise RuntimeError('broken cell')"], namespace) == ["double"]
    assert "[check]" not in capsys.readouterr().out
    assert hidden.run("double")["values"] == {"twice": 4}


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
    failure = {"kind": "error", "cell_index": 3, "ename": "MemoryError", "evalue": ""}
    assert classify(failure, None, False, True, 0)[0] == "memory"
    assert classify({**failure, "ename": "RuntimeError", "evalue": "DefaultCPUAllocator: can't allocate memory"},
                    None, False, True, 0)[0] == "memory"
    assert classify({**failure, "ename": "ValueError"}, None, False, True, 0) == ("error", "cell 3: ValueError")
    assert classify({**failure, "kind": "dead_kernel", "ename": "DeadKernelError"}, None, False, True, 0)[0] == "killed"
    assert classify({**failure, "kind": "timeout", "ename": "Timeout"}, None, False, True, 0)[0] == "timeout"
    assert classify(None, "memory", False, True, 0)[0] == "memory"
    assert classify(None, "processes", False, True, 0)[0] == "killed"
    assert classify(None, None, True, False, -9)[0] == "timeout"
    assert classify(None, None, False, False, -9)[0] == "killed"
    assert classify(None, None, False, True, 0) == ("graded", "")


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
                       "message"]
    assert rows[1][:2] == ["alice", "graded"] and rows[1][-3] == "10"
    assert rows[2][:2] == ["bob", "timeout"] and rows[2][-1] == "'=HYPERLINK(evil)"
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
    (tmp_path / "bad name.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "bob" / "toy.ipynb")
    found = {s.student: s for s in find_submissions(tmp_path, "toy")}
    assert sorted(found) == ["alice", "bad_name", "bob", "carol", "link"]
    assert found["bob"].path == tmp_path / "bob" / "toy.ipynb" and not found["bob"].problem
    assert "two submissions" in found["alice"].problem
    assert "no toy.ipynb in carol/ (found other.ipynb)" in found["carol"].problem
    assert "not a valid student id" in found["bad_name"].problem
    assert "symbolic link" in found["link"].problem
