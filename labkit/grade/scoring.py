"""Scoring a submission: each rubric item against the evidence of one run.

The evidence (:class:`Evidence`) is what the sandboxed run produced: the
executed notebook (its records, headings and figures) and the results of
the hidden checks. A ``value`` item reads the *verified* value when a hidden
check provides it (the student's own record of it is shown, never used), and
the student's record otherwise.

Only runs whose status is ``graded`` or ``error`` earn points; a submission
that timed out, ran out of memory, was killed or is invalid scores 0 on
every item, with the reason.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from labkit.grade.kinds import KINDS, Evidence, ScoreContext
from labkit.grade.rubric import Rubric
from labkit.records import read_records

#: Statuses whose items are scored; the others score 0.
SCORED_STATUSES = ("graded", "error")
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")


@dataclass
class ItemResult:
    """One item's score and the reason for it."""

    id: str
    title: str
    points: float
    max_points: float
    passed: bool
    message: str
    value: Any = None
    #: a manual item the instructor has not given points yet: shown blank ("not graded yet"), not "not earned";
    #: its 0 points make the total provisional (:func:`labkit.grade.result.pending_items`)
    pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def headings(nb: Any) -> list[str]:
    """The text of every markdown heading in ``nb``, whitespace collapsed."""
    found = []
    for cell in nb.get("cells", []) if nb is not None else []:
        if cell.get("cell_type") != "markdown":
            continue
        for line in str(cell.get("source", "")).splitlines():
            match = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
            if match:
                found.append(" ".join(match.group(1).split()))
    return found


def figure_count(nb: Any) -> int:
    """How many images the code cells of ``nb`` output."""
    count = 0
    for cell in nb.get("cells", []) if nb is not None else []:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            count += any(mime in data for mime in _IMAGE_MIMES)
    return count


def score(rubric: Rubric, profile: str | None, evidence: Evidence) -> list[ItemResult]:
    """Score every item of ``rubric`` against ``evidence`` (each kind scores its items: labkit.grade.kinds)."""
    context = ScoreContext(evidence=evidence, profile=profile,
                           records=read_records(evidence.notebook) if evidence.notebook is not None else {},
                           headings={h.casefold() for h in headings(evidence.notebook)},
                           figures=figure_count(evidence.notebook), provider=rubric.checks.provider)
    results = []
    for item in rubric.items:
        if evidence.status not in SCORED_STATUSES:
            passed, value = False, None
            message = f"not scored: {evidence.status}" + (f" ({evidence.reason})" if evidence.reason else "")
        else:
            passed, message, value = KINDS[item.kind].score(item, context)
        pending = item.kind == "manual" and evidence.status in SCORED_STATUSES
        results.append(ItemResult(item.id, item.title, item.points if passed else 0.0, item.points, passed,
                                  message, value, pending))
    return results
