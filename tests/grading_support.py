"""Test support for the per-lab grading tests: the grader's own verdict path on a changed submission.

``hidden_check_verdicts(lab, {region: code})`` takes the lab's solution notebook, replaces the bodies of
some exercise regions, and runs the hidden checks on it exactly as ``labkit grade`` does after the
student's run (:func:`labkit.grade.execute.build_verdict_plan` → :func:`labkit.grade.inside.run_verdicts`,
a fresh interpreter with the lab's setup cells and the submission's exercise cells → the messages as the
student sees them, :func:`labkit.grade.execute.shown_verdicts`), without the sandboxed notebook run, so
that each plausible wrong answer costs seconds, not a whole grading run.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import nbformat

from labkit.grade.hidden import HIDDEN_TAG
from labkit.grade.release import _regions

ROOT = Path(__file__).resolve().parent.parent


def exercise_regions(nb: Any) -> list[tuple[int, int, int]]:
    """``(cell index, begin line, end line)`` of every solution region of ``nb``, in notebook order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and HIDDEN_TAG not in cell.metadata.get("tags", []):
            found += [(index, begin, end) for begin, end in _regions(cell.source, f"cell {index}")]
    return found


def with_regions(nb: Any, replaced: dict[int, str]) -> Any:
    """A copy of the solution ``nb`` with region ``n``'s body (notebook order, from 0) replaced by ``replaced[n]``
    (written unindented; indented like the region's marker)."""
    copy = nbformat.reads(nbformat.writes(nb), as_version=4)
    regions = exercise_regions(copy)
    per_cell: dict[int, list[tuple[int, int, str]]] = {}
    for number, code in replaced.items():
        index, begin, end = regions[number]
        per_cell.setdefault(index, []).append((begin, end, code))
    for index, edits in per_cell.items():
        lines = copy.cells[index].source.splitlines()
        for begin, end, code in sorted(edits, reverse=True):
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            lines[begin + 1:end] = [indent + line for line in code.strip("\n").splitlines()]
        copy.cells[index].source = "\n".join(lines)
    return copy


def region_number(nb: Any, cell_id: str, region: int = 0) -> int:
    """The notebook-order number (for ``replaced``) of the ``region``-th solution region of the cell ``cell_id``."""
    (index,) = [i for i, cell in enumerate(nb.cells) if cell.get("id") == cell_id]
    numbers = [number for number, (at, _, _) in enumerate(exercise_regions(nb)) if at == index]
    return numbers[region]


def without_checks(sources: list[str], names: list[str]) -> list[str]:
    """The hidden-check cell ``sources`` with the functions decorated ``@check(NAME, ...)`` for ``names``
    cut out (decorators to last line; the rest of each cell kept as written)."""
    kept = []
    for source in sources:
        lines = source.splitlines()
        cut: set[int] = set()
        for node in ast.parse(source).body:
            for decorator in getattr(node, "decorator_list", []):
                if (isinstance(decorator, ast.Call) and decorator.args and isinstance(decorator.args[0], ast.Constant)
                        and decorator.args[0].value in names):
                    first = min(d.lineno for d in node.decorator_list)
                    cut.update(range(first - 1, node.end_lineno))
        kept.append("\n".join(line for number, line in enumerate(lines) if number not in cut))
    return kept


def hidden_check_verdicts(lab: str, replaced: dict[int, str] | None = None, *, rubric: Any = None,
                          parameters: dict[str, Any] | None = None, only: list[str] | None = None,
                          skip: list[str] | None = None, budget: float = 600) -> dict[str, dict[str, Any]]:
    """``{check name: result}`` of ``lab``'s hidden checks on its solution with ``replaced`` regions.

    ``rubric``: a loaded rubric (default ``grading/<lab>.yaml``); ``parameters``: injected as the grader
    injects them (default ``{"profile": "smoke"}``); ``only``: keep just these checks' results (every
    check still runs); ``skip``: these checks do not run at all (cut from their cells: a slow retraining
    check the full grading test covers). Results carry ``"message"`` as the student would read it;
    ``"__errors__"`` holds the cells' errors (setup or exercise cells, check cells). Every exercise
    cell must be found (the grader's notes are empty). Needs ``LABKIT_DATA`` where the lab's setup
    cells load data.
    """
    from labkit.grade.execute import build_verdict_plan, shown_verdicts
    from labkit.grade.inside import run_verdicts
    from labkit.grade.rubric import load_rubric

    rubric = rubric or load_rubric(lab)
    solution = nbformat.read(ROOT / "notebooks" / f"{lab}.ipynb", as_version=4)
    submission = with_regions(solution, replaced or {})
    submission.cells = [c for c in submission.cells if HIDDEN_TAG not in c.metadata.get("tags", [])]
    plan, _, notes = build_verdict_plan(rubric, submission, parameters or {"profile": "smoke"})
    assert not notes, notes
    if skip:
        assert set(skip) <= set(plan["check_names"]), (skip, plan["check_names"])
        plan["checks"] = without_checks(plan["checks"], skip)
        plan["check_names"] = [name for name in plan["check_names"] if name not in skip]
    verdicts = run_verdicts(plan, budget=budget)
    results, errors = shown_verdicts(plan["checks"], verdicts["results"], verdicts["errors"])
    if only is not None:
        results = {name: result for name, result in results.items() if name in only}
    return {**results, "__errors__": errors}


def run_hidden_checks(lab: str, variants: list[dict[int, str]] | None = None,
                      parameters: dict[str, Any] | None = None, timeout: int = 600) -> list[dict[str, dict]]:
    """:func:`hidden_check_verdicts` once per variant (``{region number: code}``; ``{}`` is the solution),
    each in its own fresh verdict interpreter, as the grader runs them."""
    return [hidden_check_verdicts(lab, variant, parameters=parameters, budget=timeout) for variant in variants or [{}]]


def release_fill_and_grade(lab: str, tmp_path: Path, rubric: Path | None = None) -> tuple[Any, dict[str, dict], Path]:
    """``labkit release LAB``, then ``labkit grade`` of two submissions with 2 workers: ``alice`` (the
    release filled in with the solution) and ``unfilled`` (the release as handed out).

    ``rubric``: grade against this rubric file instead of ``grading/<lab>.yaml``.
    Returns ``(released notebook, gradebook rows by student, output folder)``.
    """
    import csv

    from labkit.cli import main
    from labkit.grade.release import fill_in

    assert main(["release", lab, "--out", str(tmp_path / "release")]) == 0
    released = nbformat.read(tmp_path / "release" / f"{lab}.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "notebooks" / f"{lab}.ipynb", as_version=4)
    subs = tmp_path / "submissions"
    (subs / "alice").mkdir(parents=True)
    nbformat.write(fill_in(released, solution), subs / "alice" / f"{lab}.ipynb")
    nbformat.write(released, subs / "unfilled.ipynb")
    out = tmp_path / "grades"
    assert main(["grade", str(rubric) if rubric else lab, str(subs), "--out", str(out), "--workers", "2"]) == 0
    with open(out / "gradebook.csv", encoding="utf-8") as table:
        rows = {row["student"]: row for row in csv.DictReader(table)}
    return released, rows, out
