"""Grading the vae lab: the solution earns full marks, the unfilled release at most a third, and each
exercise's plausible wrong answer fails exactly its own hidden check.

The solution and the unfilled release go through the real grader (`labkit grade`, bubblewrap sandbox,
smoke profile). The wrong answers are cheaper to try without a full notebook run: one kernel executes the
notebook's `setup` cells and its exercise cells (one region replaced by the wrong answer), then the hidden
checks — what the grader's fresh check kernel runs. The wrong answers are in tests/fixtures/vae/.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import require_full_data
from grading_support import release_fill_and_grade
from labkit.grade.hidden import CHECK_MIME, HIDDEN_TAG
from labkit.grade.rubric import load_rubric
from labkit.grade.sandbox import bwrap_executable

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "vae.ipynb"
WRONG = yaml.safe_load((Path(__file__).parent / "fixtures" / "vae" / "wrong_answers.yaml").read_text())
BEGIN, END = re.compile(r"^(\s*)### BEGIN SOLUTION"), re.compile(r"^\s*### END SOLUTION\s*$")

pytestmark = pytest.mark.pipeline


def _data(monkeypatch):
    require_full_data(monkeypatch)


@pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
def test_solution_full_marks_and_unfilled_release_at_most_a_third(tmp_path, monkeypatch):
    _data(monkeypatch)
    released, rows, out = release_fill_and_grade("vae", tmp_path)
    text = json.dumps(released.cells)
    assert "BEGIN SOLUTION" not in text and HIDDEN_TAG not in text
    assert text.count("NotImplementedError") == len(WRONG)  # one stub per exercise
    total = sum(item.points for item in load_rubric(ROOT / "grading" / "vae.yaml").items)
    alice = json.loads((out / "results" / "alice.json").read_text())
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == total, alice["items"]
    checks = {c["name"]: c for c in alice["checks"]}
    assert all(c["passed"] for c in checks.values()), checks
    assert 50 < checks["vae_retrained"]["values"]["vae_test_loss_nats"] < 300

    unfilled = json.loads((out / "results" / "unfilled.json").read_text())
    assert unfilled["status"] == "error" and unfilled["failure"]["ename"] == "NotImplementedError"
    assert "exercise: " in unfilled["failure"]["evalue"]
    assert float(rows["unfilled"]["total"]) <= total / 3, unfilled["items"]


def _with_wrong_region(source: str, start: int, wrong: dict) -> tuple[str, int]:
    """``source`` with region number ``wrong["region"]`` (counting from ``start``) replaced; and the next count."""
    lines, out, index, inside = source.splitlines(), [], start, None
    for line in lines:
        begin = BEGIN.match(line)
        if begin:
            inside = index == wrong["region"]
            indent = begin.group(1)
            index += 1
            if inside:
                out += [indent + code for code in wrong["code"].rstrip("\n").splitlines()]
            else:
                out.append(line)
        elif END.match(line):
            if not inside:
                out.append(line)
            inside = None
        elif not inside:
            out.append(line)
    return "\n".join(out), index


def test_each_wrong_answer_fails_only_its_own_check(monkeypatch):
    """Every check passes on the solution; each wrong answer fails its own check and no other."""
    from nbclient import NotebookClient

    _data(monkeypatch)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tags = lambda cell: cell.metadata.get("tags", [])
    setup = [c for c in nb.cells if c.cell_type == "code" and "setup" in tags(c)]
    exercises = [c.source for c in nb.cells if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source]
    hidden = [c.source for c in nb.cells if c.cell_type == "code" and HIDDEN_TAG in tags(c)]
    assert setup and exercises and hidden
    assert sum(s.count("### BEGIN SOLUTION") for s in exercises) == len(WRONG)
    cells = [nbformat.v4.new_code_cell(setup[0].source), nbformat.v4.new_code_cell('profile = "smoke"')]
    cells += [nbformat.v4.new_code_cell(c.source) for c in setup[1:]]
    cases = [None] + WRONG
    for number, case in enumerate(cases, start=-1):
        count = 0
        for source in exercises:
            if case is not None:
                source, count = _with_wrong_region(source, count, case)
            cells.append(nbformat.v4.new_code_cell(source))
        cells += [nbformat.v4.new_code_cell(s, metadata={"case": f"{number}:{case['check']}" if case else "solution"}) for s in hidden]
    run = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    NotebookClient(run, timeout=600, kernel_name="python3", allow_errors=False).execute()

    results: dict[str, dict[str, dict]] = {}
    for cell in run.cells:
        if "case" in cell.metadata:
            for output in cell.outputs:
                if CHECK_MIME in output.get("data", {}):
                    result = output["data"][CHECK_MIME]
                    results.setdefault(cell.metadata["case"], {})[result["name"]] = result
    names = set(results["solution"])
    assert names == {w["check"] for w in WRONG} | {"vae_retrained"}, names
    assert all(r["passed"] for r in results["solution"].values()), results["solution"]
    for number, wrong in enumerate(WRONG):
        case = results[f"{number}:{wrong['check']}"]
        failed = {name for name, r in case.items() if not r["passed"]}
        assert failed == {wrong["check"]}, (wrong["why"], {n: case[n]["message"] for n in failed})
        message = case[wrong["check"]]["message"]
        assert "def _" not in message and "_hc_" not in message, message  # says what is wrong, not the check's code
