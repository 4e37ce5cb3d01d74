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

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from labkit.grade.rubric import Item, Rubric
from labkit.records import read_records

#: Statuses whose items are scored; the others score 0.
SCORED_STATUSES = ("graded", "error")
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")


@dataclass
class Evidence:
    """What one run of a submission produced."""

    status: str
    notebook: Any = None  #: the executed (or, with --no-execute, submitted) notebook
    checks: dict[str, dict] = field(default_factory=dict)  #: check name -> result (see labkit.grade.hidden)
    checks_ran: bool = False
    reason: str = ""  #: why the status is not "graded"


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


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _value_item(item: Item, rubric: Rubric, profile: str | None, evidence: Evidence,
                records: dict[str, Any]) -> tuple[bool, str, Any]:
    provider = rubric.checks.provider(item.target)
    recorded = records.get(item.target)
    if provider is not None:
        if not evidence.checks_ran:
            return False, f"needs the hidden check {provider!r}, which did not run", None
        result = evidence.checks.get(provider)
        if result is None or item.target not in result.get("values", {}):
            why = result["message"] if result else "it did not run"
            return False, f"the hidden check {provider!r} could not re-measure {item.target}: {why}", None
        value, how = result["values"][item.target], "re-measured by the hidden checks"
        if recorded is not None and not _same(recorded, value):
            how += f"; the notebook's own record, {_format(recorded)}, is not used"
    else:
        if item.target not in records:
            return False, f"{item.target} was not recorded (labkit.record({item.target!r}, ...))", None
        value, how = recorded, "as recorded by the notebook"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False, f"{item.target} = {value!r} is not a finite number ({how})", value
    low, high = item.bounds(profile)
    ok = (low is None or value >= low) and (high is None or value <= high)
    wanted = _bounds_text(low, high) if (low is not None or high is not None) else "present"
    verdict = "ok" if ok else "needs"
    return ok, f"{item.target} = {_format(value)} ({how}); {verdict}: {wanted}", value


def score(rubric: Rubric, profile: str | None, evidence: Evidence) -> list[ItemResult]:
    """Score every item of ``rubric`` against ``evidence``."""
    results = []
    records = read_records(evidence.notebook) if evidence.notebook is not None else {}
    found_headings = {h.casefold() for h in headings(evidence.notebook)}
    figures = figure_count(evidence.notebook)
    for item in rubric.items:
        value = None
        if evidence.status not in SCORED_STATUSES:
            passed, message = False, f"not scored: {evidence.status}" + (f" ({evidence.reason})" if evidence.reason else "")
        elif item.kind == "value":
            passed, message, value = _value_item(item, rubric, profile, evidence, records)
        elif item.kind == "check":
            result = evidence.checks.get(item.target)
            if not evidence.checks_ran:
                passed, message = False, "hidden check not run" + (f" ({evidence.reason})" if evidence.reason else "")
            elif result is None:
                passed, message = False, "the hidden check did not run"
            else:
                passed, message = bool(result["passed"]), result["message"] or ("passed" if result["passed"] else "failed")
        elif item.kind == "sections":
            missing = [s for s in item.sections if " ".join(s.split()).casefold() not in found_headings]
            passed = not missing
            message = "all sections present" if passed else "missing section(s): " + "; ".join(missing)
        else:
            passed = figures >= item.figures
            message = f"{figures} figure(s); needs at least {item.figures}"
        results.append(ItemResult(item.id, item.title, item.points if passed else 0.0, item.points, passed,
                                  message, value))
    return results
