"""Writing hidden checks: the ``@check`` decorator used in a lab's ``hidden-check`` cells.

A hidden check is a function, written by the instructor in a cell tagged
``hidden-check`` of the lab's (solution) notebook, that tests the student's
own code and recomputes the values that matter::

    from labkit.grade.hidden import check

    @check("slope_heldout", provides=["slope_error"])
    def _():
        xs = [random.uniform(-2, 2) for _ in range(300)]     # fresh inputs, made by the check
        ys = [-1.7 * x for x in xs]
        return {"slope_error": abs(fit_slope(xs, ys) + 1.7)}  # fit_slope: the student's function

What a check function does decides its result:

* returns ``None`` or ``True``: passed; ``False``: failed;
* returns a dict ``{name: number}``: passed, and the numbers are *verified
  values* that rubric items read by name; every name in ``provides`` must be
  in it (a rubric value that a check provides is never read from the
  student's own ``labkit.record`` calls, which a student can forge);
* raises ``AssertionError("message")``: failed, with the message;
* raises anything else (usually the student's code failing): failed, with
  the exception's name and message.

In an ordinary run of the notebook (``labkit report``) each check runs as
soon as its cell defines it and shows its result: the solution notebook
checks itself. ``labkit grade`` runs the same cells in a fresh interpreter (:mod:`labkit.grade.verdict`)
*after* the student's notebook has finished, one check at a time (see
:mod:`labkit.grade.inside`); ``labkit release`` removes the cells.
"""
from __future__ import annotations

import time
import traceback
from typing import Any, Callable, Iterable

from labkit.records import emit, plain_scalar

#: MIME type of one check's result, displayed in an ordinary run.
CHECK_MIME = "application/vnd.labkit.grade.check+json"
#: Tag of the notebook cells that hold hidden checks.
HIDDEN_TAG = "hidden-check"

# name -> (function, provides) while labkit.grade collects checks; None in an ordinary run
_registry: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] | None = None


class CheckDefinitionError(ValueError):
    """A ``@check`` used wrongly (bad name, ``provides`` not a list of names)."""


def check(name: str, *, provides: Iterable[str] = ()) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Declare a hidden check called ``name`` (the rubric refers to it by this name).

    ``provides`` names the verified values the check returns (a dict). See
    the module docstring for how the function's outcome becomes the result.
    """
    if not isinstance(name, str) or not name.strip():
        raise CheckDefinitionError(f"a check needs a non-empty name, got {name!r}")
    if isinstance(provides, str):
        raise CheckDefinitionError(f"check {name!r}: provides must be a list of names, not the string {provides!r}")
    provided = tuple(provides)

    def register(function: Callable[[], Any]) -> Callable[[], Any]:
        if _registry is not None:
            _registry[name] = (function, provided)
        else:
            _show(evaluate(name, function, provided))
        return function

    return register


def _plain_number(value: Any) -> Any:
    try:
        return plain_scalar(value)
    except TypeError:
        raise TypeError(f"a verified value must be a number, bool or string, got {type(value).__name__}") from None


def _short_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _code_file(function: Callable[[], Any]) -> str:
    return getattr(getattr(function, "__code__", None), "co_filename", "<hidden check>")


def _student_error(error: BaseException, check_file: str) -> str:
    """The type and first line of a failure, and where in the notebook's code it happened (never a check's frame)."""
    message = _short_error(error)
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename != check_file and not f.filename.startswith("<hidden check")
              and (f.filename.startswith("<") or "ipykernel_" in f.filename)]
    if frames:  # a cell of the notebook, not a library file
        message += f" (in {frames[-1].name}, line {frames[-1].lineno})"
    return message


def evaluate(name: str, function: Callable[[], Any], provides: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run one check function and return its result as a plain dict.

    ``{"name", "passed", "message", "own_words", "values", "provides", "seconds"}``; ``own_words``
    is True when the message is the check's own (its ``AssertionError`` raised in its own frame, with
    the values it interpolated, or this function's words) and False when it comes from an exception
    raised in the student's code (the grader redacts only those). Never raises
    (``KeyboardInterrupt``, which the grader sends when a check runs out of
    time, counts as a failure).
    """
    started = time.perf_counter()
    values: dict[str, Any] = {}
    own = True  # the message is the check's (or this function's) own words, not the student's code's
    try:
        outcome = function()
        if outcome is False:
            passed, message = False, "the check returned False"
        elif isinstance(outcome, dict):
            values = {str(k): _plain_number(v) for k, v in outcome.items()}
            missing = [p for p in provides if p not in values]
            passed = not missing
            message = f"the check did not return {', '.join(missing)}" if missing else ""
        elif outcome is None or outcome is True:
            passed, message = True, ""
        else:
            passed, message = False, f"the check returned {type(outcome).__name__}, not None, a bool or a dict"
    except AssertionError as error:
        frames = traceback.extract_tb(error.__traceback__)
        if frames and frames[-1].filename == _code_file(function):  # the check's own words
            passed, message = False, str(error).strip() or "assertion failed"
        else:  # raised by the student's code: reported as their exception, like any other
            passed, message, own = False, _student_error(error, _code_file(function)), False
    except KeyboardInterrupt:
        passed, message = False, "interrupted: the check ran out of time"
    except (Exception, SystemExit) as error:  # the student's code failing (or calling sys.exit) under the check
        passed, message, own = False, _student_error(error, _code_file(function)), False
    return {"name": name, "passed": passed, "message": message, "own_words": own,
            "values": {k: v for k, v in values.items() if k in provides} if provides else values,
            "provides": list(provides), "seconds": round(time.perf_counter() - started, 3)}


def _show(result: dict[str, Any], mime: str = CHECK_MIME) -> None:
    mark = "passed" if result["passed"] else "FAILED"
    values = ", ".join(f"{k} = {v:.6g}" if isinstance(v, float) else f"{k} = {v}"
                       for k, v in result["values"].items())
    text = f"[check] {result['name']}: {mark}" + (f" — {result['message']}" if result["message"] else "") \
        + (f" ({values})" if values else "")
    emit(mime, result, text)


# --------------------------------------------------------------------------- used by the grader


def collect_quietly(sources: list[str], namespace: dict[str, Any]
                    ) -> tuple[dict[str, tuple[Callable[[], Any], tuple[str, ...]]], list[str]]:
    """The checks the hidden cells ``sources`` define in ``namespace``, and the cells' errors; shows nothing.

    Used by :mod:`labkit.grade.verdict` (a plain interpreter, no display).
    Each cell is compiled as ``<hidden check cell N>``, so a failure's
    frames tell the check's own code from the student's.
    """
    global _registry
    _registry = {}
    errors = []
    try:
        for index, source in enumerate(sources):
            try:
                exec(compile(source, f"<hidden check cell {index + 1}>", "exec"), namespace)
            except Exception as error:  # a check cell failing to define its checks
                errors.append(f"hidden check cell {index + 1}: {_short_error(error)}")
        return dict(_registry), errors
    finally:
        _registry = None
