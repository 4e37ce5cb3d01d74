"""Flags: what in a student's exercise code looks like an attempt on the grader (an AST check).

The hidden checks run the student's exercise cells in their own interpreter
(:mod:`labkit.grade.verdict`); code there that replaces parts of imported
modules or of the built-ins, reaches into the interpreter (frames, the
garbage collector, ``ctypes``) or into file descriptors could try to change
a verdict. :func:`flag_code` finds such code without running it; the flags
are shown in the feedback page and the gradebook (they cost no points by
themselves: the instructor reads the code).

Flagged:

* an assignment or ``del`` whose target is an attribute (or item) of an
  imported module or of the built-ins (``torch.allclose = ...``,
  ``builtins.len = ...``, ``labkit.grade.hidden.evaluate = ...``,
  ``torch.Tensor.__eq__ = ...``, ``sys.modules["x"] = ...``), and
  ``setattr``/``delattr`` on one;
* ``import ctypes``/``gc``/``inspect``, ``sys._getframe``, frame and code attributes
  (``f_back``, ``f_locals``, ``__closure__``, ...), ``__builtins__``,
  ``os.write``/``os.dup2``/``os.fdopen``/``os.open``/``os.close``/``os.closerange`` (under any
  alias: ``import os as _o; _o.write``, ``from os import write``), ``__import__``, ``exec``/``eval``/
  ``compile``, ``getattr`` of one of the interpreter's frame or code attributes or of a name built by
  an expression (``getattr(x, "f_" + "back")``), reading ``sys.argv``, and ``/proc/`` in a string.

A forged hidden-check result needs the verdict process's results channel:
a descriptor found only by trying numbers or listing ``/proc/self/fd``, and
a key held in a closure (frames, ``gc``); each of those is flagged here, and
the runner rejects anything it did not sign (:mod:`labkit.grade.verdict`).
"""
from __future__ import annotations

import ast
from typing import Iterable

_MODULE_ROOTS = {"builtins", "__builtins__", "sys"}
_SUSPICIOUS_IMPORTS = {"ctypes", "gc", "inspect", "_ctypes"}
_SUSPICIOUS_CALLS = {("sys", "_getframe"), ("os", "write"), ("os", "dup2"), ("os", "fdopen"), ("os", "open"),
                     ("os", "close"), ("os", "closerange"), ("os", "dup"), ("os", "writev"), ("os", "pwrite"),
                     ("sys", "settrace"), ("sys", "setprofile"), ("threading", "settrace"),
                     ("sys", "_current_frames")}

_INTROSPECTION = {"f_back", "f_locals", "f_globals", "f_code", "tb_frame", "__closure__", "co_consts",
                  "cell_contents", "gi_frame", "__code__", "__globals__"}


def _aliases(trees: Iterable[ast.AST]) -> dict[str, str]:
    """``{local name: "module" or "module.attr"}`` for every import (``import os as _o``: ``{"_o": "os"}``)."""
    found: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        found[alias.asname] = alias.name
                    else:
                        found[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def _imported_names(trees: Iterable[ast.AST]) -> set[str]:
    names = set(_MODULE_ROOTS)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                # `from torch import nn` binds a module; `from math import sqrt` a function (harmless to flag
                # too: assigning to its attributes is just as suspicious)
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def _root(node: ast.AST) -> tuple[str | None, str]:
    """The name at the root of an attribute/item chain, and the chain as text."""
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        parts.append(f".{node.attr}" if isinstance(node, ast.Attribute) else "[...]")
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, node.id + "".join(reversed(parts))
    return None, ""


def flag_code(sources: list[tuple[str, str]], context: Iterable[str] = ()) -> list[str]:
    """Flags for the exercise code ``sources`` (``(label, code)`` pairs); ``context``: trusted cells' code.

    Names imported in ``context`` (the lab's setup cells) count as modules
    too. Code that does not parse is not flagged (the run reports it).
    """
    trees = []
    for source in context:
        try:
            trees.append(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    parsed = []
    for label, source in sources:
        try:
            parsed.append((label, ast.parse("\n".join(line for line in source.splitlines()
                                                      if not line.lstrip().startswith(("%", "!"))))))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    modules = _imported_names(trees + [tree for _, tree in parsed])
    aliases = _aliases(trees + [tree for _, tree in parsed])
    suspicious = {f"{m}.{a}" for m, a in _SUSPICIOUS_CALLS}
    found: list[str] = []

    def add(label: str, node: ast.AST, text: str) -> None:
        entry = f"{label}, line {getattr(node, 'lineno', '?')}: {text}"
        if entry not in found:
            found.append(entry)

    for label, tree in parsed:
        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = list(node.targets)
            for target in targets:
                for leaf in ast.walk(target) if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                    if isinstance(leaf, (ast.Attribute, ast.Subscript)):
                        root, chain = _root(leaf)
                        if root in modules:
                            add(label, node, f"assigns to {chain} (an imported module or the built-ins)")
            if isinstance(node, ast.Name) and node.id == "__builtins__":
                add(label, node, "uses __builtins__")
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
                    root, chain = _root(node.args[0]) if not isinstance(node.args[0], ast.Name) else \
                        (node.args[0].id, node.args[0].id)
                    if root in modules:
                        add(label, node, f"{func.id}() on {chain} (an imported module or the built-ins)")
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    full = f"{aliases.get(func.value.id, func.value.id)}.{func.attr}"
                    if full in suspicious:
                        add(label, node, f"calls {full}" + (f" (as {func.value.id}.{func.attr})"
                                                            if func.value.id != full.split('.')[0] else ""))
                if isinstance(func, ast.Name) and aliases.get(func.id) in suspicious:
                    add(label, node, f"calls {aliases[func.id]} (as {func.id})")
                if isinstance(func, ast.Name) and func.id == "__import__":
                    add(label, node, "calls __import__")
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in ("getattr", "attrgetter", "methodcaller", "__getattribute__") and node.args:
                    attr = node.args[1] if name in ("getattr", "__getattribute__") and len(node.args) >= 2 \
                        else node.args[0]
                    if isinstance(attr, ast.Constant) and attr.value in _INTROSPECTION:
                        add(label, node, f"reads .{attr.value} (the interpreter's frames or code)")
                    elif not isinstance(attr, ast.Constant) and name != "getattr" or \
                            name == "getattr" and isinstance(attr, (ast.BinOp, ast.JoinedStr, ast.Call)):
                        add(label, node, f"calls {name} with a computed attribute name")
                if isinstance(func, ast.Name) and func.id in ("exec", "eval", "compile"):
                    add(label, node, f"calls {func.id} (code the flags cannot read)")
            if isinstance(node, ast.Attribute) and node.attr == "argv" and isinstance(node.value, ast.Name) and \
                    aliases.get(node.value.id, node.value.id) == "sys":
                add(label, node, "reads sys.argv (the grader's command line)")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    if name.split(".")[0] in _SUSPICIOUS_IMPORTS:
                        add(label, node, f"imports {name}")
            if isinstance(node, ast.Attribute) and node.attr in _INTROSPECTION:
                add(label, node, f"reads .{node.attr} (the interpreter's frames or code)")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in _INTROSPECTION:
                add(label, node, f"names .{node.value} in a string (the interpreter's frames or code)")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc/" in node.value:
                add(label, node, "reads /proc")
    return found
