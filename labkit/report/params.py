"""A notebook's parameters: read from its ``parameters`` cell, checked, coerced.

The ``parameters`` cell (tagged ``parameters``, as papermill requires) holds
one literal assignment per line, optionally annotated, optionally followed by
a comment that documents it::

    profile: Literal["smoke", "quick", "full"] = "quick"  # how much to run
    epochs: Optional[int] = None  # None: the profile's value
    lr = 0.005

The annotation gives the type (and with ``Literal`` the valid choices); with
no annotation the default's type is used. Everything is checked before any
cell runs, so a typo fails fast with a message that lists what is valid.
"""
from __future__ import annotations

import ast
import difflib
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat


class ParameterError(ValueError):
    """A parameter name, value or type that the notebook does not accept."""


@dataclass(frozen=True)
class Parameter:
    """One entry of a notebook's ``parameters`` cell."""

    name: str
    default: Any
    type: str  # "int", "float", "str", "bool", "list", "dict", "any"
    optional: bool = False  # None is allowed
    choices: tuple = ()
    item_type: str = "any"  # for lists
    help: str = ""
    annotation: str = ""

    def describe(self) -> str:
        kind = self.annotation or self.type
        return f"{self.name}: {kind} = {self.default!r}"


@dataclass
class ParameterSpec:
    """All parameters of one notebook, in cell order."""

    notebook: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.parameters.items()}

    def validate(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce ``overrides`` (values may be strings from a command line).

        Returns the coerced overrides; raises :class:`ParameterError` naming
        the first bad one and the valid choices.
        """
        coerced = {}
        for name, raw in overrides.items():
            if name not in self.parameters:
                valid = ", ".join(self.parameters) or "(none: the notebook has no parameters cell)"
                close = difflib.get_close_matches(name, list(self.parameters), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ParameterError(
                    f"unknown parameter {name!r} for {self.notebook.name}.{hint} "
                    f"Valid parameters: {valid}"
                )
            coerced[name] = coerce(self.parameters[name], raw)
        return coerced


_TYPE_NAMES = {"int": "int", "float": "float", "str": "str", "bool": "bool",
               "list": "list", "List": "list", "dict": "dict", "Dict": "dict",
               "tuple": "list", "Any": "any"}


def _literal_type(value: Any) -> str:
    if value is None:
        return "any"
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    if isinstance(value, tuple):
        return "list"
    return "any"


def _parse_annotation(node: ast.expr | None, default: Any) -> tuple[str, bool, tuple, str]:
    """(type, optional, choices, item_type) from an annotation node."""
    if node is None:
        return _literal_type(default), default is None, (), "any"
    if isinstance(node, ast.Constant) and node.value is None:
        return "any", True, (), "any"
    if isinstance(node, ast.Name):
        return _TYPE_NAMES.get(node.id, "any"), False, (), "any"
    if isinstance(node, ast.Attribute):  # typing.Literal etc.
        return _TYPE_NAMES.get(node.attr, "any"), False, (), "any"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        left = _parse_annotation(node.left, default)
        right = _parse_annotation(node.right, default)
        if isinstance(node.right, ast.Constant) and node.right.value is None:
            return left[0], True, left[2], left[3]
        if isinstance(node.left, ast.Constant) and node.left.value is None:
            return right[0], True, right[2], right[3]
        return "any", left[1] or right[1], (), "any"
    if isinstance(node, ast.Subscript):
        head = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        inner = node.slice
        if head == "Optional":
            kind, _, choices, item = _parse_annotation(inner, default)
            return kind, True, choices, item
        if head == "Literal":
            elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            choices = tuple(ast.literal_eval(e) for e in elts)
            kinds = {_literal_type(c) for c in choices}
            return (kinds.pop() if len(kinds) == 1 else "any"), False, choices, "any"
        if head in ("list", "List", "tuple", "Tuple", "Sequence"):
            item = inner.elts[0] if isinstance(inner, ast.Tuple) else inner
            return "list", False, (), _parse_annotation(item, None)[0]
        if head in ("dict", "Dict"):
            return "dict", False, (), "any"
    return "any", False, (), "any"


def _comments(source: str) -> dict[int, str]:
    found = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return found


def parse_parameters_source(source: str, notebook: Path | str = "<cell>") -> ParameterSpec:
    """Parse the source of a ``parameters`` cell into a :class:`ParameterSpec`."""
    notebook = Path(notebook)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"the parameters cell of {notebook.name} is not valid Python: {exc}") from exc
    comments = _comments(source)
    spec = ParameterSpec(notebook)
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value_node, annotation = node.target.id, node.value, node.annotation
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value_node, annotation = node.targets[0].id, node.value, None
        else:
            continue  # imports and other statements are not parameters
        try:
            default = ast.literal_eval(value_node)
        except ValueError as exc:
            raise ParameterError(
                f"parameter {name!r} in {notebook.name} must have a literal default "
                f"(a number, string, bool, None, list or dict), not {ast.unparse(value_node)!r}"
            ) from exc
        kind, optional, choices, item = _parse_annotation(annotation, default)
        spec.parameters[name] = Parameter(
            name=name, default=default, type=kind, optional=optional or default is None,
            choices=choices, item_type=item, help=comments.get(node.lineno, ""),
            annotation=ast.unparse(annotation) if annotation is not None else "",
        )
    return spec


def parameters_cell(nb: Any) -> str | None:
    """The source of the cell tagged ``parameters``, or None."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell.source
    return None


def read_parameters(notebook: Path | str) -> ParameterSpec:
    """The parameters declared by a notebook file (empty if it has none)."""
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    source = parameters_cell(nb)
    return parse_parameters_source(source, notebook) if source is not None else ParameterSpec(notebook)


_BOOLS = {"true": True, "yes": True, "1": True, "on": True,
          "false": False, "no": False, "0": False, "off": False}


def _from_text(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _coerce_scalar(kind: str, value: Any, where: str) -> Any:
    if kind == "any":
        return value
    if kind == "str":
        return value if isinstance(value, str) else str(value)
    if isinstance(value, str):
        if kind == "bool" and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        value = _from_text(value.strip())
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "list" and isinstance(value, (list, tuple)):
        return list(value)
    if kind == "dict" and isinstance(value, dict):
        return value
    raise ParameterError(f"{where} must be of type {kind}, got {value!r}")


def coerce(param: Parameter, value: Any) -> Any:
    """Convert ``value`` (often a command-line string) to ``param``'s type, or raise."""
    where = f"parameter {param.name!r} ({param.describe()})"
    if value is None or (isinstance(value, str) and value.strip() in ("None", "none", "null")):
        if param.optional:
            return None
        raise ParameterError(f"{where} cannot be None")
    if param.type == "list" and isinstance(value, str):
        parsed = _from_text(value.strip())
        if not isinstance(parsed, (list, tuple)):  # comma-separated form: a,b,c
            parsed = [_from_text(v.strip()) if param.item_type != "str" else v.strip()
                      for v in value.split(",") if v.strip()]
        value = parsed
    result = _coerce_scalar(param.type, value, where)
    if param.type == "list" and param.item_type != "any":
        result = [_coerce_scalar(param.item_type, v, f"each item of {where}") for v in result]
    if param.choices and result not in param.choices:
        valid = ", ".join(repr(c) for c in param.choices)
        raise ParameterError(f"{where}: {result!r} is not a valid choice. Valid choices: {valid}")
    return result
