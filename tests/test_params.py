import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit.report.params import ParameterError, parse_parameters_source, read_parameters

SOURCE = '''from typing import Literal, Optional
profile: Literal["smoke", "quick", "full"] = "quick"  # how much to run
epochs: Optional[int] = None  # None: the profile's value
lr = 0.005
flag: bool = False
names: list[str] = ["a", "b"]
sizes: list[int] = [1, 2]
opts: dict = {"a": 1}
'''


@pytest.fixture
def spec():
    return parse_parameters_source(SOURCE, "lab.ipynb")


def test_parses_types_choices_and_help(spec):
    p = spec.parameters
    assert list(p) == ["profile", "epochs", "lr", "flag", "names", "sizes", "opts"]
    assert p["profile"].choices == ("smoke", "quick", "full") and p["profile"].help == "how much to run"
    assert p["epochs"].type == "int" and p["epochs"].optional
    assert p["lr"].type == "float" and p["lr"].default == 0.005
    assert p["names"].item_type == "str" and p["sizes"].item_type == "int"
    assert spec.defaults()["opts"] == {"a": 1}


def test_coerces_command_line_strings(spec):
    got = spec.validate({"epochs": "5", "lr": "1e-3", "flag": "true", "names": "x,y",
                         "sizes": "[3, 4]", "profile": "smoke", "opts": "{'b': 2}"})
    assert got == {"epochs": 5, "lr": 0.001, "flag": True, "names": ["x", "y"], "sizes": [3, 4],
                   "profile": "smoke", "opts": {"b": 2}}
    assert spec.validate({"epochs": "None"}) == {"epochs": None}
    assert spec.validate({"lr": "3"}) == {"lr": 3.0}


@pytest.mark.parametrize("overrides, fragment", [
    ({"epoch": "3"}, "unknown parameter 'epoch'"),
    ({"epochs": "three"}, "must be of type int"),
    ({"epochs": "2.5"}, "must be of type int"),
    ({"lr": "fast"}, "must be of type float"),
    ({"flag": "maybe"}, "must be of type bool"),
    ({"profile": "medium"}, "Valid choices: 'smoke', 'quick', 'full'"),
    ({"lr": "None"}, "cannot be None"),
    ({"sizes": "1,x"}, "must be of type int"),
])
def test_rejects_bad_overrides_with_a_helpful_message(spec, overrides, fragment):
    with pytest.raises(ParameterError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        spec.validate(overrides)


def test_unknown_parameter_suggests_and_lists(spec):
    with pytest.raises(ParameterError) as err:
        spec.validate({"epoch": "1"})
    assert "Did you mean 'epochs'?" in str(err.value) and "profile, epochs, lr" in str(err.value)


def test_non_literal_default_is_rejected():
    with pytest.raises(ParameterError, match="literal default"):
        parse_parameters_source("x = len('abc')\n")


def test_read_parameters_from_a_notebook(tmp_path):
    nb = new_notebook(cells=[new_code_cell("a = 1"), new_code_cell("b: float = 2.0  # bee")])
    nb.cells[1].metadata["tags"] = ["parameters"]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    spec = read_parameters(path)
    assert list(spec.parameters) == ["b"] and spec.parameters["b"].help == "bee"
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, path)
    assert read_parameters(path).parameters == {}
