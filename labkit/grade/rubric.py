"""Rubrics: what a lab's submissions are graded on, loaded from ``grading/<lab>.yaml``.

A rubric names the lab's solution notebook, the parameters every submission
runs with, the limits of the sandbox, and the items that earn points::

    lab: mlp
    parameters: {profile: smoke}
    limits: {timeout: 900, memory: 4096}
    items:
      - id: mlp_accuracy
        title: The MLP's test accuracy, re-measured on held-out images
        points: 4
        value: mlp_test_acc
        min: {smoke: 0.8, quick: 0.95, full: 0.97}
      - id: closed_form
        points: 2
        check: closed_form

Each item has exactly one of ``value`` (a number, with ``min``/``max``),
``check`` (a hidden check passes), ``sections`` (headings present) or
``figures`` (at least N images). A ``value`` that a hidden check
``provides`` is taken from the check's recomputation, never from what the
student's notebook recorded. ``grading/README.md`` documents the format.

Everything is checked when the rubric is loaded, before anything runs.
"""
from __future__ import annotations

import ast
import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import nbformat
import yaml

from labkit.grade.hidden import HIDDEN_TAG
from labkit.report.params import ParameterError, read_parameters

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_TOP_KEYS = {"lab", "title", "notebook", "parameters", "limits", "items"}
_ITEM_KEYS = {"id", "title", "points"}  # and each kind's own keys (labkit.grade.kinds)

#: Limits used when a rubric does not set them (seconds, seconds, MB, tasks, MB).
DEFAULT_LIMITS = {"timeout": 600, "check_timeout": 300, "memory": 4096, "processes": 256, "disk": 1024}


class RubricError(ValueError):
    """A rubric that cannot be used; the message names the file, the item and the fix."""


@dataclass(frozen=True)
class Limits:
    """The sandbox's limits for one submission."""

    timeout: float  #: seconds for the student's notebook
    check_timeout: float  #: seconds for all hidden checks together
    memory: int  #: MB for everything in the sandbox
    processes: int  #: processes and threads in the sandbox
    disk: int = 1024  #: MB the submission may write (its folder and /tmp, each)


@dataclass(frozen=True)
class HiddenChecks:
    """The ``hidden-check`` cells of a lab's notebook, and the checks they declare."""

    sources: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    provides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def provider(self, value: str) -> str | None:
        """The check that provides the verified value ``value``, or None."""
        for name, provided in self.provides.items():
            if value in provided:
                return name
        return None


SETUP_TAG = "setup"
PARAMETERS_TAG = "parameters"


@dataclass(frozen=True)
class PlanCell:
    """One cell of the solution notebook that the hidden checks' fresh interpreter runs (see :mod:`labkit.grade.verdict`)."""

    origin: str  #: "parameters" or "setup" (the solution's code runs) or "exercise" (the student's code runs)
    index: int  #: the cell's index in the solution notebook
    source: str  #: the solution's code (for an exercise: never sent; the student's matching cell is)
    cell_id: str = ""  #: the cell's id (kept by ``labkit release``), to find the student's copy
    released: str = ""  #: an exercise cell as the student received it (stubs in place of the solution)


@dataclass(frozen=True)
class Item:
    """One line of the rubric."""

    id: str
    title: str
    points: float
    kind: str  #: "value", "check", "sections" or "figures"
    target: str = ""  #: the value's or the check's name
    minimum: Any = None  #: a number, or {profile: number}
    maximum: Any = None
    sections: tuple[str, ...] = ()
    figures: int = 0

    def bounds(self, profile: str | None) -> tuple[float | None, float | None]:
        """``(min, max)`` for ``profile`` (either may be None)."""
        return _for_profile(self.minimum, profile), _for_profile(self.maximum, profile)


@dataclass
class Rubric:
    """A loaded, validated rubric (see the module docstring)."""

    lab: str
    path: Path
    notebook: Path
    parameters: dict[str, Any]
    items: list[Item]
    checks: HiddenChecks
    limits: dict[str, Any]
    profiles: tuple[str, ...] = ()
    default_profile: str | None = None
    default_lang: str = "en"  #: the notebook's default ``lang`` (reports and feedback pages show that language)
    title: str = ""
    warnings: list[str] = field(default_factory=list)
    text: str = ""
    plan: tuple[PlanCell, ...] = ()  #: what the checks' fresh interpreter runs before the checks

    @property
    def has_manual(self) -> bool:
        """Whether some items are graded by hand (``manual:``; see labkit.grade.manual)."""
        return any(item.kind == "manual" for item in self.items)

    @property
    def max_points(self) -> float:
        return sum(item.points for item in self.items)

    def profile(self, override: str | None = None) -> str | None:
        """The profile submissions run with: ``override``, the rubric's, or the notebook's default."""
        profile = override or self.parameters.get("profile") or self.default_profile
        if override is not None and self.profiles and override not in self.profiles:
            raise RubricError(f"profile {override!r} is not one of {', '.join(self.profiles)}")
        for item in self.items:
            for bound in (item.minimum, item.maximum):
                if isinstance(bound, dict) and profile not in bound:
                    raise RubricError(f"{self.path}: item {item.id!r} gives no threshold for profile {profile!r} "
                                      f"(it has {', '.join(bound)}); add one")
        for name, value in self.limits.items():
            if isinstance(value, dict) and profile not in value:
                raise RubricError(f"{self.path}: limits.{name} gives no value for profile {profile!r}; add one")
        return profile

    def run_parameters(self, profile: str | None = None) -> dict[str, Any]:
        """The parameters injected into every submission, with ``profile`` if given."""
        parameters = dict(self.parameters)
        if profile is not None:
            if not self.profiles:
                raise RubricError(f"{self.notebook.name} has no 'profile' parameter, so no profile can be chosen")
            parameters["profile"] = profile
        return parameters

    def resolve_limits(self, profile: str | None, *, timeout: float | None = None,
                       memory: int | None = None) -> Limits:
        """The limits for ``profile``, with the command line's ``timeout``/``memory`` winning."""
        import math

        values = {name: _for_profile(value, profile) for name, value in self.limits.items()}
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
                    or timeout <= 0:
                raise RubricError(f"--timeout must be a finite number of seconds above 0, got {timeout!r}")
            values["timeout"] = timeout
        if memory is not None:
            if isinstance(memory, bool) or not isinstance(memory, int) or memory < 64:
                raise RubricError(f"--memory must be a whole number of MB, at least 64, got {memory!r}")
            values["memory"] = memory
        return Limits(timeout=float(values["timeout"]), check_timeout=float(values["check_timeout"]),
                      memory=int(values["memory"]), processes=int(values["processes"]),
                      disk=int(values.get("disk", DEFAULT_LIMITS["disk"])))

    def fingerprint(self) -> str:
        """A hash of everything in the rubric that changes grades (for resuming)."""
        digest = hashlib.sha256(self.text.encode())
        for source in self.checks.sources:
            digest.update(b"\0" + source.encode())
        for cell in self.plan:
            digest.update(f"\0{cell.origin}\0{cell.source}".encode())
        return digest.hexdigest()[:16]


def _for_profile(value: Any, profile: str | None) -> Any:
    if isinstance(value, dict):
        return value.get(profile)
    return value


# --------------------------------------------------------------------------- loading


def grading_dir() -> Path:
    """The folder of the rubrics: ``LABKIT_GRADING``, else the repository's ``grading/``."""
    env = os.environ.get("LABKIT_GRADING")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2] / "grading"


def rubric_path(lab_or_path: str) -> Path:
    """The rubric file for a lab name (``grading/<lab>.yaml``) or a path to a ``.yaml`` file."""
    if lab_or_path.endswith((".yaml", ".yml")) or "/" in lab_or_path or os.sep in lab_or_path:
        path = Path(lab_or_path).expanduser().resolve()
        if not path.is_file():
            raise RubricError(f"rubric {lab_or_path!r} does not exist")
        return path
    path = grading_dir() / f"{lab_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in grading_dir().glob("*.yaml"))
        raise RubricError(f"no rubric for lab {lab_or_path!r} ({path} does not exist); rubrics exist for: "
                          f"{', '.join(known) or '(none)'} — or give the path to a rubric .yaml")
    return path


def hidden_checks(notebook: Path | Any) -> HiddenChecks:
    """The hidden checks declared in ``notebook``'s cells tagged ``hidden-check``.

    The cells must be plain Python whose ``@check(...)`` decorators use
    literal names, so the grader knows every check and value before running
    anything. Raises :class:`RubricError` otherwise.
    """
    nb = nbformat.read(notebook, as_version=4) if isinstance(notebook, (str, Path)) else notebook
    where = Path(notebook).name if isinstance(notebook, (str, Path)) else "the notebook"
    sources, names, provides = [], [], {}
    for index, cell in enumerate(nb.cells):
        if HIDDEN_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type != "code":
            raise RubricError(f"{where}: cell {index} is tagged {HIDDEN_TAG!r} but is not a code cell")
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as exc:
            raise RubricError(f"{where}: hidden-check cell {index} is not plain Python: {exc}") from exc
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                declared = _declared_check(decorator, where, index)
                if declared is None:
                    continue
                name, provided = declared
                if name in provides:
                    raise RubricError(f"{where}: check {name!r} is defined twice (cell {index})")
                names.append(name)
                provides[name] = provided
        sources.append(cell.source)
    return HiddenChecks(tuple(sources), tuple(names), provides)


def verdict_plan(notebook: Path | Any) -> tuple[PlanCell, ...]:
    """The solution notebook's cells tagged ``setup``/``parameters`` and its exercise cells, in order.

    An exercise cell is a code cell with a ``### BEGIN SOLUTION`` region. Raises
    :class:`RubricError` when the markers do not pair up.
    """
    from labkit.grade.release import ReleaseError, strip_solutions

    nb = nbformat.read(notebook, as_version=4) if isinstance(notebook, (str, Path)) else notebook
    plan = []
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or HIDDEN_TAG in tags:
            continue
        try:
            released, regions = strip_solutions(cell.source, f"cell {index}")
        except ReleaseError as exc:
            raise RubricError(f"{Path(str(notebook)).name}: {exc}") from exc
        cell_id = str(cell.get("id") or "")
        if regions:
            plan.append(PlanCell("exercise", index, cell.source, cell_id, released))
        elif PARAMETERS_TAG in tags:
            plan.append(PlanCell("parameters", index, cell.source, cell_id))
        elif SETUP_TAG in tags:
            plan.append(PlanCell("setup", index, cell.source, cell_id))
    return tuple(plan)


def _declared_check(decorator: ast.expr, where: str, index: int) -> tuple[str, tuple[str, ...]] | None:
    if not isinstance(decorator, ast.Call):
        return None
    func = decorator.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called != "check":
        return None
    try:
        name = ast.literal_eval(decorator.args[0]) if decorator.args else None
        provided = ()
        for keyword in decorator.keywords:
            if keyword.arg == "provides":
                provided = tuple(ast.literal_eval(keyword.value))
    except ValueError as exc:
        raise RubricError(f"{where}: hidden-check cell {index}: @check(...) must use a literal name and a "
                          f"literal list of provided values") from exc
    if not isinstance(name, str) or not all(isinstance(p, str) for p in provided):
        raise RubricError(f"{where}: hidden-check cell {index}: @check needs a string name and a list of "
                          f"strings as provides")
    return name, provided


def load_rubric(lab_or_path: str | Path) -> Rubric:
    """Load and validate the rubric of a lab (``grading/<lab>.yaml``) or at a path.

    Raises :class:`RubricError` naming the file, the item and what to fix.
    """
    path = rubric_path(str(lab_or_path))
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # one line: the file, line and column, what is wrong (not PyYAML's dump)
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise RubricError(f"{path}{where}: not valid YAML: {what}") from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}: a rubric is a mapping with keys {', '.join(sorted(_TOP_KEYS))}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise RubricError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(_TOP_KEYS))}")
    lab = data.get("lab") or path.stem
    if not isinstance(lab, str) or not _ID.match(lab):
        raise RubricError(f"{path}: lab must be a name (letters, digits, _ . -), got {lab!r}")

    notebook = _solution_notebook(path, lab, data.get("notebook"))
    spec = read_parameters(notebook)
    raw_parameters = data.get("parameters") or {}
    if not isinstance(raw_parameters, dict):
        raise RubricError(f"{path}: parameters must be a mapping of name: value")
    try:
        parameters = spec.validate(raw_parameters)
    except ParameterError as exc:
        raise RubricError(f"{path}: parameters: {exc}") from exc
    profile_param = spec.parameters.get("profile")
    profiles = tuple(profile_param.choices) if profile_param else ()
    default_profile = profile_param.default if profile_param else None
    lang_param = spec.parameters.get("lang")
    default_lang = str(lang_param.default) if lang_param and lang_param.default in ("en", "zh") else "en"

    checks = hidden_checks(notebook)
    limits = _limits(path, data.get("limits") or {}, profiles)
    items = _items(path, data.get("items"), checks, profiles)
    warnings = [f"item {item.id!r}: value {item.target!r} is read from the student's own records (no hidden "
                f"check provides it), which a student can forge"
                for item in items if item.kind == "value" and checks.provider(item.target) is None]
    rubric = Rubric(lab=lab, path=path, notebook=notebook, parameters=parameters, items=items, checks=checks,
                    limits=limits, profiles=profiles, default_profile=default_profile, default_lang=default_lang,
                    title=str(data.get("title") or lab), warnings=warnings, text=text,
                    plan=verdict_plan(notebook) if checks.sources else ())
    rubric.profile()  # every per-profile value covers the rubric's own profile
    return rubric


def _solution_notebook(path: Path, lab: str, given: Any) -> Path:
    if given is not None:
        if not isinstance(given, str):
            raise RubricError(f"{path}: notebook must be a path (relative to the rubric), got {given!r}")
        notebook = (path.parent / given).resolve()
        if not notebook.is_file():
            raise RubricError(f"{path}: notebook {given!r} does not exist ({notebook})")
        return notebook
    from labkit.report.labs import UnknownLab, resolve_notebook

    try:
        return resolve_notebook(lab)[1]
    except UnknownLab as exc:
        raise RubricError(f"{path}: {exc}; or set notebook: to the lab's notebook") from exc


def _number(path: Path, where: str, value: Any, profiles: tuple[str, ...], *, positive: bool = False) -> Any:
    def one(v: Any, label: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RubricError(f"{path}: {label} must be a number, got {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            raise RubricError(f"{path}: {label} must be a finite number, got {v!r}")
        if positive and v <= 0:
            raise RubricError(f"{path}: {label} must be more than 0, got {v!r}")
        return v

    if isinstance(value, dict):
        for key, v in value.items():
            if profiles and key not in profiles:
                raise RubricError(f"{path}: {where} has a value for profile {key!r}, which the notebook does not "
                                  f"have (profiles: {', '.join(profiles)})")
            one(v, f"{where}.{key}")
        return dict(value)
    return one(value, where)


def _limits(path: Path, raw: Any, profiles: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RubricError(f"{path}: limits must be a mapping ({', '.join(DEFAULT_LIMITS)})")
    unknown = set(raw) - set(DEFAULT_LIMITS)
    if unknown:
        raise RubricError(f"{path}: unknown limit(s) {', '.join(sorted(unknown))}; valid: {', '.join(DEFAULT_LIMITS)}")
    limits = dict(DEFAULT_LIMITS)
    for name, value in raw.items():
        limits[name] = _number(path, f"limits.{name}", value, profiles, positive=True)
    return limits


def _items(path: Path, raw: Any, checks: HiddenChecks, profiles: tuple[str, ...]) -> list[Item]:
    from labkit.grade.kinds import KINDS, ItemError, ParseContext

    if not isinstance(raw, list) or not raw:
        raise RubricError(f"{path}: items must be a non-empty list")
    items, seen = [], set()
    for position, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            raise RubricError(f"{path}: item {position} must be a mapping")
        item_id = entry.get("id")
        label = f"item {position} ({item_id!r})"
        if not isinstance(item_id, str) or not _ID.match(item_id) or item_id in ("student", "status", "total"):
            raise RubricError(f"{path}: {label}: id must be a name (letters, digits, _ . -), not student/status/total")
        if item_id in seen:
            raise RubricError(f"{path}: {label}: id used twice")
        seen.add(item_id)
        allowed = _ITEM_KEYS | set(KINDS) | {key for kind in KINDS.values() for key in kind.extra_keys}
        unknown = set(entry) - allowed
        if unknown:
            raise RubricError(f"{path}: {label}: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"valid: {', '.join(sorted(allowed))}")
        kinds = [k for k in KINDS if k in entry]
        if len(kinds) != 1:
            raise RubricError(f"{path}: {label}: give exactly one of {', '.join(KINDS)} (found "
                              f"{', '.join(kinds) or 'none'})")
        kind = KINDS[kinds[0]]
        points = _number(path, f"{label}.points", entry.get("points"), (), positive=True)
        for other in KINDS.values():
            if other is not kind and set(other.extra_keys) & set(entry) - set(kind.extra_keys):
                raise RubricError(f"{path}: {label}: {'/'.join(other.extra_keys)} apply only to a {other.name} item")
        context = ParseContext(check_names=checks.names, profiles=profiles,
                               number=lambda where, value, profs: _number(path, f"{label}.{where}", value, profs))
        try:
            fields = kind.parse(entry, context)
        except ItemError as exc:
            raise RubricError(f"{path}: {label}: {exc}") from exc
        items.append(Item(id=item_id, title=str(entry.get("title") or item_id), points=points, kind=kind.name,
                          **fields))
    return items
