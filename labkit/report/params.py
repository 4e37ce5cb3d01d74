"""A notebook's parameters: read from its ``parameters`` cell, checked, coerced.

The ``parameters`` cell (tagged ``parameters``, as papermill requires) holds
one assignment per line, annotated, optionally followed by a comment that
documents it::

    from typing import Annotated, Literal, Optional
    from annotated_types import Ge, MinLen

    profile: Literal["smoke", "quick", "full"] = "quick"  # how much to run
    epochs: Optional[Annotated[int, Ge(1)]] = None  # None: the profile's value
    train_size: Optional[int | Literal["all"]] = None  # "all": every image
    experiments: Annotated[list[Literal["ae", "vae", "gan"]], MinLen(1)] = ["ae"]
    lr = 0.005

The annotation gives the type:

* ``int``, ``float``, ``str``, ``bool``, ``list[T]``, ``dict``; with no
  annotation the default's type is used;
* ``Literal[...]`` the valid choices (``list[Literal[...]]``: each item is
  one of them); ``T | Literal[...]`` (e.g. ``int | Literal["all"]``) a
  value of type ``T`` or one of the named words;
* ``Optional[...]`` (or ``... | None``) that None is allowed;
* bounds are declared with ``typing.Annotated`` and the constraints of the
  `annotated-types <https://github.com/annotated-types/annotated-types>`_
  package: ``Gt``, ``Ge``, ``Lt``, ``Le`` for numbers (each item of a list of
  numbers when put on the item type), ``MinLen``/``MaxLen`` for lists
  (``MinLen(1)``: the grid may not be empty).

A float is always finite (``-p lr 1e400`` is refused), and an int fits 64 bits
(:data:`INT_RANGE`: what a ``torch.int64`` tensor holds). Two parameter names
carry a meaning of their own, whatever the notebook's annotation: a ``seed``
(or ``*_seed``, or each item of ``seeds``) is an integer that
:func:`labkit.device.seed_everything` takes (:data:`labkit.device.SEED_RANGE`), and a string
``device`` (or ``*_device``) is one of the spellings :func:`labkit.device.pick_device` knows
(``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``). Everything is checked
before any cell runs, so a typo fails fast with a message that lists what is
valid. On the command line ``-p NAME none`` means None for an ``Optional``
parameter, and the string ``"none"`` for a ``str`` or ``Literal`` parameter
that does not allow None; a quoted value (``-p NAME '"none"'``) is always the
string itself.

A parameter whose default is not a literal (``b = a * 2``) is *computed*: the
notebook runs it as written, and only overriding it is refused (as in
papermill, which injects overrides after the cell).
"""
from __future__ import annotations

import ast
import difflib
import io
import math
import tokenize
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any



class ParameterError(ValueError):
    """A parameter name, value or type that the notebook does not accept."""


#: Every int parameter (and int item of a list) fits a 64-bit signed integer, as torch's int64 does.
INT_RANGE = (-2**63, 2**63 - 1)

_BOUNDS = {"Gt": (">", lambda v, b: v > b), "Ge": (">=", lambda v, b: v >= b),
           "Lt": ("<", lambda v, b: v < b), "Le": ("<=", lambda v, b: v <= b)}
_LENGTHS = {"MinLen": (">=", lambda n, b: n >= b), "MaxLen": ("<=", lambda n, b: n <= b)}


@dataclass(frozen=True)
class Kind:
    """The type of a parameter (or of a list's items), parsed from its annotation.

    ``type`` is one of "int", "float", "str", "bool", "list", "dict", "any";
    ``choices`` restrict the value (``Literal``); ``words`` are literal values
    accepted besides a value of ``type`` (``int | Literal["all"]``);
    ``bounds`` are ``(constraint, limit)`` pairs such as ``("Ge", 1)``
    (``MinLen``/``MaxLen`` bound a list's length); ``item`` is a list's item kind;
    ``check`` is ``"seed"`` or ``"device"`` for the parameters whose name implies one (see the module's text).
    """

    type: str = "any"
    optional: bool = False
    choices: tuple = ()
    words: tuple = ()
    bounds: tuple = ()
    item: "Kind | None" = None
    check: str = ""


@dataclass(frozen=True)
class Parameter:
    """One entry of a notebook's ``parameters`` cell.

    ``computed`` parameters have a non-literal default (``source`` holds its
    expression); they cannot be overridden.
    """

    name: str
    default: Any
    kind: Kind = Kind()
    help: str = ""
    annotation: str = ""
    computed: bool = False
    source: str = ""

    @property
    def type(self) -> str:
        return self.kind.type

    @property
    def optional(self) -> bool:
        return self.kind.optional

    @property
    def choices(self) -> tuple:
        return self.kind.choices

    @property
    def item_type(self) -> str:
        return self.kind.item.type if self.kind.item is not None else "any"

    def describe(self) -> str:
        kind = self.annotation or self.type
        return f"{self.name}: {kind} = {self.source if self.computed else repr(self.default)}"


@dataclass
class ParameterSpec:
    """All parameters of one notebook, in cell order."""

    notebook: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """The literal defaults (computed parameters have none until the notebook runs)."""
        return {name: p.default for name, p in self.parameters.items() if not p.computed}

    def validate(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce ``overrides`` (values may be strings from a command line).

        Returns the coerced overrides; raises :class:`ParameterError` naming
        the first bad one and what is valid.
        """
        coerced = {}
        for name, raw in overrides.items():
            param = self.lookup(name)
            if param.computed:
                raise ParameterError(
                    f"parameter {name!r} of {self.notebook.name} is computed ({name} = {param.source}), "
                    f"so it cannot be set with -p; set the parameters it is computed from, or make its "
                    f"default a literal")
            coerced[name] = coerce(param, raw)
        return coerced

    def lookup(self, name: str) -> Parameter:
        """The parameter called ``name``; :class:`ParameterError` (with a suggestion) if none is."""
        if name in self.parameters:
            return self.parameters[name]
        valid = ", ".join(self.parameters) or "(none: the notebook has no parameters cell)"
        close = difflib.get_close_matches(name, list(self.parameters), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ParameterError(f"unknown parameter {name!r} for {self.notebook.name}.{hint} "
                             f"Valid parameters: {valid}")


_TYPE_NAMES = {"int": "int", "float": "float", "str": "str", "bool": "bool",
               "list": "list", "List": "list", "dict": "dict", "Dict": "dict",
               "tuple": "list", "Tuple": "list", "Sequence": "list", "Any": "any"}


def _literal_type(value: Any) -> str:
    if value is None:
        return "any"
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    if isinstance(value, tuple):
        return "list"
    return "any"


def _head(node: ast.expr) -> str:
    """``Optional`` for ``Optional``, ``typing.Optional`` and ``t.Optional``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return getattr(node, "id", "")


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union_members(node.left) + _union_members(node.right)
    if isinstance(node, ast.Subscript) and _head(node.value) in ("Union", "Optional"):
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        members = [m for part in inner for m in _union_members(part)]
        return members + ([ast.Constant(None)] if _head(node.value) == "Optional" else [])
    return [node]


def _constraint(node: ast.expr) -> tuple[str, Any] | None:
    """``("Ge", 1)`` from ``Ge(1)``, ``Ge(ge=1)`` or ``annotated_types.Ge(1)``; None if not a bound."""
    if not isinstance(node, ast.Call) or _head(node.func) not in {**_BOUNDS, **_LENGTHS}:
        return None
    args = list(node.args) + [k.value for k in node.keywords]
    if len(args) != 1:
        raise ParameterError(f"bound {ast.unparse(node)} must have one value")
    try:
        return _head(node.func), ast.literal_eval(args[0])
    except ValueError as exc:
        raise ParameterError(f"bound {ast.unparse(node)} must be a literal number") from exc


def parse_annotation(node: ast.expr | None, default: Any = None) -> Kind:
    """The :class:`Kind` an annotation (an AST node; None: none) declares."""
    if node is None:
        return Kind(_literal_type(default), optional=default is None)
    members = _union_members(node)
    if len(members) > 1:
        parts = [parse_annotation(m) for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
        optional = len(parts) < len(members) or any(p.optional for p in parts)
        literal = tuple(c for p in parts if p.choices and p.type != "list" for c in p.choices)
        typed = [p for p in parts if not (p.choices and p.type != "list")]
        if not typed:  # Literal["a"] | Literal["b"]
            return Kind(_single_type(literal), optional=optional, choices=literal)
        if len(typed) == 1:  # int | Literal["all"]
            return replace(typed[0], optional=optional, words=typed[0].words + literal)
        return Kind("any", optional=optional)
    if isinstance(node, ast.Constant) and node.value is None:
        return Kind("any", optional=True)
    if isinstance(node, (ast.Name, ast.Attribute)):
        return Kind(_TYPE_NAMES.get(_head(node), "any"))
    if isinstance(node, ast.Subscript):
        head, inner = _head(node.value), node.slice
        elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if head == "Annotated":
            base = parse_annotation(elts[0], default)
            bounds = tuple(b for b in (_constraint(e) for e in elts[1:]) if b is not None)
            return replace(base, bounds=base.bounds + bounds)
        if head == "Literal":
            try:
                choices = tuple(ast.literal_eval(e) for e in elts)
            except ValueError as exc:
                raise ParameterError(f"Literal choices must be literals: {ast.unparse(node)}") from exc
            return Kind(_single_type(choices), choices=choices)
        if head in ("list", "List", "tuple", "Tuple", "Sequence"):
            return Kind("list", item=parse_annotation(elts[0]))
        if head in ("dict", "Dict"):
            return Kind("dict")
    return Kind("any")


def _single_type(choices: tuple) -> str:
    kinds = {_literal_type(c) for c in choices}
    return kinds.pop() if len(kinds) == 1 else "any"


def annotation_source(annotation: Any) -> str:
    """Python source for a runtime annotation (``typing.Optional[int]`` -> ``"Optional[int]"``).

    Strings (``from __future__ import annotations``) are returned as they are.
    """
    if isinstance(annotation, str):
        return annotation
    if annotation is None or annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is typing.Annotated:
        base = annotation_source(args[0])
        return f"Annotated[{', '.join([base, *(repr(m) for m in annotation.__metadata__)])}]"
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(annotation_source(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(annotation_source(a) for a in args)}]" if args else name
    return getattr(annotation, "__name__", repr(annotation).replace("typing.", ""))


def _comments(source: str) -> dict[int, str]:
    found = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return found


def make_parameter(name: str, annotation: str | None, default: Any, *, help: str = "",
                   where: str = "<cell>") -> Parameter:
    """A :class:`Parameter` from an annotation's source text (None: no annotation) and a default."""
    node = None
    if annotation:
        try:
            node = ast.parse(annotation, mode="eval").body
        except SyntaxError as exc:
            raise ParameterError(f"the annotation of parameter {name!r} in {where} is not valid: {annotation}") from exc
    kind = _meaning(name, parse_annotation(node, default))
    if default is None:
        kind = replace(kind, optional=True)
    return Parameter(name=name, default=default, kind=kind, help=help, annotation=annotation or "")


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
        help_text = comments.get(node.lineno, "")
        ann = ast.unparse(annotation) if annotation is not None else None
        try:
            default = ast.literal_eval(value_node)
        except ValueError:
            param = make_parameter(name, ann, None, help=help_text, where=notebook.name)
            spec.parameters[name] = replace(param, computed=True, source=ast.unparse(value_node))
            continue
        spec.parameters[name] = make_parameter(name, ann, default, help=help_text, where=notebook.name)
    return spec


def parameters_cell(nb: Any) -> str | None:
    """The source of the cell tagged ``parameters``, or None."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell.source
    return None


def read_parameters(notebook: Path | str) -> ParameterSpec:
    """The parameters declared by a notebook file (empty if it has none)."""
    import nbformat  # here, not at the top: a kernel's labkit.start imports this module, and nbformat's
    # schema validator pulls in jsonschema's format checkers (rfc3987_syntax builds a grammar: 1.2 s per kernel)

    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    source = parameters_cell(nb)
    return parse_parameters_source(source, notebook) if source is not None else ParameterSpec(notebook)


_BOOLS = {"true": True, "yes": True, "1": True, "on": True,
          "false": False, "no": False, "0": False, "off": False}
_NONE_WORDS = ("None", "none", "null")


def _from_text(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _quoted(text: str) -> str | None:
    """The string inside ``"..."`` or ``'...'``, else None."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        value = _from_text(text)
        return value if isinstance(value, str) else None
    return None


def _coerce_scalar(kind: str, value: Any, where: str) -> Any:
    if kind == "any":
        return value
    if kind == "str":
        if isinstance(value, str):
            quoted = _quoted(value)
            return quoted if quoted is not None else value
        return str(value)
    if isinstance(value, str):
        if kind == "bool" and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        text, value = value.strip(), _from_text(value.strip())
        if kind == "float" and isinstance(value, str):
            try:  # "inf", "nan", "1_000.5": numbers literal_eval does not read
                value = float(text)
            except ValueError:
                pass
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ParameterError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if kind == "list" and isinstance(value, (list, tuple)):
        return list(value)
    if kind == "dict" and isinstance(value, dict):
        return value
    raise ParameterError(f"{where} must be of type {kind}, got {value!r}")


def _check_bounds(kind: Kind, value: Any, where: str) -> None:
    for name, limit in kind.bounds:
        if name in _LENGTHS and isinstance(value, (list, tuple, dict, str)):
            sign, ok = _LENGTHS[name]
            if not ok(len(value), limit):
                what = "must not be empty" if (name, limit) == ("MinLen", 1) else f"must have {sign} {limit} items"
                raise ParameterError(f"{where} {what}, got {value!r}")
        elif name in _BOUNDS and isinstance(value, (int, float)) and not isinstance(value, bool):
            sign, ok = _BOUNDS[name]
            if not ok(value, limit):
                raise ParameterError(f"{where} must be {sign} {limit}, got {value!r}")


def _coerce_kind(kind: Kind, value: Any, where: str, short: str) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if value is None or (text in _NONE_WORDS and kind.optional):
        if kind.optional:
            return None
        raise ParameterError(f"{where} cannot be None")
    if text is not None and kind.type != "str":
        quoted = _quoted(text)
        if quoted is not None and (quoted in kind.words or quoted in kind.choices):
            return quoted  # -p NAME '"none"': the string itself
    if kind.words and value in kind.words or text in kind.words:
        return text if text is not None else value
    if text in _NONE_WORDS and not (kind.type == "str" or text in kind.choices):
        raise ParameterError(f"{where} cannot be None")
    if kind.type == "list" and text is not None:
        parsed = _from_text(text)
        if not isinstance(parsed, (list, tuple)):  # comma-separated form: a,b,c
            item_type = kind.item.type if kind.item is not None else "any"
            parsed = [_from_text(v.strip()) if item_type != "str" else v.strip()
                      for v in text.split(",") if v.strip()]
        value = parsed
    result = _coerce_scalar(kind.type, value, where)
    if kind.type == "list" and kind.item is not None:
        result = [_coerce_kind(kind.item, v, f"each item of {where}", f"{short} (a list)") for v in result]
    if kind.choices and result not in kind.choices:
        valid = ", ".join(repr(c) for c in kind.choices)
        raise ParameterError(f"{short}: {result!r} is not a valid choice. Valid choices: {valid}")
    _check_bounds(kind, result, where)
    _check_meaning(kind, result, where)
    if kind.type == "int":
        _check_int_range(result, where)
    return result


def coerce(param: Parameter, value: Any) -> Any:
    """Convert ``value`` (often a command-line string) to ``param``'s type, or raise.

    Checks the choices, the declared bounds and that floats are finite;
    raises :class:`ParameterError` naming the parameter and what is valid.
    """
    return _coerce_kind(param.kind, value, f"parameter {param.name!r} ({param.describe()})", f"parameter {param.name!r}")


def _meaning(name: str, kind: Kind) -> Kind:
    """``kind`` with the check its parameter's name implies: a seed (or seeds), a device."""
    if name == "seeds" and kind.type == "list" and kind.item is not None:
        return replace(kind, item=replace(kind.item, check="seed"))
    if name == "seed" or name.endswith("_seed"):
        return replace(kind, check="seed")
    if name == "device" or name.endswith("_device"):
        return replace(kind, check="device")
    return kind


def _check_meaning(kind: Kind, value: Any, where: str) -> None:
    """The seed and device checks (:func:`_meaning`) on a coerced ``value``."""
    if not kind.check or value is None:
        return
    from labkit.device import SEED_RANGE, device_spelling_error  # imports no torch

    if kind.check == "seed" and isinstance(value, int) and not isinstance(value, bool) \
            and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise ParameterError(f"{where}: the seed must be from {SEED_RANGE[0]} to {SEED_RANGE[1]} (a non-negative "
                             f"64-bit integer: torch.manual_seed takes it and the seeds the lab derives from it), "
                             f"got {value}")
    if kind.check == "device" and isinstance(value, str):
        problem = device_spelling_error(value)
        if problem is not None:
            raise ParameterError(f"{where}: {problem}")


def _check_int_range(value: Any, where: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ParameterError(f"{where} must be a 64-bit integer, from {INT_RANGE[0]} to {INT_RANGE[1]}, got {value}")
