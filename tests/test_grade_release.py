"""The student version of a lab (labkit.grade.release and `labkit release`)."""
from __future__ import annotations

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
    assert sources.count(STUB) == 2 and "BEGIN SOLUTION" not in sources and "@check" not in sources
    assert "torch.linalg.lstsq(features" not in sources and "nn.BatchNorm1d(hidden)" not in sources
    # the parameters cell and the prose are untouched
    assert released.cells[1].source == solution.cells[1].source
    assert "parameters" in released.cells[1].metadata["tags"]
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
