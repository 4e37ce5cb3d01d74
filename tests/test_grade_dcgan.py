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

from conftest import full_data_dir
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


def run_hidden_checks(lab: str, wrong: dict[int, str] | None = None, parameters: dict | None = None,
                      timeout: int = 600) -> dict[str, dict]:
    """Run ``lab``'s hidden checks as the fresh-kernel grader does; ``{check name: result}``.

    ``wrong`` maps a solution region's number (notebook order, from 0) to code that replaces that
    region's body (indented like the marker). Executes, in a real kernel: the parameters cell with
    ``parameters`` (default: smoke) injected, the cells tagged ``setup``, the cells holding exercises,
    then the ``hidden-check`` cells.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{lab}.ipynb", as_version=4)
    regions = exercise_regions(nb)
    by_cell: dict[int, list[tuple[int, int, str]]] = {}
    for number, code in (wrong or {}).items():
        index, begin, end = regions[number]
        by_cell.setdefault(index, []).append((begin, end, code))
    cells = []
    exercise_cells = {index for index, _, _ in regions}
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "parameters" in tags:
            cells += [nbformat.v4.new_code_cell(cell.source),
                      nbformat.v4.new_code_cell(_parameters_source(lab, parameters or {"profile": "smoke"}))]
        elif "setup" in tags or index in exercise_cells or HIDDEN_TAG in tags:
            lines = cell.source.splitlines()
            for begin, end, code in sorted(by_cell.get(index, []), reverse=True):
                indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
                lines[begin + 1:end] = [indent + line for line in code.strip("\n").splitlines()]
            cells.append(nbformat.v4.new_code_cell("\n".join(lines)))
    run = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    NotebookClient(run, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    results = {}
    for cell in run.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(CHECK_MIME)
            if payload:
                results[payload["name"]] = payload
    results["__errors__"] = [f"{o['ename']}: {o['evalue']}" for c in run.cells for o in c.get("outputs", [])
                             if o.get("output_type") == "error"]
    return results


@pytest.fixture(scope="module")
def data_dir():
    data = full_data_dir()
    if data is None:
        pytest.skip("set LABKIT_DATA to the course data (../shared/data)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_DATA", str(data))
        yield data
