"""The lab notebooks' own definitions, for the benchmarks (so no bench keeps a drifting copy of a model).

    ns = definitions("dcgan")          # every top-level import, function and class of notebooks/dcgan.ipynb
    G = ns.Generator(...)

Runs only the ``import``, ``def`` and ``class`` statements of the notebook's code cells (not the hidden
checks), and the assignments that call nothing (tables such as ``ACTIVATIONS = {"relu": nn.ReLU}``):
nothing trains, loads data or draws. A definition that cannot be made outside the
notebook (e.g. a default argument that reads ``cfg``) is left out, and asking for it raises an
AttributeError naming the notebook.
"""
from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class Definitions(SimpleNamespace):
    def __getattr__(self, name: str):
        raise AttributeError(f"notebooks/{self.__dict__.get('_lab', '?')}.ipynb defines no usable {name!r} "
                             f"at top level (see bench/_notebook.py)")


def _calls(node: ast.AST) -> bool:
    """Whether evaluating ``node`` calls anything (a lambda's body is not evaluated)."""
    if isinstance(node, ast.Call):
        return True
    return any(_calls(child) for child in ast.iter_child_nodes(node) if not isinstance(child, ast.Lambda))


def definitions(lab: str, **given) -> Definitions:
    """The notebook's definitions; ``given`` are names the definitions read when made (e.g. ``cfg``)."""
    nb = nbformat.read(NOTEBOOKS / f"{lab}.ipynb", as_version=4)
    namespace: dict = {"__name__": f"labkit_bench_{lab}", **given}
    statements: list[ast.stmt] = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "hidden-check" in tags or "parameters" in tags:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        statements += [node for node in tree.body
                       if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))
                       or (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
                           and not _calls(node.value))]
    imports = [s for s in statements if isinstance(s, (ast.Import, ast.ImportFrom))]
    for node in imports + [s for s in statements if s not in imports]:
        try:
            exec(compile(ast.Module(body=[node], type_ignores=[]), f"notebooks/{lab}.ipynb", "exec"), namespace)
        except Exception:  # noqa: BLE001 - a definition that needs the notebook's run is left out
            continue
    # the functions' globals are ``namespace`` itself: it keeps ``__builtins__`` (a definition calling len() needs it)
    return Definitions(_lab=lab, **{k: v for k, v in namespace.items() if k != "__builtins__"})
