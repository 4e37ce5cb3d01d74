"""`--executor dask` (a Dask LocalCluster) gives the same gradebook as the local process pool."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from labkit.grade.rubric import load_rubric
from labkit.grade.runner import GradeOptions, grade
from labkit.grade.sandbox import bwrap_executable

FIXTURES = Path(__file__).parent / "fixtures" / "grading"

pytest.importorskip("distributed")
pytestmark = pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")


def table(out: Path) -> list[dict]:
    """gradebook.csv without the wall times (which differ from run to run)."""
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(open(out / "gradebook.csv"))]


def items(out: Path, student: str) -> list[dict]:
    return json.loads((out / "results" / f"{student}.json").read_text())["items"]


def test_dask_and_the_local_pool_give_the_same_gradebook(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name in ("correct", "exception"):  # full marks; an error with partial credit (one check-free item fails)
        shutil.copy(FIXTURES / "submissions" / f"{name}.ipynb", subs)
    rubric = load_rubric(str(FIXTURES / "lab" / "toy.yaml"))
    local = grade(rubric, subs, GradeOptions(out_dir=tmp_path / "local", workers=2), log=None)
    dask = grade(rubric, subs, GradeOptions(out_dir=tmp_path / "dask", workers=2, executor="dask"), log=None)
    assert not local.internal_errors and not dask.internal_errors
    assert table(tmp_path / "dask") == table(tmp_path / "local")
    assert [(r["status"], r["total"]) for r in dask.results] == [("graded", 10), ("error", 8)]
    for student in ("correct", "exception"):
        assert items(tmp_path / "dask", student) == items(tmp_path / "local", student)
        assert (tmp_path / "dask" / "feedback" / f"{student}.html").is_file()
    assert "executor dask x2" in (tmp_path / "dask" / "grading.log").read_text()
