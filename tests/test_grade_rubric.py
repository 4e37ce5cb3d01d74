"""Rubrics (labkit.grade.rubric): loading, validation errors, profiles, limits, hidden-check discovery."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from labkit.grade.rubric import RubricError, hidden_checks, load_rubric, rubric_path

TOY = Path(__file__).parent / "fixtures" / "grading" / "lab"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A copy of the toy lab (notebook and rubric) to edit."""
    shutil.copy(TOY / "toy.ipynb", tmp_path / "toy.ipynb")
    shutil.copy(TOY / "toy.yaml", tmp_path / "toy.yaml")
    return tmp_path


def edit(lab: Path, old: str, new: str) -> Path:
    path = lab / "toy.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


def test_the_toy_rubric_loads():
    rubric = load_rubric(str(TOY / "toy.yaml"))
    assert rubric.lab == "toy" and rubric.notebook == (TOY / "toy.ipynb").resolve()
    assert [i.id for i in rubric.items] == ["slope", "mse", "fit", "sections", "figure"]
    assert rubric.max_points == 10
    assert rubric.checks.names == ("mse_matches", "slope_heldout")
    assert rubric.checks.provider("slope_error") == "slope_heldout"
    assert rubric.checks.provider("fit_mse") is None
    assert rubric.parameters == {"profile": "smoke"} and rubric.profile() == "smoke"
    assert rubric.items[0].bounds("smoke") == (None, 0.05) and rubric.items[0].bounds("full") == (None, 0.01)
    # the one value no hidden check verifies is flagged
    assert len(rubric.warnings) == 1 and "fit_mse" in rubric.warnings[0]
    assert rubric.fingerprint() == load_rubric(str(TOY / "toy.yaml")).fingerprint()


def test_limits_come_from_the_rubric_and_the_command_line_wins():
    rubric = load_rubric(str(TOY / "toy.yaml"))
    limits = rubric.resolve_limits("smoke")
    assert (limits.timeout, limits.check_timeout, limits.memory, limits.processes) == (30, 10, 1024, 64)
    limits = rubric.resolve_limits("smoke", timeout=5, memory=256)
    assert (limits.timeout, limits.memory) == (5, 256)
    assert rubric.run_parameters("quick") == {"profile": "quick"}


def test_the_mlp_rubric_loads_and_names_the_labs_hidden_checks():
    rubric = load_rubric("mlp")
    assert rubric.path == rubric_path("mlp")
    assert set(rubric.checks.names) == {"mlp_architecture", "mlp_heldout", "closed_form", "softmax_heldout"}
    assert rubric.checks.provider("mlp_test_acc") == "mlp_heldout"
    for profile in ("smoke", "quick", "full"):
        rubric.profile(profile)  # every threshold and limit has a value for each profile
        assert rubric.resolve_limits(profile).timeout > 0


@pytest.mark.parametrize("old, new, message", [
    ("lab: toy", "lab: toy\ncolour: red", "unknown key(s) colour"),
    ("    check: mse_matches", "    check: no_such_check", "no hidden check named 'no_such_check'"),
    ("    check: mse_matches", "    check: mse_matches\n    min: 1", "min/max apply only to a value item"),
    ("    figures: 1", "    figures: 0", "figures must be a whole number"),
    ("    figures: 1", "    figures: 1\n    sections: [a]", "exactly one of"),
    ("  - id: mse\n", "  - id: slope\n", "id used twice"),
    ("  - id: mse\n", "  - id: total\n", "not student/status/total"),
    ("    points: 3", "    points: -3", "more than 0"),
    ("    points: 3", "    points: many", "must be a number"),
    ("{smoke: 0.05, quick: 0.02, full: 0.01}", "{smoke: 0.05, huge: 0.02}", "profile 'huge'"),
    ("parameters: {profile: smoke}", "parameters: {profile: smoke, epochs: 3}", "unknown parameter 'epochs'"),
    ("parameters: {profile: smoke}", "parameters: {profile: tiny}", "profile"),
    ("limits: {timeout: 30,", "limits: {walltime: 30, timeout: 30,", "unknown limit(s) walltime"),
    ("notebook: toy.ipynb", "notebook: missing.ipynb", "does not exist"),
    ("items:", "items: []\nold_items:", "unknown key(s) old_items"),
])
def test_a_bad_rubric_is_rejected_with_a_message_that_names_the_fix(lab, old, new, message):
    path = edit(lab, old, new)
    with pytest.raises(RubricError) as caught:
        load_rubric(str(path))
    assert message in str(caught.value)
    assert str(path) in str(caught.value) or "missing.ipynb" in str(caught.value)


def test_a_threshold_missing_for_the_chosen_profile_is_an_error(lab):
    rubric = load_rubric(str(edit(lab, "{smoke: 0.05, quick: 0.02, full: 0.01}", "{smoke: 0.05}")))
    with pytest.raises(RubricError, match="no threshold for profile 'quick'"):
        rubric.profile("quick")
    with pytest.raises(RubricError, match="not one of"):
        rubric.profile("enormous")


def test_unknown_lab_and_invalid_yaml():
    with pytest.raises(RubricError, match="no rubric for lab 'nosuchlab'"):
        load_rubric("nosuchlab")


@pytest.mark.parametrize("text, where", [("lab: [unclosed\n", "line 2"),
                                         ("lab: toy\nitems:\n  - {id: a, points: 1\n  - id: b\n", "line 4, column 7"),
                                         ("lab: toy\nitems:\n\t- id: a\n", "line 3, column 1")])
def test_invalid_yaml_is_one_line_naming_the_file_and_line(lab, text, where):
    (lab / "toy.yaml").write_text(text)
    with pytest.raises(RubricError, match="not valid YAML") as raised:
        load_rubric(str(lab / "toy.yaml"))
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{lab / 'toy.yaml'}, {where}"), message


def test_hidden_check_names_must_be_literals(lab):
    nb = nbformat.read(lab / "toy.ipynb", as_version=4)
    hidden = next(c for c in nb.cells if "hidden-check" in c.metadata.get("tags", []))
    hidden.source = hidden.source.replace('@check("mse_matches")', "@check(NAME)")
    nbformat.write(nb, lab / "toy.ipynb")
    with pytest.raises(RubricError, match="literal name"):
        hidden_checks(lab / "toy.ipynb")
    hidden.source = hidden.source.replace("@check(NAME)", '@check("slope_heldout")')
    nbformat.write(nb, lab / "toy.ipynb")
    with pytest.raises(RubricError, match="defined twice"):
        hidden_checks(lab / "toy.ipynb")
