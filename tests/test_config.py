"""labkit.start and the read-only, typed Config it returns."""
from __future__ import annotations

import dataclasses
from typing import Annotated, Literal, Optional

import nbformat
import pytest
import torch
from annotated_types import Ge, MinLen
from nbformat.v4 import new_code_cell, new_notebook

import labkit
from labkit.config import Config, ConfigError, as_dict

PROFILES = {
    "smoke": dict(epochs=1, train_size=100, grid=[1, 2]),
    "full": dict(epochs=20, train_size="all", grid=[10, 20, 40]),
}


def notebook_globals(**values) -> dict:
    """What a parameters cell leaves in a kernel's namespace: values and their annotations."""
    ns = {
        "profile": "smoke", "seed": 3, "lang": "en", "device": "cpu",
        "epochs": None, "train_size": None, "grid": None, "lr": 0.01, "items": 2, "copy": "x",
        "__annotations__": {
            "profile": Literal["smoke", "full"], "seed": int, "lang": Literal["en", "zh"], "device": str,
            "epochs": Optional[Annotated[int, Ge(1)]], "train_size": Optional[int | Literal["all"]],
            "grid": Optional[Annotated[list[int], MinLen(1)]], "lr": float, "items": int, "copy": str,
        },
    }
    ns.update(values)
    return ns


def test_start_reads_the_parameters_cell_and_fills_none_from_the_profile(capsys):
    cfg = labkit.start("demo", PROFILES, namespace=notebook_globals())
    assert (cfg.epochs, cfg.train_size, cfg.grid, cfg.lr) == (1, 100, [1, 2], 0.01)
    assert (cfg.lab, cfg.profile, cfg.seed, cfg.lang, cfg.device) == ("demo", "smoke", 3, "en", torch.device("cpu"))
    assert "demo" in capsys.readouterr().out  # the banner
    full = labkit.start("demo", PROFILES, namespace=notebook_globals(profile="full", epochs=5))
    assert (full.epochs, full.train_size, full.grid) == (5, "all", [10, 20, 40])


def test_start_reads_the_callers_globals_by_default():
    ns = notebook_globals()
    exec("cfg = labkit.start('demo', PROFILES)", {**ns, "labkit": labkit, "PROFILES": PROFILES}, ns)
    assert ns["cfg"].epochs == 1 and ns["cfg"].seed == 3


def test_config_is_read_only_typed_and_not_shadowed_by_parameter_names():
    cfg = labkit.start("demo", PROFILES, namespace=notebook_globals())
    assert cfg.items == 2 and cfg.copy == "x"  # parameters, not dict methods
    assert isinstance(cfg, Config) and type(cfg).__name__ == "DemoConfig"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3
    fields = {f.name: f.type for f in dataclasses.fields(cfg)}
    assert fields["lr"] is float and fields["items"] is int
    assert cfg["lr"] == 0.01 and "lr" in cfg and "nope" not in cfg
    assert list(cfg)[:5] == ["lab", "profile", "seed", "lang", "device"]
    assert as_dict(cfg)["copy"] == "x" and dataclasses.replace(cfg, lr=1.0).lr == 1.0
    with pytest.raises(AttributeError):
        cfg.nope
    with pytest.raises(KeyError, match="no setting 'nope'"):
        cfg["nope"]
    import copy
    import pickle
    for again in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg)):
        assert as_dict(again) == as_dict(cfg) and type(again).__name__ == "DemoConfig"


@pytest.mark.parametrize("profiles, values, fragment", [
    ({"smoke": {"epoch": 1}}, {}, "PROFILES['smoke'] sets 'epoch', which the parameters cell does not declare"),
    ({"smoke": {"epochs": 0}}, {}, "must be >= 1, got 0 (from PROFILES['smoke'])"),
    ({"smoke": {"grid": []}}, {}, "'grid'"),
    ({"smoke": {"train_size": "most"}}, {}, "must be of type int"),
    ({"full": {}}, {}, "profile 'smoke' is not defined; choose one of: full"),
    (PROFILES, {"lr": float("inf")}, "must be a finite number"),
    (PROFILES, {"profile": "medium"}, "Valid choices: 'smoke', 'full'"),
])
def test_start_refuses_profiles_and_values_the_parameters_cell_does_not_allow(profiles, values, fragment, capsys):
    with pytest.raises(ConfigError) as err:
        labkit.start("demo", profiles, namespace=notebook_globals(**values))
    assert fragment in str(err.value)
    assert capsys.readouterr().out == ""  # refused before the banner: nothing ran


def test_an_optional_parameter_no_profile_sets_stays_none():
    ns = notebook_globals(note=None)
    ns["__annotations__"]["note"] = Optional[str]
    assert labkit.start("demo", PROFILES, namespace=ns).note is None


def test_the_keyword_form_still_works_and_agrees_with_the_short_form():
    ns = notebook_globals()
    old = labkit.start("demo", profile="smoke", profiles=PROFILES, seed=3, lang="en", device="cpu",
                       epochs=None, train_size=None, grid=None, lr=0.01, items=2, copy="x", namespace=ns)
    assert as_dict(old) == as_dict(labkit.start("demo", PROFILES, namespace=ns))
    # with no parameters cell at all (a plain script), keywords are all there is
    bare = labkit.start("demo", profile="smoke", profiles={"smoke": {"epochs": 2}}, epochs=None, extra=1,
                        namespace={})
    assert (bare.epochs, bare.extra) == (2, 1)
    with pytest.raises(ValueError, match="'epochs' is None and profile 'smoke' gives it no value"):
        labkit.start("demo", profile="smoke", profiles={"smoke": {}}, epochs=None, namespace={})


@pytest.mark.pipeline
def test_start_sees_the_parameters_cell_in_a_real_kernel(tmp_path):
    """IPython keeps a cell's top-level annotations in the user namespace; start reads them there."""
    from nbclient import NotebookClient

    params = new_code_cell('from typing import Literal, Optional\nprofile: Literal["smoke", "full"] = "smoke"\n'
                           'epochs: Optional[int] = None\nlr: float = 0.5')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(
        'import labkit\ncfg = labkit.start("demo", {"smoke": dict(epochs=2), "full": dict(epochs=9)})\n'
        'print("RESULT", cfg.epochs, cfg.lr, type(cfg).__name__)')])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "RESULT 2 0.5 DemoConfig" in text
    nbformat.write(nb, tmp_path / "ran.ipynb")


@pytest.mark.parametrize("lab", ["mlp", "resnet", "seq2seq", "vae", "dcgan"])
def test_every_labs_profiles_set_only_declared_parameters_to_valid_values(lab):
    """What labkit.start checks in the kernel, checked statically on the notebook: a typo in PROFILES fails here."""
    import ast
    from pathlib import Path

    from labkit.report.params import coerce, parameters_cell, read_parameters

    path = Path(__file__).resolve().parent.parent / "notebooks" / f"{lab}.ipynb"
    spec = read_parameters(path)
    nb = nbformat.read(path, as_version=4)
    assert parameters_cell(nb) is not None
    profiles = None
    for cell in nb.cells:
        if cell.cell_type == "code" and "PROFILES" in cell.source:
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PROFILES":
                    # PROFILES is built from dict(...) calls and literals: evaluate it with nothing else in scope
                    profiles = eval(compile(ast.Expression(node.value), "PROFILES", "eval"),
                                    {"__builtins__": {}, "dict": dict})
    assert profiles and set(profiles) == set(spec.parameters["profile"].choices)
    for name, values in profiles.items():
        for key, value in values.items():
            assert key in spec.parameters, f"PROFILES[{name!r}] sets {key!r}, not a declared parameter of {lab}"
            coerce(spec.parameters[key], value)
