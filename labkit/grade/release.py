"""The student version of a lab notebook (``labkit release``).

In the lab's (solution) notebook, the code students must write is marked::

    def make_model():
        layers = [nn.Flatten()]
        ### BEGIN SOLUTION
        layers += [nn.Linear(784, 10)]
        ### END SOLUTION
        return nn.Sequential(*layers)

:func:`release_notebook` replaces every marked region by one line, at the
marker's indentation, that fails clearly when reached::

        raise NotImplementedError("exercise: write your solution here")

A marker may say what to write; the stub's message then says it to the
student (``### BEGIN SOLUTION: return z = mu + sigma * eps`` gives
``raise NotImplementedError("exercise: return z = mu + sigma * eps")``).

removes every cell tagged ``hidden-check`` (the instructor's checks), and
clears all outputs. The released notebook therefore runs until the first
unwritten exercise and stops there with that error.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from labkit.grade.hidden import HIDDEN_TAG

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEFAULT_HINT = "write your solution here"
STUB_PREFIX = 'raise NotImplementedError("exercise: '
def stub(hint: str = DEFAULT_HINT) -> str:
    """The line that replaces a solution region: raises with ``hint`` (what to write)."""
    import json
    return f"raise NotImplementedError({json.dumps('exercise: ' + hint, ensure_ascii=False)})"


STUB = stub()


class ReleaseError(ValueError):
    """Solution markers that do not pair up; the message names the cell and line."""


@dataclass
class Released:
    """What :func:`release` wrote."""

    path: Path
    stubs: int  #: solution regions replaced by a stub
    hidden_removed: int  #: hidden-check cells removed


def _hint(marker_line: str) -> str:
    """What to write, from ``### BEGIN SOLUTION: <hint>`` (the default when the marker has none)."""
    rest = marker_line.strip()[len(BEGIN):].strip()
    return rest[1:].strip() if rest.startswith(":") and rest[1:].strip() else DEFAULT_HINT


def _is_begin(text: str) -> bool:
    return text == BEGIN or (text.startswith(BEGIN) and text[len(BEGIN):].lstrip().startswith(":"))


def _regions(source: str, where: str) -> list[tuple[int, int]]:
    """``(begin_line, end_line)`` of each solution region (0-based, the marker lines)."""
    regions, begin = [], None
    for number, line in enumerate(source.splitlines()):
        text = line.strip()
        if _is_begin(text):
            if begin is not None:
                raise ReleaseError(f"{where}, line {number + 1}: {BEGIN} inside another solution region "
                                   f"(opened on line {begin + 1})")
            begin = number
        elif text == END:
            if begin is None:
                raise ReleaseError(f"{where}, line {number + 1}: {END} without a {BEGIN} before it")
            regions.append((begin, number))
            begin = None
        elif BEGIN[4:] in text or END[4:] in text:
            raise ReleaseError(f"{where}, line {number + 1}: write the marker alone on its line, exactly "
                               f"{BEGIN!r} (optionally followed by ': what to write') or {END!r}")
    if begin is not None:
        raise ReleaseError(f"{where}, line {begin + 1}: {BEGIN} is never closed by {END}")
    return regions


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """``source`` with each solution region replaced by a :func:`stub`; and how many there were."""
    lines = source.splitlines()
    regions = _regions(source, where)
    for begin, end in reversed(regions):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        lines[begin:end + 1] = [indent + stub(_hint(lines[begin]))]
    return "\n".join(lines), len(regions)


def release_notebook(nb: Any) -> tuple[Any, int, int]:
    """The student version of ``nb``: ``(notebook, stubs, hidden cells removed)``. ``nb`` is not changed."""
    released = copy.deepcopy(nb)
    kept, stubs, hidden = [], 0, 0
    for index, cell in enumerate(released.cells):
        if HIDDEN_TAG in cell.metadata.get("tags", []):
            hidden += 1
            continue
        if cell.cell_type == "code":
            cell.source, count = strip_solutions(cell.source, f"cell {index}")
            stubs += count
            cell.outputs, cell.execution_count = [], None
            for key in ("execution", "papermill"):
                cell.metadata.pop(key, None)
        elif BEGIN in cell.source or END in cell.source:
            raise ReleaseError(f"cell {index} is a {cell.cell_type} cell: solution markers belong in code cells")
        kept.append(cell)
    released.cells = kept
    return released, stubs, hidden


def release(notebook: Path | str, out_dir: Path | str, *, name: str | None = None) -> Released:
    """Write the student version of ``notebook`` to ``out_dir/<name>.ipynb``.

    Raises :class:`ReleaseError` (before writing anything) when the markers
    do not pair up, and ``ValueError`` when the output would overwrite the
    solution notebook.
    """
    notebook = Path(notebook).resolve()
    nb = nbformat.read(notebook, as_version=4)
    released, stubs, hidden = release_notebook(nb)
    out_dir = Path(out_dir).resolve()
    path = out_dir / f"{name or notebook.stem}.ipynb"
    if path == notebook:
        raise ValueError(f"the student version would overwrite the solution {notebook}: choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(released, path)
    return Released(path=path, stubs=stubs, hidden_removed=hidden)


def fill_in(released: Any, solution: Any) -> Any:
    """``released`` with every stub replaced by the solution's code, in order.

    What a student who writes exactly the model answer hands in; the tests
    and the benchmark grade it. Raises :class:`ReleaseError` when the stubs
    and the solution regions do not correspond one to one.
    """
    blocks = []
    for index, cell in enumerate(solution.cells):
        if cell.cell_type != "code" or HIDDEN_TAG in cell.metadata.get("tags", []):
            continue
        lines = cell.source.splitlines()
        blocks += [lines[begin + 1:end] for begin, end in _regions(cell.source, f"solution cell {index}")]
    filled = copy.deepcopy(released)
    used = 0
    for cell in filled.cells:
        if cell.cell_type != "code":
            continue
        lines = []
        for line in cell.source.splitlines():
            if line.strip().startswith(STUB_PREFIX):
                if used == len(blocks):
                    raise ReleaseError("the released notebook has more stubs than the solution has regions")
                lines += blocks[used]
                used += 1
            else:
                lines.append(line)
        cell.source = "\n".join(lines)
    if used != len(blocks):
        raise ReleaseError(f"the solution has {len(blocks)} regions but the released notebook {used} stubs")
    return filled
