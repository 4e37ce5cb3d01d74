"""The grade of one submission (:class:`GradeResult`), built in one place (:func:`labkit.grade.execute.build_result`).

It is what ``results/<student>.json`` holds (:meth:`GradeResult.to_dict`),
what the gradebook and the feedback page show, and what a resumed run reads
back (:meth:`GradeResult.from_dict`). A failure of the grader itself is a
result too: status ``error`` with ``internal`` set (never written to
``results/``, so the next run retries it).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from labkit.report.cells import CellFailure


@dataclass
class GradeResult:
    """One submission's grade. Read as attributes, or as ``result["status"]``/``result.get(...)``."""

    student: str  #: the id: the file or folder name as handed in
    lab: str
    status: str  #: graded, error, timeout, memory, disk, killed, invalid, missing (labkit.grade.execute.STATUSES)
    message: str = ""  #: why the status is not "graded" (or the grader's failure)
    items: list[dict[str, Any]] = field(default_factory=list)  #: each item's points and message (ItemResult)
    total: float = 0.0
    max_total: float = 0.0
    failure: CellFailure | None = None  #: the cell that stopped the notebook (its index in the student's file)
    checks: list[dict[str, Any]] = field(default_factory=list)  #: the hidden checks' results
    check_errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  #: suspicious exercise code (labkit.grade.flags)
    notes: list[str] = field(default_factory=list)  #: how the grader saw the submission
    internal: bool = False  #: the grader failed (not the submission): retried on the next run
    fingerprint: str = ""  #: the resume key (notebook bytes, rubric, checks, limits, data)
    source: str = ""  #: the submission's path
    profile: str | None = None
    lang: str = "en"  #: the run's ``lang`` (the rubric's parameters, else the notebook's default): the feedback's language
    executed: bool = True  #: False with --no-execute
    data: str = ""  #: which data the run saw
    wall_seconds: float = 0.0
    log: str = ""  #: the sandbox's description and the tail of its log (or the grader's traceback)
    feedback: str | None = None  #: feedback/<name>.html, relative to the output folder
    executed_path: str | None = None  #: executed/<name>.ipynb, relative to the output folder
    name: str = ""  #: from the roster (--roster)
    group: str = ""  #: the class, from the roster

    def __post_init__(self) -> None:
        if isinstance(self.failure, dict):  # read back from JSON, or sent by the sandbox
            self.failure = CellFailure.from_dict(self.failure)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``failure`` as :meth:`CellFailure.to_dict <labkit.report.cells.CellFailure.to_dict>`."""
        data = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "failure":
                data[f.name] = value.to_dict() if value is not None else None
            else:
                data[f.name] = copy.deepcopy(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GradeResult":
        """A result read back from ``results/<student>.json`` (unknown keys ignored; ``failure`` becomes a
        :class:`~labkit.report.cells.CellFailure`); ValueError if it is not one."""
        if not isinstance(data, dict) or not {"student", "lab", "status"} <= set(data):
            raise ValueError("not a grade result")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (KeyError, TypeError) as exc:  # a failure without its cell_index, ...
            raise ValueError(f"not a grade result: {type(exc).__name__}: {exc}") from None

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, default)
        return default if value is None else value


def pending_items(result: Any) -> list[str]:
    """The ids of ``result``'s manual items that await the instructor's points (``pending``): until they are
    entered the total counts them as 0 and is provisional."""
    return [item["id"] for item in result.get("items", []) or [] if item.get("pending")]


def provisional_note(result: Any) -> str:
    """``"provisional: not graded yet: ID, ..."`` (counted as 0 until graded), or ``""`` when every item is scored."""
    pending = pending_items(result)
    return f"provisional: not graded yet: {', '.join(pending)} (counted as 0 until graded)" if pending else ""
