"""The student version of a lab (labkit.grade.release and `labkit release`)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from labkit.cli import main
from labkit.grade.release import BEGIN, END, STUB, ReleaseError, fill_in, release, release_notebook, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
TOY = Path(__file__).parent / "fixtures" / "grading" / "lab" / "toy.ipynb"


def test_a_solution_region_becomes_one_stub_at_the_markers_indentation():
    source = ("def f(x):\n"
              "    y = 1\n"
              "    ### BEGIN SOLUTION\n"
              "    y = x * 2\n"
              "    return y\n"
              "    ### END SOLUTION\n"
              "\n"
              "### BEGIN SOLUTION\n"
              "z = f(3)\n"
              "### END SOLUTION\n"
              "print(z)")
    stripped, count = strip_solutions(source)
    assert count == 2
    assert stripped == f"def f(x):\n    y = 1\n    {STUB}\n\n{STUB}\nprint(z)"


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
    ("x = 1  ### BEGIN SOLUTION\n", "alone on its line"),
])
def test_markers_that_do_not_pair_up_are_errors_naming_the_line(source, message):
    with pytest.raises(ReleaseError, match=message):
        strip_solutions(source, "cell 3")


def test_markers_in_a_markdown_cell_are_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nanswer\n### END SOLUTION")])
    with pytest.raises(ReleaseError, match="markdown cell"):
        release_notebook(nb)


def test_the_toy_release_has_stubs_no_hidden_checks_and_no_outputs(tmp_path):
    released = release(TOY, tmp_path)
    assert released.path == tmp_path / "toy.ipynb" and (released.stubs, released.hidden_removed) == (2, 1)
    text = released.path.read_text()
    for secret in ("BEGIN SOLUTION", "hidden-check", "SENTINEL", "@check", "sum(x * y"):
        assert secret not in text, secret
    nb = nbformat.read(released.path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert sum(STUB in c.source for c in nb.cells) == 1  # both stubs are in the same cell


def test_filling_in_the_stubs_gives_back_the_solution():
    solution = nbformat.read(TOY, as_version=4)
    released, _, _ = release_notebook(solution)
    filled = fill_in(released, solution)
    visible = ["\n".join(line for line in c.source.splitlines() if line.strip() not in (BEGIN, END))
               for c in solution.cells if "hidden-check" not in c.metadata.get("tags", [])]
    assert [c.source for c in filled.cells] == visible
    with pytest.raises(ReleaseError, match="regions"):
        fill_in(released, released)


def test_release_never_overwrites_the_solution(tmp_path):
    with pytest.raises(ValueError, match="overwrite"):
        release(TOY, TOY.parent)


def test_the_mlp_release_stubs_the_model_and_the_closed_form(tmp_path):
    assert main(["release", "mlp", "--out", str(tmp_path)]) == 0
    released = nbformat.read(tmp_path / "mlp.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "notebooks" / "mlp.ipynb", as_version=4)
    assert len(released.cells) == len(solution.cells) - 1  # the hidden-check cell
    sources = "\n".join(c.source for c in released.cells)
    assert sources.count('raise NotImplementedError("exercise: ') == 2
    assert "BEGIN SOLUTION" not in sources and "@check" not in sources
    assert "torch.linalg.lstsq(features" not in sources and "nn.BatchNorm1d(hidden)" not in sources
    # the parameters cell and the prose are untouched
    def parameters(nb):
        return next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))

    assert parameters(released).source == parameters(solution).source
    filled = fill_in(released, solution)
    assert "nn.BatchNorm1d(hidden)" in "\n".join(c.source for c in filled.cells)


def test_release_cli_errors(tmp_path, capsys):
    assert main(["release", "no_such_lab", "--out", str(tmp_path)]) == 2
    assert "unknown lab" in capsys.readouterr().err
    broken = nbformat.read(TOY, as_version=4)
    broken.cells[3].source += "\n### BEGIN SOLUTION\n"
    nbformat.write(broken, tmp_path / "broken.ipynb")
    assert main(["release", str(tmp_path / "broken.ipynb"), "--out", str(tmp_path / "out")]) == 2
    assert "never closed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_lab_without_exercises_is_not_released(tmp_path, capsys):
    plain = nbformat.read(TOY, as_version=4)
    for cell in plain.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if "SOLUTION" not in line)
    nbformat.write(plain, tmp_path / "plain.ipynb")
    assert main(["release", str(tmp_path / "plain.ipynb"), "--out", str(tmp_path / "out")]) == 2
    assert "has no exercise" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["file", "unwritable"])
def test_an_out_that_is_a_file_or_not_writable_exits_2_in_one_line(where, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("") if where == "file" else None
    out = str(target) if where == "file" else "/proc/labkit-release"
    for args in (["release", str(TOY), "--out", out], ["release", "--all", "--out", out]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("is a file" in err[0] or "not writable" in err[0]), err


def _secret_lines(notebook: Path, hidden: bool | None = None) -> set[str]:
    """Lines of a lab's solution regions and hidden-check cells long enough to be telling (``hidden``: True,
    only the hidden-check cells'; False, only the solution regions'; None, both)."""
    from labkit.grade.hidden import HIDDEN_TAG
    from labkit.grade.release import _regions

    nb = nbformat.read(notebook, as_version=4)
    found, public = set(), set()
    for cell in nb.cells:
        lines = cell.source.splitlines()
        if cell.cell_type != "code":
            public.update(line.strip() for line in lines)
            continue
        if HIDDEN_TAG in cell.metadata.get("tags", []):
            chosen = set(range(len(lines)))
        else:
            chosen = {i for begin, end in _regions(cell.source, "cell") for i in range(begin + 1, end)}
        if hidden is None or hidden == (HIDDEN_TAG in cell.metadata.get("tags", [])):
            found.update(lines[i].strip() for i in chosen)
        public.update(line.strip() for i, line in enumerate(lines) if i not in chosen)
    # a line that is also in the lab's public code or prose (a check may call what the notebook calls; an
    # exercise's hint may quote a line) is no secret
    public_text = "\n".join(public)
    return {line for line in found - public
            if len(line) >= 25 and not line.startswith("#") and line not in public_text
            and "labkit.grade.hidden import" not in line}  # the checks' API is public


def test_the_student_kit_has_every_lab_and_nothing_of_the_solutions(tmp_path, capsys):
    import zipfile

    from labkit.report.labs import lab_names, resolve_notebook

    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "README.md").write_text("my own notes\n", encoding="utf-8")  # a file the kit would replace
    capsys.readouterr()
    assert main(["release", "--all", "--out", str(kit)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(kit / "README.md") in err and "--force" in err, err
    assert sorted(p.name for p in kit.iterdir()) == ["README.md"]  # checked before anything was written
    assert (kit / "README.md").read_text(encoding="utf-8") == "my own notes\n"
    (kit / "README.md").unlink()
    assert main(["release", "--all", "--out", str(kit)]) == 0
    assert re.search(r"wheels/labkit-\S+\.whl", capsys.readouterr().out)  # where the wheel is, not only its name
    labs = lab_names()
    assert sorted(p.stem for p in (kit / "notebooks").glob("*.ipynb")) == sorted(labs)
    for name in ("README.md", "Makefile", "requirements.txt"):
        assert (kit / name).is_file(), name
    readme = (kit / "README.md").read_text()
    assert "make report LAB=mlp" in readme and "make handin" in readme and "提交" in readme and "安装" in readme
    (wheel,) = (kit / "wheels").glob("labkit-*.whl")
    texts = {str(p): p.read_text(errors="replace") for p in kit.rglob("*") if p.is_file() and p.suffix != ".whl"}
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        packaged = {f"wheel:{n}": archive.read(n).decode(errors="replace") for n in names}
    assert not [n for n in names if n.endswith((".ipynb", ".yaml")) and "templates" not in n], names
    assert not [n for n in names if n.startswith(("notebooks/", "grading/", "tests/"))]
    for path, text in texts.items():
        assert "hidden-check" not in text and "BEGIN SOLUTION" not in text, path
    secrets = {lab: _secret_lines(resolve_notebook(lab)[1]) for lab in labs}
    assert all(secrets.values())
    public = "\n".join(texts.values())  # a line one lab keeps secret may be another lab's public code
    everyone = {line for lines in secrets.values() for line in lines}
    # the kit's own code: no line of a solution, and no two lines of the checks (a check may call the kit's
    # API in a line the kit has too, e.g. vocab.add_sentence(sentence); a copied check shares several)
    solutions = {line for lab in labs for line in _secret_lines(resolve_notebook(lab)[1], hidden=False)}
    checks = {line for lab in labs for line in _secret_lines(resolve_notebook(lab)[1], hidden=True)}
    leaks = [(path, line) for path, text in packaged.items() for line in solutions if line in text]
    leaks += [(path, shared) for path, text in packaged.items()
              for shared in [[line for line in checks if line in text]] if len(shared) >= 2]
    for lab, lines in secrets.items():
        own = texts[str(kit / "notebooks" / f"{lab}.ipynb")]
        leaks += [(lab, line) for line in lines if line in own]
        leaks += [(name, line) for name, text in texts.items() if not name.endswith(".ipynb") for line in lines
                  if line in text]
    assert leaks == []
    for lab in labs:
        nb = nbformat.read(kit / "notebooks" / f"{lab}.ipynb", as_version=4)
        assert 'raise NotImplementedError("exercise: ' in "\n".join(c.source for c in nb.cells), lab
        assert not [c for c in nb.cells if "hidden-check" in c.metadata.get("tags", [])]


def test_release_never_replaces_a_file_without_force(tmp_path, capsys):
    """A student's filled-in notebook in --out is kept: exit 2 naming it, unless --force."""
    out = tmp_path / "notebooks"
    out.mkdir()
    filled = out / "toy.ipynb"
    filled.write_text('{"my": "work"}', encoding="utf-8")
    assert main(["release", str(TOY), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(filled) in err and "--force" in err, err
    assert filled.read_text(encoding="utf-8") == '{"my": "work"}'
    with pytest.raises(ReleaseError, match="already exists"):
        release(TOY, out)
    assert main(["release", str(TOY), "--out", str(out), "--force"]) == 0
    assert STUB in "\n".join(c.source for c in nbformat.read(filled, as_version=4).cells)


def test_the_student_kits_make_report_passes_the_report_options(tmp_path):
    """A student following the kit's README gets a Chinese report with a cover, their code only, no logs."""
    import shutil
    import subprocess

    from labkit.grade.release import STUDENT_MAKEFILE

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (tmp_path / "Makefile").write_text(STUDENT_MAKEFILE, encoding="utf-8")
    # Run as a top-level make even under `make test`: a nested make prints "Entering directory".
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    line = subprocess.run(["make", "--no-print-directory", "-n", "report", "LAB=vae", "PROFILE=smoke", "REPORT_LANG=zh",
                           "STUDENT=student.yaml", "CODE=exercises", "LOGS=no", "P=epochs=1 lr=0.01"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert line[:3] == ["labkit", "report", "notebooks/vae.ipynb"]
    for option in (["--profile", "smoke"], ["--lang", "zh"], ["--student", "student.yaml"],
                   ["--code", "exercises"], ["--out", "reports/vae"]):
        assert line[line.index(option[0]) + 1] == option[1], (option, line)
    assert "--no-logs" in line and "--params" in line


def test_make_handin_warns_about_stubs_and_a_failed_report(tmp_path):
    """The kit's `make handin` copies anyway, but says on stderr which exercises are unfinished and that the
    report is of a failed run; a finished notebook with a fresh, successful report gets no warning."""
    import json
    import shutil
    import subprocess
    import sys
    import time

    from labkit.grade.release import STUDENT_MAKEFILE

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (tmp_path / "Makefile").write_text(STUDENT_MAKEFILE, encoding="utf-8")
    (tmp_path / "notebooks").mkdir()
    report = tmp_path / "reports" / "toy"
    report.mkdir(parents=True)
    release(TOY, tmp_path / "notebooks")
    (report / "toy.pdf").write_bytes(b"%PDF-1.4 failed run\n")
    (report / "metrics.json").write_text(json.dumps({"metrics": {}, "provenance": {"failure": {
        "cell_index": 4, "ename": "NotImplementedError", "evalue": "exercise: fit the slope"}}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}

    def handin() -> str:
        run = subprocess.run(["make", "--no-print-directory", "handin", "LAB=toy", "ID=2023001",
                              f"PYTHON={sys.executable}"], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert (tmp_path / "handin" / "2023001" / "toy.ipynb").is_file()
        return run.stderr

    warned = handin()
    unfinished = [line for line in warned.splitlines() if line.startswith("warning: unfinished exercise in toy.ipynb")]
    assert len(unfinished) == 2, warned  # the toy lab's two stubs, each with its cell and hint
    assert "failed run (stopped at cell 5: NotImplementedError: exercise: fit the slope)" in warned, warned

    solution = fill_in(nbformat.read(tmp_path / "notebooks" / "toy.ipynb", as_version=4), nbformat.read(TOY, as_version=4))
    nbformat.write(solution, tmp_path / "notebooks" / "toy.ipynb")
    time.sleep(0.05)
    (report / "toy.pdf").write_bytes(b"%PDF-1.4 good run\n")
    (report / "metrics.json").write_text(json.dumps({"metrics": {}, "provenance": {"failure": None}}), encoding="utf-8")
    assert "warning:" not in handin()
