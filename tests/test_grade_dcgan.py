"""Grading the dcgan lab: the solution earns full marks through the real grader, the unfilled release
at most a third, and each exercise's plausible wrong answer fails exactly its own check.

The wrong answers go through the grader's own verdict path (:func:`grading_support.run_hidden_checks`:
a fresh interpreter runs the notebook's cells tagged ``setup`` and the cells holding exercises, with one
region replaced by the wrong answer, then the hidden checks) — no experiment cell runs, which also
proves that the checks need none of them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from grading_support import release_fill_and_grade, run_hidden_checks
from labkit.grade.hidden import HIDDEN_TAG
from labkit.grade.release import BEGIN, END
from labkit.grade.sandbox import bwrap_executable

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.pipeline


WRONG = ROOT / "tests" / "fixtures" / "dcgan"
CHECKS = {"dcgan_generator", "dcgan_discriminator", "dcgan_training_step", "dcgan_samples"}


def test_each_wrong_answer_fails_exactly_its_own_check(data_dir):
    """Region 0: Generator, 1: Discriminator, 2: train_step (fixtures/dcgan/README.md)."""
    wrong = {"dcgan_generator": {0: (WRONG / "generator_hardcoded.py").read_text()},
             "dcgan_discriminator": {1: (WRONG / "discriminator_no_probability.py").read_text()},
             "dcgan_training_step": {2: (WRONG / "step_no_detach.py").read_text()}}
    parameters = {"profile": "smoke", "epochs": 2, "sample_epochs": [1, 2], "conditional": False,
                  "compare_recipes": False}
    results = run_hidden_checks("dcgan", list(wrong.values()), parameters=parameters)
    for (expected, _), result in zip(wrong.items(), results):
        assert result["__errors__"] == [], (expected, result["__errors__"])
        assert set(result) - {"__errors__"} == CHECKS, result.keys()
        failed = {name for name in CHECKS if not result[name]["passed"]}
        assert failed == {expected}, (expected, {n: result[n]["message"] for n in CHECKS})
        assert result[expected]["message"] and "def " not in result[expected]["message"]
    assert "detached" in results[2]["dcgan_training_step"]["message"]
    assert "G_LAYERS['source']" in results[0]["dcgan_generator"]["message"]


@pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
def test_release_fill_in_and_grade_the_dcgan_lab(tmp_path, data_dir):
    """The real grader, in its sandbox: the solution earns 12 / 12, the unfilled release at most a third."""
    import yaml

    # the real rubric, with the recipe comparison and the conditional GAN (two more training runs) left out
    rubric = yaml.safe_load((ROOT / "grading" / "dcgan.yaml").read_text())
    rubric["notebook"] = str(ROOT / "notebooks" / "dcgan.ipynb")
    rubric["parameters"] = {"profile": "smoke", "compare_recipes": False, "conditional": False}
    (tmp_path / "dcgan.yaml").write_text(yaml.safe_dump(rubric, allow_unicode=True))
    total = sum(item["points"] for item in rubric["items"])

    released, rows, out = release_fill_and_grade("dcgan", tmp_path, rubric=tmp_path / "dcgan.yaml")
    text = nbformat.writes(released)
    assert BEGIN not in text and END not in text and HIDDEN_TAG not in text
    sources = "\n".join(cell.source for cell in released.cells)
    assert sources.count('raise NotImplementedError("exercise: ') == 3
    alice = json.loads((out / "results" / "alice.json").read_text())
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == total, alice["items"]
    checks = {c["name"]: c for c in alice["checks"]}
    assert set(checks) == CHECKS and all(c["passed"] for c in checks.values()), checks
    assert 0 < checks["dcgan_samples"]["values"]["dcgan_fid"] < 1000

    unfilled = json.loads((out / "results" / "unfilled.json").read_text())
    assert unfilled["status"] == "error" and unfilled["failure"]["ename"] == "NotImplementedError"
    assert "exercise: set self.net" in unfilled["failure"]["evalue"]
    assert float(rows["unfilled"]["total"]) <= total / 3, unfilled["items"]
    assert os.path.getsize(out / "feedback" / "unfilled.html") > 0
