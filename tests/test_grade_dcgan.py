"""Grading the dcgan lab: the solution earns full marks through the real grader, the unfilled release
at most a third, and each exercise's plausible wrong answer fails exactly its own check.

The wrong answers are graded the way the grader's fresh kernel runs checks: the notebook's cells
tagged ``setup`` and the cells holding exercises (with one region replaced by the wrong answer), then
the hidden checks — no experiment cell runs, which also proves that the checks need none of them.
:func:`run_hidden_checks` is shared with ``test_lab_mlp.py``.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import nbformat
import pytest

from labkit.grade.hidden import CHECK_MIME, HIDDEN_TAG
from labkit.grade.release import BEGIN, END, _regions, fill_in
from labkit.grade.sandbox import bwrap_executable

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.pipeline


def _parameters_source(lab: str, parameters: dict) -> str:
    return "\n".join(f"{name} = {value!r}" for name, value in parameters.items())


def exercise_regions(nb) -> list[tuple[int, int, int]]:
    """``(cell index, begin line, end line)`` of every solution region, in notebook order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and HIDDEN_TAG not in cell.metadata.get("tags", []):
            found += [(index, b, e) for b, e in _regions(cell.source, f"cell {index}")]
    return found


def run_hidden_checks(lab: str, variants: list[dict[int, str]] | None = None, parameters: dict | None = None,
                      timeout: int = 600) -> list[dict[str, dict]]:
    """Run ``lab``'s hidden checks as the fresh-kernel grader does, once per variant of the exercises.

    A variant maps a solution region's number (notebook order, from 0) to code that replaces that
    region's body (indented like the marker); ``{}`` is the solution itself. One real kernel executes
    the parameters cell with ``parameters`` (default: smoke) injected and the cells tagged ``setup``,
    then, for each variant, the cells holding exercises and the ``hidden-check`` cells. Returns one
    ``{check name: result}`` per variant, with ``"__errors__"``: the errors its cells raised.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{lab}.ipynb", as_version=4)
    regions = exercise_regions(nb)
    exercise_cells = {index for index, _, _ in regions}
    setup, per_variant = [], []
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "parameters" in tags:
            setup += [cell.source, _parameters_source(lab, parameters or {"profile": "smoke"})]
        elif index in exercise_cells or HIDDEN_TAG in tags:
            per_variant.append((index, cell.source))
        elif "setup" in tags and per_variant:  # after an exercise cell: runs after it, as in the notebook
            per_variant.append((index, cell.source))
        elif "setup" in tags:
            setup.append(cell.source)
    cells = [nbformat.v4.new_code_cell(source) for source in setup]
    spans = []
    for variant in variants or [{}]:
        replace: dict[int, list[tuple[int, int, str]]] = {}
        for number, code in variant.items():
            index, begin, end = regions[number]
            replace.setdefault(index, []).append((begin, end, code))
        start = len(cells)
        for index, source in per_variant:
            lines = source.splitlines()
            for begin, end, code in sorted(replace.get(index, []), reverse=True):
                indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
                lines[begin + 1:end] = [indent + line for line in code.strip("\n").splitlines()]
            cells.append(nbformat.v4.new_code_cell("\n".join(lines)))
        spans.append((start, len(cells)))
    run = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    NotebookClient(run, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    results = []
    for start, stop in [(0, spans[0][0])] + spans:
        outputs = [o for cell in run.cells[start:stop] for o in cell.get("outputs", [])]
        found = {o["data"][CHECK_MIME]["name"]: o["data"][CHECK_MIME] for o in outputs
                 if CHECK_MIME in o.get("data", {})}
        found["__errors__"] = [f"{o['ename']}: {o['evalue']}" for o in outputs if o.get("output_type") == "error"]
        results.append(found)
    assert results[0]["__errors__"] == [], f"the setup cells failed: {results[0]['__errors__']}"
    return results[1:]


WRONG = ROOT / "tests" / "fixtures" / "dcgan"
CHECKS = {"dcgan_generator", "dcgan_discriminator", "dcgan_training_step", "dcgan_samples"}


def test_each_wrong_answer_fails_exactly_its_own_check(data_dir):
    """Region 0: Generator, 1: Discriminator, 2: train_step (fixtures/dcgan/README.md)."""
    wrong = {"dcgan_generator": {0: (WRONG / "generator_hardcoded.py").read_text()},
             "dcgan_discriminator": {1: (WRONG / "discriminator_no_probability.py").read_text()},
             "dcgan_training_step": {2: (WRONG / "step_no_detach.py").read_text()}}
    results = run_hidden_checks("dcgan", list(wrong.values()),
                                parameters={"profile": "smoke", "epochs": 2, "sample_epochs": [1, 2], "conditional": False,
                                            "compare_recipes": False})
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

    from labkit.cli import main

    assert main(["release", "dcgan", "--out", str(tmp_path / "release")]) == 0
    released = nbformat.read(tmp_path / "release" / "dcgan.ipynb", as_version=4)
    text = nbformat.writes(released)
    assert BEGIN not in text and END not in text and HIDDEN_TAG not in text
    sources = "\n".join(cell.source for cell in released.cells)
    assert sources.count('raise NotImplementedError("exercise: ') == 3
    solution = nbformat.read(ROOT / "notebooks" / "dcgan.ipynb", as_version=4)
    subs = tmp_path / "submissions"
    (subs / "alice").mkdir(parents=True)
    nbformat.write(fill_in(released, solution), subs / "alice" / "dcgan.ipynb")
    nbformat.write(released, subs / "unfilled.ipynb")

    # the real rubric, with the recipe comparison and the conditional GAN (two more training runs) left out
    rubric = yaml.safe_load((ROOT / "grading" / "dcgan.yaml").read_text())
    rubric["notebook"] = str(ROOT / "notebooks" / "dcgan.ipynb")
    rubric["parameters"] = {"profile": "smoke", "compare_recipes": False, "conditional": False}
    (tmp_path / "dcgan.yaml").write_text(yaml.safe_dump(rubric, allow_unicode=True))
    total = sum(item["points"] for item in rubric["items"])

    out = tmp_path / "grades"
    assert main(["grade", str(tmp_path / "dcgan.yaml"), str(subs), "--out", str(out), "--workers", "2"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
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
