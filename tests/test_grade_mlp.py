"""The acceptance path on the real mlp lab: release it, fill in the solution, grade: full marks.

The hidden checks run in a fresh interpreter on the lab's setup cells and the student's exercise cells.

The unfilled student version is graded in the same run: it stops with a clear error at its first
stub and scores only what it shows without any exercise done.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import require_full_data
from grading_support import release_fill_and_grade
from labkit.grade.sandbox import bwrap_executable

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.pipeline,
              pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")]


def test_release_fill_in_and_grade_the_mlp_lab(tmp_path, monkeypatch, capsys):
    require_full_data(monkeypatch)
    _, rows, out = release_fill_and_grade("mlp", tmp_path)
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == 12, rows["alice"]
    alice = json.loads((out / "results" / "alice.json").read_text())
    assert all(item["passed"] for item in alice["items"]), alice["items"]
    checks = {c["name"]: c for c in alice["checks"]}
    assert 0.8 <= checks["mlp_heldout"]["values"]["mlp_test_acc"] <= 1.0
    assert "Grade: 12 / 12" in (out / "feedback" / "alice.html").read_text()

    unfilled = json.loads((out / "results" / "unfilled.json").read_text())
    assert unfilled["status"] == "error"
    assert unfilled["failure"]["ename"] == "NotImplementedError"
    assert unfilled["failure"]["evalue"].startswith("exercise: ")  # the stub says what to write
    assert float(rows["unfilled"]["mlp_model"]) == 0 and float(rows["unfilled"]["mlp_accuracy"]) == 0
    assert float(rows["unfilled"]["total"]) <= 12 / 3
    # the checks ran on the lab's setup cells and alice's exercise cells, found by their cell ids
    assert alice["flags"] == [] and alice["check_errors"] == []
    assert os.path.getsize(out / "feedback" / "unfilled.html") > 0


def test_a_wrong_answer_reads_the_checks_own_message(monkeypatch):
    """The check's assertion message reaches the student as written (not redacted to its numbers)."""
    from grading_support import hidden_check_verdicts

    require_full_data(monkeypatch)
    wrong = ("for hidden in (256, 128, 64):\n"
             "    layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.ReLU()]\n"
             "    width = hidden")
    results = hidden_check_verdicts("mlp", {0: wrong})
    assert results["__errors__"] == []
    message = results["mlp_architecture"]["message"]
    assert not results["mlp_architecture"]["passed"] and "[…]" not in message
    assert message.startswith("make_model('mlp', bn_before=False) has the Linear layers") and "expected" in message
