"""The kinds of rubric item: each kind's validation (when the rubric loads) and scoring (per submission), together.

A kind is a :class:`Kind` in :data:`KINDS`, named by the key that selects it in
an item (``value: ...``, ``check: ...``, ``sections: [...]``, ``figures: N``).
:mod:`labkit.grade.rubric` calls :meth:`Kind.parse` on each item of a rubric
file; :mod:`labkit.grade.scoring` calls :meth:`Kind.score` on each item for
each submission. A new kind is one class here.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar


class ItemError(ValueError):
    """An item that cannot be used (the rubric loader adds the file and the item's name)."""


@dataclass
class ParseContext:
    """What validating an item needs: the checks the notebook defines, the profiles, a number reader."""

    check_names: tuple[str, ...]
    profiles: tuple[str, ...]
    number: Callable[..., Any]  #: number(where, value, profiles) -> number or {profile: number}


@dataclass
class Evidence:
    """What one run of a submission produced (see :mod:`labkit.grade.scoring`)."""

    status: str
    notebook: Any = None  #: the executed (or, with --no-execute, submitted) notebook
    checks: dict[str, dict] = field(default_factory=dict)  #: check name -> result (see labkit.grade.hidden)
    checks_ran: bool = False
    reason: str = ""  #: why the status is not "graded"


@dataclass
class ScoreContext:
    """What scoring an item needs besides the item: the evidence and what was read from its notebook once."""

    evidence: Evidence
    profile: str | None
    records: dict[str, Any]
    headings: set[str]  #: casefolded, whitespace collapsed
    figures: int
    provider: Callable[[str], str | None]  #: the hidden check that provides a value, or None


class Kind:
    """One kind of item. ``extra_keys``: the item keys this kind allows besides its own."""

    name: ClassVar[str]
    extra_keys: ClassVar[tuple[str, ...]] = ()

    def parse(self, entry: dict[str, Any], ctx: ParseContext) -> dict[str, Any]:
        """The :class:`~labkit.grade.rubric.Item` fields from the item's mapping; raises :class:`ItemError`."""
        raise NotImplementedError

    def score(self, item: Any, ctx: ScoreContext) -> tuple[bool, str, Any]:
        """``(passed, message, value)`` of ``item`` for one submission."""
        raise NotImplementedError


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


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class ValueKind(Kind):
    """``value: NAME`` with ``min``/``max``: a number a hidden check re-measured (or, else, the notebook recorded)."""

    name = "value"
    extra_keys = ("min", "max")

    def parse(self, entry, ctx):
        if not isinstance(entry["value"], str) or not _NAME.match(entry["value"]):
            raise ItemError("value must be the name of a recorded or verified value")
        return {"target": entry["value"],
                "minimum": ctx.number("min", entry["min"], ctx.profiles) if "min" in entry else None,
                "maximum": ctx.number("max", entry["max"], ctx.profiles) if "max" in entry else None}

    def score(self, item, ctx):
        evidence, provider = ctx.evidence, ctx.provider(item.target)
        recorded = ctx.records.get(item.target)
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
            if item.target not in ctx.records:
                return False, f"{item.target} was not recorded (labkit.record({item.target!r}, ...))", None
            value, how = recorded, "as recorded by the notebook"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False, f"{item.target} = {value!r} is not a finite number ({how})", value
        low, high = item.bounds(ctx.profile)
        ok = (low is None or value >= low) and (high is None or value <= high)
        wanted = _bounds_text(low, high) if (low is not None or high is not None) else "present"
        return ok, f"{item.target} = {_format(value)} ({how}); {'ok' if ok else 'needs'}: {wanted}", value


class CheckKind(Kind):
    """``check: NAME``: the hidden check passes."""

    name = "check"

    def parse(self, entry, ctx):
        if entry["check"] not in ctx.check_names:
            raise ItemError(f"no hidden check named {entry['check']!r}; the notebook's hidden-check cells define: "
                            f"{', '.join(ctx.check_names) or '(none)'}")
        return {"target": entry["check"]}

    def score(self, item, ctx):
        evidence = ctx.evidence
        result = evidence.checks.get(item.target)
        if not evidence.checks_ran:
            return False, "hidden check not run" + (f" ({evidence.reason})" if evidence.reason else ""), None
        if result is None:
            return False, "the hidden check did not run", None
        return bool(result["passed"]), result["message"] or ("passed" if result["passed"] else "failed"), None


class SectionsKind(Kind):
    """``sections: [heading, ...]``: every heading is in the notebook."""

    name = "sections"

    def parse(self, entry, ctx):
        sections = entry["sections"]
        if not isinstance(sections, list) or not sections or not all(isinstance(s, str) for s in sections):
            raise ItemError("sections must be a list of heading texts")
        return {"sections": tuple(sections)}

    def score(self, item, ctx):
        missing = [s for s in item.sections if " ".join(s.split()).casefold() not in ctx.headings]
        return not missing, "all sections present" if not missing else "missing section(s): " + "; ".join(missing), None


class FiguresKind(Kind):
    """``figures: N``: at least N images in the outputs."""

    name = "figures"

    def parse(self, entry, ctx):
        figures = entry["figures"]
        if isinstance(figures, bool) or not isinstance(figures, int) or figures < 1:
            raise ItemError("figures must be a whole number of at least 1")
        return {"figures": figures}

    def score(self, item, ctx):
        return ctx.figures >= item.figures, f"{ctx.figures} figure(s); needs at least {item.figures}", None


class ManualKind(Kind):
    """``manual: NAME``: the student's analysis in the cells tagged ``analysis:NAME``, graded by hand.

    Marked ``pending`` (not graded yet: blank in the gradebook, its 0 making the
    total provisional; the answer's length as its value) until the instructor's
    points in ``manual.csv`` are merged (:mod:`labkit.grade.manual`); it may
    earn part of its points.
    """

    name = "manual"

    def parse(self, entry, ctx):
        if not isinstance(entry["manual"], str) or not _NAME.match(entry["manual"]):
            raise ItemError("manual must be the name of the analysis cells (their tag analysis:NAME)")
        return {"target": entry["manual"]}

    def score(self, item, ctx):
        from labkit.grade.manual import analysis

        text, _ = analysis(ctx.evidence.notebook, item.target)
        if not text:
            return (False, f"the analysis cell (analysis:{item.target}) is empty; not graded yet: awaiting the "
                           "instructor's points", 0)
        return (False, f"answered ({len(text)} characters); not graded yet: awaiting the instructor's points "
                       "(manual.csv)", len(text))


#: Every kind, by the key that selects it.
KINDS: dict[str, Kind] = {kind.name: kind for kind in (ValueKind(), CheckKind(), SectionsKind(), FiguresKind(),
                                                       ManualKind())}
