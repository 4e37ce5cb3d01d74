"""`labkit grade` end to end on the toy lab: outputs, resuming, --force, --no-execute, --unsafe, exit codes."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from labkit.cli import main
from labkit.grade.sandbox import bwrap_executable

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
RUBRIC = str(FIXTURES / "lab" / "toy.yaml")

needs_bwrap = pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")


@pytest.fixture
def subs(tmp_path: Path) -> Path:
    folder = tmp_path / "submissions"
    (folder / "alice").mkdir(parents=True)
    shutil.copy(FIXTURES / "submissions" / "correct.ipynb", folder / "alice" / "toy.ipynb")
    return folder


def rows(out: Path) -> dict[str, dict]:
    return {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}


@needs_bwrap
def test_grade_writes_the_gradebook_then_resumes_then_forces(subs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "alice: graded 10/10" in printed and ("cgroup" in printed or "rlimits" in printed)
    for name in ("gradebook.csv", "gradebook.html", "grading.log", "results/alice.json", "feedback/alice.html",
                 "executed/alice.ipynb"):
        assert (out / name).is_file(), name
    assert rows(out)["alice"]["total"] == "10"

    assert main(["grade", RUBRIC, str(subs), "--out", str(out)]) == 0
    assert "alice: already graded (graded, 10); skipped" in capsys.readouterr().out

    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--force", "--timeout", "25"]) == 0
    assert "alice: graded 10/10" in capsys.readouterr().out

    # the executed notebook, graded as submitted: no hidden checks, so only what records and shows counts
    handed_in = tmp_path / "handed_in"
    handed_in.mkdir()
    shutil.copy(out / "executed" / "alice.ipynb", handed_in / "alice.ipynb")
    assert main(["grade", RUBRIC, str(handed_in), "--out", str(tmp_path / "as_is"), "--no-execute"]) == 0
    row = rows(tmp_path / "as_is")["alice"]
    assert (row["status"], row["slope"], row["mse"], row["fit"], row["sections"], row["figure"]) == \
        ("graded", "0", "0", "1", "1", "1")


@pytest.mark.parametrize("args, message", [
    (["nosuchlab", "{subs}"], "no rubric for lab 'nosuchlab'"),
    ([RUBRIC, "{tmp}/missing"], "does not exist"),
    ([RUBRIC, "{tmp}/empty"], "no submissions in"),
    ([RUBRIC, "{subs}", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
    ([RUBRIC, "{subs}", "--workers", "0"], "--workers must be at least 1"),
    ([RUBRIC, "{subs}", "--profile", "huge"], "not one of"),
    ([RUBRIC, "{subs}", "--out", "{subs}/grades"], "inside the submissions folder"),
])
def test_bad_invocations_exit_2_before_anything_runs(args, message, subs, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args = [a.format(subs=subs, tmp=tmp_path) for a in args]
    out = tmp_path / "never"
    if "--out" not in args:
        args += ["--out", str(out)]
    assert main(["grade", *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (subs / "grades").exists()


@needs_bwrap
def test_without_a_sandbox_grading_is_refused_unless_unsafe(subs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LABKIT_BWRAP", str(tmp_path / "no-bwrap"))
    out = tmp_path / "out"
    assert main(["grade", RUBRIC, str(subs), "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert "refusing to grade" in err and "--unsafe" in err and "apt-get install bubblewrap" in err
    assert not out.exists()
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--unsafe", "--workers", "1"]) == 0
    assert "none (--unsafe)" in capsys.readouterr().out
    assert rows(out)["alice"]["status"] == "graded" and rows(out)["alice"]["total"] == "10"
