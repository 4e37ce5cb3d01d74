"""One model of "a cell failed", shared by the report pipeline and the grader.

A notebook is run as a *copy* of the file the student edits: the pipeline
drops some cells before running it (``hidden-check`` cells, error cells left
by an earlier papermill run) and adds one (the ``injected-parameters`` cell).
:class:`CellMap` remembers, for every cell of the copy that runs, the index
of the same cell in the student's file, so a failure always names the cell
the student sees. :class:`CellFailure` is the failure itself; build it from
an exception with :func:`failure_from_exception`, or from the plain dict a
sandbox sent back with :meth:`CellFailure.from_dict`.

Numbering: ``cell_index`` is the 0-based index of the cell in the student's
notebook file (markdown cells counted); ``cell_number`` is that index + 1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from labkit.i18n import t

#: Failure kinds: the cell raised (``SystemExit`` included), the kernel died, the cell ran out of time.
KINDS = ("error", "dead_kernel", "timeout")

#: The tag of the parameters cell papermill and labkit add after a notebook's ``parameters`` cell.
INJECTED_TAG = "injected-parameters"


@dataclass(eq=False)
class CellFailure(Exception):
    """The cell that stopped a notebook's execution, and why.

    ``cell_index`` is the 0-based index of the cell in the *source* notebook
    (the file the student edits; cells the pipeline added or removed are
    accounted for). ``execution_count`` is the ``In [n]`` number, or None when
    the cell never started. ``kind`` is one of :data:`KINDS`. ``traceback`` is
    the kernel's traceback lines (ANSI colours included), left out of
    :meth:`to_dict`.
    """

    cell_index: int
    execution_count: int | None
    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list, repr=False)
    kind: str = "error"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        self.evalue = "" if self.evalue is None else str(self.evalue)
        self.ename = str(self.ename or "")

    @property
    def cell_number(self) -> int:
        """The 1-based number of the cell in the student's notebook."""
        return self.cell_index + 1

    def cell_label(self, lang: str = "en") -> str:
        """``cell 3 (In [2])``: the cell's index and execution count."""
        count = " " if self.execution_count is None else self.execution_count
        return t("error.cell", lang, index=self.cell_index, count=count)

    def message(self, lang: str = "en") -> str:
        """One line for a human: which cell, which exception, its message."""
        key = {"dead_kernel": "error.died", "timeout": "error.timeout"}.get(self.kind, "error.raised")
        text = t(key, lang, cell=self.cell_label(lang), ename=self.ename, evalue=self.evalue)
        if self.kind == "dead_kernel" and self.evalue and self.evalue != "Kernel died":
            text = f"{text.rstrip('.。')} — {self.evalue}"  # e.g. "Fatal Python error: Segmentation fault"
        return text

    def __str__(self) -> str:
        return self.message("en")

    def __reduce__(self):  # Exception's default pickling would lose the fields
        return (type(self), (self.cell_index, self.execution_count, self.ename, self.evalue,
                             self.traceback, self.kind))

    def __getitem__(self, key: str) -> Any:
        """``failure["ename"]``: a field read as from :meth:`to_dict` (the grader's results are read both ways)."""
        if key not in self.to_dict():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        """``{"cell_index", "execution_count", "ename", "evalue", "kind"}`` (JSON-ready, no traceback)."""
        data = asdict(self)
        del data["traceback"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CellFailure":
        """The inverse of :meth:`to_dict` (a ``traceback`` key, if present, is kept)."""
        return cls(int(data["cell_index"]), data.get("execution_count"), data.get("ename", ""),
                   data.get("evalue", ""), list(data.get("traceback") or []), data.get("kind", "error"))


class CellMap:
    """Indices of a notebook's run copy -> indices in the student's file.

    Build it while making the copy: :meth:`keep` for each source cell kept
    (in order), :meth:`added` for each cell the pipeline inserts. Cells of the
    copy that are not in the source map to the next source cell (an injected
    parameters cell fails "at" the cell after it, as papermill counts).
    """

    def __init__(self) -> None:
        self._sources: list[int | None] = []

    def keep(self, source_index: int) -> None:
        self._sources.append(source_index)

    def added(self) -> None:
        self._sources.append(None)

    def insert_added(self, run_index: int) -> None:
        """Record a cell inserted at ``run_index`` of the copy after the map was built."""
        self._sources.insert(run_index, None)

    def __len__(self) -> int:
        return len(self._sources)

    def run_index(self, source_index: int) -> int:
        """The index in the copy of the student's cell ``source_index`` (the inverse of :meth:`source_index`);
        ``len(self)`` when that cell is not in the copy (a marker "at" it then goes at the end)."""
        try:
            return self._sources.index(source_index)
        except ValueError:
            return len(self._sources)

    def source_index(self, run_index: int) -> int:
        """The student's index of the copy's cell ``run_index``."""
        for source in self._sources[run_index:]:
            if source is not None:
                return source
        kept = [s for s in self._sources if s is not None]
        return kept[-1] + 1 if kept else 0

    @classmethod
    def identity(cls, n_cells: int) -> "CellMap":
        cells = cls()
        for index in range(n_cells):
            cells.keep(index)
        return cells

    @classmethod
    def skipping_injected(cls, cells: Iterable[Any]) -> "CellMap":
        """The map of a notebook whose only additions are ``injected-parameters`` cells."""
        mapping, source = cls(), 0
        for cell in cells:
            if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
                mapping.added()
            else:
                mapping.keep(source)
                source += 1
        return mapping


def failure_from_exception(error: BaseException, cell: Any, run_index: int,
                           cells: CellMap | None = None) -> CellFailure:
    """The :class:`CellFailure` for an exception nbclient raised while running ``cell``.

    ``error`` is an ``nbclient`` ``CellExecutionError``, ``CellTimeoutError``
    or ``DeadKernelError`` (anything else is treated as a dead kernel);
    ``run_index`` is the cell's index in the notebook that ran, mapped
    through ``cells`` (identity when None).
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    index = cells.source_index(run_index) if cells is not None else run_index
    count = cell.get("execution_count")
    if isinstance(error, CellExecutionError):
        traceback: list[str] = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                traceback = list(output.get("traceback") or [])
        return CellFailure(index, count, error.ename, error.evalue, traceback, "error")
    first_line = (str(error).strip().splitlines() or [""])[0]
    if isinstance(error, CellTimeoutError):
        return CellFailure(index, count, type(error).__name__, first_line, kind="timeout")
    return CellFailure(index, count, type(error).__name__, first_line, kind="dead_kernel")
