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


def test_computed_parameter_runs_as_written_and_only_overriding_is_refused():
    spec = parse_parameters_source("a = 2\nb = a * 2  # twice a\n", "lab.ipynb")
    assert spec.parameters["b"].computed and spec.parameters["b"].help == "twice a"
    assert spec.defaults() == {"a": 2}
    assert spec.validate({"a": "3"}) == {"a": 3}
    with pytest.raises(ParameterError, match=r"'b' of lab.ipynb is computed \(b = a \* 2\)"):
        spec.validate({"b": "1"})


CHOICES = '''from typing import Annotated, Literal, Optional
from annotated_types import Ge, Gt, MinLen
experiments: Annotated[list[Literal["ae", "vae", "gan"]], MinLen(1)] = ["ae"]
epochs: Optional[Annotated[int, Ge(1)]] = None
lr: Annotated[float, Gt(0)] = 0.1
grid: list[Annotated[int, Ge(1)]] = [1, 2]
train_size: Optional[int | Literal["all"]] = None
norm: Literal["batch", "layer", "none"] = "batch"
reduction: str = "mean"
scale: float = 1.0
'''


@pytest.fixture
def choices():
    return parse_parameters_source(CHOICES, "lab.ipynb")


def test_lists_of_choices_and_bounds_are_parsed(choices):
    kind = choices.parameters["experiments"].kind
    assert kind.type == "list" and kind.item.choices == ("ae", "vae", "gan") and kind.bounds == (("MinLen", 1),)
    assert choices.parameters["epochs"].optional and choices.parameters["epochs"].kind.bounds == (("Ge", 1),)
    assert choices.parameters["train_size"].kind.words == ("all",)
    assert choices.validate({"experiments": "vae,gan", "epochs": "3", "grid": "[4]", "train_size": "all"}) == {
        "experiments": ["vae", "gan"], "epochs": 3, "grid": [4], "train_size": "all"}
    assert choices.validate({"train_size": "500", "epochs": "none"}) == {"train_size": 500, "epochs": None}


@pytest.mark.parametrize("overrides, fragment", [
    ({"experiments": "bogus"}, "'bogus' is not a valid choice. Valid choices: 'ae', 'vae', 'gan'"),
    ({"experiments": "[]"}, "must not be empty"),
    ({"epochs": "0"}, "must be >= 1, got 0"),
    ({"lr": "0"}, "must be > 0"),
    ({"grid": "1,0"}, "each item of parameter 'grid'"),
    ({"lr": "1e400"}, "must be a finite number, got inf"),
    ({"scale": "-1e999"}, "must be a finite number"),
    ({"scale": "nan"}, "must be a finite number, got nan"),
    ({"lr": "-inf"}, "must be a finite number"),
    ({"train_size": "most"}, "must be of type int"),
])
def test_choices_bounds_and_non_finite_floats_are_refused(choices, overrides, fragment):
    with pytest.raises(ParameterError) as err:
        choices.validate(overrides)
    assert fragment in str(err.value)


def test_none_word_is_none_only_where_none_is_allowed(choices):
    # the case in shared/cases/param-none-string: a str or Literal parameter takes the string "none"
    assert choices.validate({"norm": "none", "reduction": "none"}) == {"norm": "none", "reduction": "none"}
    assert choices.validate({"reduction": '"None"', "norm": "'none'"}) == {"reduction": "None", "norm": "none"}
    assert choices.validate({"epochs": "none"}) == {"epochs": None}
    with pytest.raises(ParameterError, match="cannot be None"):
        choices.validate({"scale": "none"})


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


def test_labkit_report_refuses_bad_parameters_before_anything_runs(tmp_path):
    """`labkit report NB -p ...` exits 2 with one line naming the parameter; no kernel, nothing written.

    (One command-line run; the other refusals go through the same ParameterSpec.validate, tested above.)
    """
    import subprocess
    import sys

    cell = new_code_cell('from typing import Annotated, Literal\nfrom annotated_types import Ge, Gt, MinLen\n'
                         'experiments: list[Literal["ae", "vae", "gan"]] = ["ae"]\n'
                         'epochs: Annotated[int, Ge(1)] = 2\nlr: Annotated[float, Gt(0)] = 0.1\n'
                         'grid: Annotated[list[int], MinLen(1)] = [1]\ntwice = epochs * 2\n')
    cell.metadata["tags"] = ["parameters"]
    path = tmp_path / "lab.ipynb"
    nbformat.write(new_notebook(cells=[cell, new_code_cell("raise SystemExit('the notebook ran')")]), path)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "report", str(path), "--out", str(out), "-p", "epochs", "3",
                           "-p", "experiments", "bogus"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "parameter 'experiments'" in done.stderr and "Valid choices: 'ae', 'vae', 'gan'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not out.exists()


def test_ints_seeds_and_devices_are_checked_as_torch_takes_them():
    """Every int fits int64, a seed is what torch.manual_seed takes, a device is a known spelling."""
    spec = parse_parameters_source('seed: int = 0\ndata_seed: int = 1\nseeds: list[int] = [0]\n'
                                   'device: str = "auto"\nteacher_device = "cpu"\nwidth: int = 8\n'
                                   'sizes: list[int] = [1]\nname: str = "tpu"\n', "lab.ipynb")
    ok = {"seed": "9223372036854775807", "data_seed": "0", "seeds": "1,2", "device": "cuda:1",
          "teacher_device": "mps", "width": "-9223372036854775808", "name": "tpu"}
    assert spec.validate(ok)["device"] == "cuda:1" and spec.validate(ok)["seed"] == 2**63 - 1
    for device in ("auto", "cpu", "cuda", "cuda:0", "mps"):
        assert spec.validate({"device": device}) == {"device": device}
    refused = {
        ("seed", "99999999999999999999"): "the seed must be from 0 to 9223372036854775807 (a non-negative 64-bit integer",
        ("seed", "-1"): "the seed must be from 0",
        ("data_seed", "-5"): "the seed must be from 0",
        ("seeds", "[1, -2]"): "got -2",
        ("width", "9223372036854775808"): "must be a 64-bit integer, from -9223372036854775808 to 9223372036854775807",
        ("sizes", "[1, 1e30]"): "must be a 64-bit integer",
        ("device", "tpu"): "'tpu' is not a device; choose one of: auto, cpu, cuda, mps or cuda:N",
        ("device", "cuda:x"): "is not a device",
        ("device", "GPU"): "is not a device",
        ("teacher_device", "cuda:"): "is not a device",
    }
    for (name, value), fragment in refused.items():
        with pytest.raises(ParameterError) as caught:
            spec.validate({name: value})
        message = str(caught.value)
        assert fragment in message and f"parameter {name!r}" in message and "\n" not in message, message
