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
    ([RUBRIC, "{subs}/alice/toy.ipynb"], "toy.ipynb is a file, not a folder: give the folder that holds the"),
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


@pytest.mark.parametrize("command", ["grade", "similarity"])
@pytest.mark.parametrize("where", ["file", "file/below"])
def test_an_output_folder_that_is_a_file_is_one_line_and_exit_2(command, where, subs, tmp_path, capsys):
    (subs / "bob.ipynb").write_bytes((FIXTURES / "submissions" / "wrong.ipynb").read_bytes())
    (tmp_path / "file").write_text("kept")
    assert main([command, RUBRIC, str(subs), "--out", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder; choose another --out" in err, err
    assert (tmp_path / "file").read_text() == "kept"


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


@pytest.mark.parametrize("option", [["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "-1"],
                                    ["--timeout", "0"], ["--memory", "0"], ["--memory", "-5"]])
def test_bad_limits_exit_2_before_anything_runs(option, subs, tmp_path, capsys):
    """/work/shared/cases/grade_bad_limit_options: every such run used to exit 0 with everyone at 0."""
    out = tmp_path / "out"
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option[0] in err[0]
    assert not out.exists()


@needs_bwrap
def test_a_sandbox_that_cannot_import_the_kit_exits_4(subs, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "elsewhere" / "labkit"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('a broken checkout')\n")
    monkeypatch.setattr("labkit.grade.sandbox.kit_dir", lambda: broken)
    out = tmp_path / "out"
    assert main(["grade", RUBRIC, str(subs), "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert "cannot import the grader" in err and "a broken checkout" in err
    assert not out.exists()


@needs_bwrap
def test_a_second_checkout_grades_with_its_own_kit(subs, tmp_path):
    """The kit that runs (here a copy on PYTHONPATH, not the one pip installed) is the one the sandbox imports."""
    import subprocess
    import sys

    from labkit.grade.sandbox import kit_dir

    checkout = tmp_path / "checkout"
    shutil.copytree(kit_dir(), checkout / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    env = {**__import__("os").environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "labkit.cli", "grade", RUBRIC, str(subs), "--out", str(out),
                          "--workers", "1"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert rows(out)["alice"]["status"] == "graded" and rows(out)["alice"]["total"] == "10"


@needs_bwrap
def test_the_data_source_decides_what_is_already_graded(subs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("LABKIT_DATA", str(empty))
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--workers", "1"]) == 0
    assert "data: embedded samples only" in capsys.readouterr().out
    full = tmp_path / "data"
    (full / "MNIST").mkdir(parents=True)
    monkeypatch.setenv("LABKIT_DATA", str(full))
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"data: full data from {full}" in printed and "alice: graded 10/10" in printed
    assert "already graded" not in printed


def test_names_collide_never_end_to_end(tmp_path):
    """Four files, four rows with their own names (graded as submitted: no sandbox needed)."""
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("张三", "李四", "a b", "a_b"):
        shutil.copy(FIXTURES / "submissions" / "correct.ipynb", subs / f"{name}.ipynb")
    shutil.copy(FIXTURES / "submissions" / "patches_in_exercise.ipynb", subs / "patcher.ipynb")
    (subs / ".DS_Store").write_text("")
    out = tmp_path / "out"
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--no-execute"]) == 0
    got = rows(out)
    assert sorted(got) == sorted(["张三", "李四", "a b", "a_b", "patcher"])
    assert all(row["status"] == "graded" for row in got.values())
    # the static check of the exercise cells runs without execution too
    assert "builtins" in got["patcher"]["flags"] and got["张三"]["flags"] == ""
    assert (out / "feedback" / "张三.html").is_file() and (out / "feedback" / "a b.html").is_file()
    assert "skipped .DS_Store: a hidden entry" in (out / "grading.log").read_text()


def test_notebooks_without_cell_ids_are_graded_without_nbformat_warnings(subs, tmp_path, capfd):
    """A notebook whose cells lack ids (nbformat 4.5 requires them; a script added cells without) is read quietly."""
    import json
    import warnings

    data = json.loads((subs / "alice" / "toy.ipynb").read_text(encoding="utf-8"))
    assert data["nbformat_minor"] >= 5
    for cell in data["cells"]:
        cell.pop("id", None)
    (subs / "alice" / "toy.ipynb").write_text(json.dumps(data), encoding="utf-8")
    from labkit.grade.rubric import load_rubric
    from labkit.grade.runner import GradeOptions, grade

    with warnings.catch_warnings(record=True) as caught:  # the library, not only the CLI (which filters too)
        warnings.simplefilter("always")
        grade(load_rubric(RUBRIC), subs, GradeOptions(out_dir=tmp_path / "out", execute=False), log=None)
    printed = capfd.readouterr()
    assert "MissingIDFieldWarning" not in printed.out + printed.err
    assert not [w for w in caught if "missing an id" in str(w.message)], [str(w.message) for w in caught]
    assert rows(tmp_path / "out")["alice"]["status"] == "graded"
