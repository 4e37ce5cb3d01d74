"""Grading one submission: run it in its sandbox with the hidden checks, score it, write its feedback.

:func:`grade_submission` is the unit of work the executors (a local process
pool or Dask) run; it takes a picklable :class:`Task` (the notebook's bytes,
the rubric, the limits) and returns an :class:`Outcome` (the result row, the
executed notebook and the feedback page) without touching the output
folder, so it runs the same on any machine that has labkit and bubblewrap.
It never raises: a failure of the grader itself becomes an ``error`` row
marked ``internal``.

The run (:func:`run_sandboxed`):

1. the notebook, with the rubric's parameters injected (as papermill does),
   is copied alone into a fresh temporary folder, the sandbox's ``/submission``;
2. :mod:`labkit.grade.inside` executes it in the sandbox and reports;
3. only then is the plan of the hidden checks sent in, through its stdin pipe
   (:func:`build_verdict_plan`: the lab's setup cells, the student's cells
   that match the lab's exercise cells, the checks), which run in a fresh
   interpreter (:mod:`labkit.grade.verdict`);
4. meanwhile this process watches the wall clock and the sandbox's memory and
   process limits, and kills the whole sandbox when one is passed.

Statuses: ``graded`` (ran to the end), ``error`` (a cell raised: the
checks still run on what was defined), ``timeout``, ``memory``, ``disk``
(wrote past its disk limit), ``killed`` (the kernel or the sandbox died, or
the process limit was hit), ``invalid`` (not a readable notebook, a link),
and ``missing`` (on the roster, nothing handed in; made by the runner).
"""
from __future__ import annotations

import hashlib
import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from labkit.grade.result import GradeResult
from labkit.report.cells import INJECTED_TAG, CellFailure, CellMap
from labkit.grade.scoring import Evidence, score
from labkit.grade.rubric import Limits, PlanCell, Rubric
from labkit.grade.sandbox import Sandbox, SandboxSettings

STATUSES = ("graded", "error", "timeout", "memory", "disk", "killed", "invalid", "missing")
#: Seconds allowed on top of the notebook's limit for the kernel to start and the runner to report.
STARTUP_GRACE = 60.0
#: Submissions larger than this are invalid (bytes).
MAX_SUBMISSION_BYTES = 100 << 20
_MEMORY_WORDS = ("can't allocate memory", "cannot allocate memory", "out of memory")
_DISK_WORDS = ("no space left on device", "disk quota exceeded", "file too large")


@dataclass(frozen=True)
class Task:
    """Everything needed to grade one submission (picklable)."""

    student: str
    notebook: bytes
    rubric: Rubric
    profile: str | None
    parameters: dict[str, Any]
    limits: Limits
    settings: SandboxSettings
    execute: bool = True
    fingerprint: str = ""
    source: str = ""  #: the submission's path, for messages
    problem: str = ""  #: set when the submission was rejected before running (status invalid)
    data: str = ""  #: which data the run sees (runner.data_source), shown in the feedback


@dataclass
class Outcome:
    """A graded submission: its result row, its executed notebook and its feedback page."""

    result: GradeResult
    executed: str | None = None
    feedback: str | None = None


@dataclass
class Run:
    """What running a submission produced, before scoring."""

    status: str
    reason: str = ""
    notebook: Any = None
    failure: CellFailure | None = None  #: its cell_index is the student's (CellMap)
    checks: dict[str, dict] = field(default_factory=dict)
    checks_ran: bool = False
    check_errors: list[str] = field(default_factory=list)
    log: str = ""
    flags: list[str] = field(default_factory=list)  #: suspicious exercise code (labkit.grade.flags)
    notes: list[str] = field(default_factory=list)  #: how the checks saw the submission


def fingerprint(notebook: bytes, rubric: Rubric, options: dict[str, Any]) -> str:
    """The key under which a submission's result is reused when grading resumes."""
    digest = hashlib.sha256(notebook)
    digest.update(rubric.fingerprint().encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


def read_notebook(data: bytes) -> Any:
    """The submission as a notebook; raises ValueError saying why it is not one.

    A notebook larger than :data:`MAX_SUBMISSION_BYTES` (its outputs, usually)
    is graded without its outputs: they are cleared before it runs anyway.
    """
    large = len(data) > MAX_SUBMISSION_BYTES
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises many kinds for non-notebooks
        raise ValueError(f"not a Jupyter notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) and "cell_type" in c for c in nb.cells):
        raise ValueError("not a Jupyter notebook: it has no list of cells")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        cell.setdefault("metadata", {})
        if not isinstance(cell.get("source"), str):
            cell["source"] = "".join(cell.get("source") or [])
        if large and cell.cell_type == "code":
            cell.outputs = []
        if large:
            cell.pop("attachments", None)
    if large:
        nb.metadata["labkit_grade_note"] = (f"the notebook was {len(data) >> 20} MB, over the "
                                            f"{MAX_SUBMISSION_BYTES >> 20} MB limit: graded with its outputs removed")
    return nb


def _inject(nb: Any, parameters: dict[str, Any]) -> Any:
    """``nb`` with the parameters cell papermill would inject (outputs of earlier runs cleared)."""
    from papermill.parameterize import parameterize_notebook

    nb.metadata.setdefault("papermill", {})  # what papermill's own loader adds
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb.metadata.setdefault("language_info", {"name": "python"})
    return parameterize_notebook(nb, dict(parameters), kernel_name="python3", language="python")


def _lines(source: str) -> list[str]:
    return [" ".join(line.split()) for line in source.splitlines() if line.strip()]


def _containment(released: str, candidate: str) -> float:
    """The share of the released cell's lines (stubs left out) found in ``candidate``: what the student kept."""
    from labkit.grade.release import STUB_PREFIX

    wanted = [line for line in _lines(released) if not line.startswith(STUB_PREFIX)]
    have = set(_lines(candidate))
    return sum(line in have for line in wanted) / len(wanted) if wanted else 0.0


def match_exercises(rubric: Rubric, submitted: Any) -> list[tuple[PlanCell, Any, str]]:
    """For each exercise cell of the solution, the student's cell that holds their answer.

    ``(plan cell, student's cell or None, how it was found)``. A cell is
    found by its id (``labkit release`` keeps the solution's ids and Jupyter
    keeps them while the student edits), else as the student's code cell,
    after the one matched before, that keeps the largest share (at least
    half) of the released cell's lines other than the stubs.
    """
    cells = [cell for cell in submitted.cells if cell.cell_type == "code"
             and INJECTED_TAG not in cell.metadata.get("tags", [])]
    by_id = {str(cell.get("id")): position for position, cell in enumerate(cells) if cell.get("id")}
    matched, after, taken = [], -1, set()
    for plan_cell in rubric.plan:
        if plan_cell.origin != "exercise":
            continue
        position = by_id.get(plan_cell.cell_id) if plan_cell.cell_id else None
        how = "by its cell id"
        if position is None or position in taken:
            best, best_share = None, 0.5
            for candidate in range(after + 1, len(cells)):
                share = _containment(plan_cell.released, cells[candidate].source)
                if candidate not in taken and (share > best_share or (best is None and share == best_share)):
                    best, best_share = candidate, share
            position, how = best, f"as the cell that keeps {best_share:.0%} of the exercise cell's lines"
        if position is None:
            matched.append((plan_cell, None, "not found"))
            continue
        taken.add(position)
        after = max(after, position)
        matched.append((plan_cell, cells[position], how))
    return matched


def build_verdict_plan(rubric: Rubric, submitted: Any, parameters: dict[str, Any]
                       ) -> tuple[dict[str, Any], list[str], list[str]]:
    """The plan sent to :mod:`labkit.grade.verdict`, the flags of the student's exercise code, and notes.

    Setup and parameters cells are the solution's (trusted); after the
    parameters cell come the injected parameters, as papermill injects them;
    each exercise cell is the student's matching cell (:func:`match_exercises`).
    """
    from papermill.translators import translate_parameters

    from labkit.grade.flags import flag_code

    exercises = {plan_cell.index: (cell, how) for plan_cell, cell, how in match_exercises(rubric, submitted)}
    cells, notes, student_code = [], [], []
    for plan_cell in rubric.plan:
        if plan_cell.origin == "exercise":
            cell, how = exercises[plan_cell.index]
            label = f"exercise: the lab's cell {plan_cell.index}"
            if cell is None:
                notes.append(f"no cell of the notebook matches the lab's exercise cell {plan_cell.index}: "
                             "its functions are missing when the checks run")
                continue
            cells.append({"origin": "exercise", "label": label, "source": cell.source})
            student_code.append((f"exercise cell (lab's cell {plan_cell.index})", cell.source))
            continue
        cells.append({"origin": plan_cell.origin, "label": f"setup: the lab's cell {plan_cell.index}",
                      "source": plan_cell.source})
        if plan_cell.origin == "parameters" and parameters:
            cells.append({"origin": "parameters", "label": "injected parameters",
                          "source": translate_parameters("python", "python", dict(parameters), "Parameters")})
    flags = flag_code(student_code, [c.source for c in rubric.plan if c.origin != "exercise"])
    plan = {"cells": cells, "checks": list(rubric.checks.sources), "check_names": list(rubric.checks.names)}
    return plan, flags, notes


def _reader(stream: Any, inbox: "queue.Queue[dict | None]") -> None:
    for line in stream:
        try:
            inbox.put(json.loads(line))
        except ValueError:
            continue
    inbox.put(None)


def classify(failure: CellFailure | None, limit: str | None, timed_out: bool,
             got_notebook: bool, returncode: int | None) -> tuple[str, str]:
    """``(status, reason)`` of a run from what was seen: the failed cell, a sandbox limit reached
    (``"memory"``, ``"processes"``), the clock, whether a notebook came back, the runner's exit code."""
    if limit == "memory":
        return "memory", "the sandbox ran out of memory"
    if limit == "processes":
        return "killed", "the sandbox reached its limit on processes"
    if failure is not None:
        where = f"cell {failure.cell_index}"
        text = f"{failure.ename}: {failure.evalue}".strip(": ")
        if failure.kind == "timeout":
            return "timeout", f"the notebook ran out of time ({where})"
        if failure.ename == "MemoryError" or any(w in failure.evalue.lower() for w in _MEMORY_WORDS):
            return "memory", f"{where}: {text}"
        if any(w in failure.evalue.lower() for w in _DISK_WORDS):
            return "disk", f"{where}: the submission wrote more than its disk limit ({text})"
        if failure.kind == "dead_kernel":
            return "killed", f"the kernel died in {where}"
        return "error", f"{where}: {text}"
    if timed_out:
        return "timeout", "the sandbox did not finish in time"
    if not got_notebook:
        return "killed", f"the sandbox stopped without a result (exit code {returncode})"
    return "graded", ""


def run_sandboxed(task: Task, nb: Any, plan: dict[str, Any] | None = None) -> Run:
    """Run ``nb`` (already injected) and the hidden checks in a sandbox; see the module docstring."""
    limits = task.limits
    plan = plan or {"cells": [], "checks": list(task.rubric.checks.sources),
                    "check_names": list(task.rubric.checks.names)}
    folder = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    try:
        work = folder / "work"
        work.mkdir()
        name = f"{task.rubric.lab}.ipynb"
        nbformat.write(nb, work / name)
        sandbox = Sandbox(task.settings, work, memory_mb=limits.memory, processes=limits.processes,
                          disk_mb=limits.disk)
        lang = str(task.parameters.get("lang") or task.rubric.default_lang)
        command = [sys.executable, "-m", "labkit.grade.inside", "--notebook", f"{sandbox.work_path}/{name}",
                   "--timeout", str(limits.timeout), "--lang", lang if lang in ("en", "zh") else "en"]
        if sandbox.uses_rlimits:
            command += ["--rlimit-data", str(limits.memory << 20)]
        if not task.settings.unsafe:
            command.append("--sandboxed")
        with open(folder / "runner.log", "wb") as log:
            try:
                run = _supervise(task, sandbox, command, log, plan)
            finally:
                sandbox.close()
        tail = (folder / "runner.log").read_bytes()[-4000:].decode(errors="replace")
        run.log = f"{sandbox.describe()}\n{tail}".strip()
        return run
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _supervise(task: Task, sandbox: Sandbox, command: list[str], log: Any, plan: dict[str, Any]) -> Run:
    limits = task.limits
    process = sandbox.start(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    inbox: queue.Queue[dict | None] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, inbox), daemon=True).start()
    deadline = time.monotonic() + limits.timeout + STARTUP_GRACE
    notebook_message: dict | None = None
    checks_message: dict | None = None
    limit: str | None = None
    timed_out = checks_expected = False
    while True:
        try:
            message = inbox.get(timeout=0.2)
        except queue.Empty:
            message = {}
        limit = sandbox.limit_reached()
        if limit:
            break
        if message is None:  # the runner's stdout closed: it exited or died
            break
        event = message.get("event")
        if event == "notebook" and notebook_message is None:
            notebook_message = message
            sent = message.get("failure")
            status, _ = classify(CellFailure.from_dict(sent) if sent else None, None, False, True, None)
            run_checks = checks_expected = status in ("graded", "error") and bool(task.rubric.checks.sources)
            reply = {"verdict": plan if run_checks else None, "budget": limits.check_timeout}
            try:
                process.stdin.write((json.dumps(reply) + "\n").encode())
                process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            deadline = time.monotonic() + (limits.check_timeout + 30 if run_checks else 15)
            if not run_checks:
                break
        elif event == "checks":
            checks_message = message
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
    limit = limit or sandbox.limit_reached()
    sandbox.kill()
    limit = limit or sandbox.limit_reached()

    nb = nbformat.reads(notebook_message["notebook"], as_version=4) if notebook_message else None
    sent = notebook_message.get("failure") if notebook_message else None
    failure = CellFailure.from_dict(sent) if sent else None
    if failure is not None and nb is not None:  # the injected notebook's index -> the student's
        failure.cell_index = CellMap.skipping_injected(nb.cells).source_index(failure.cell_index)
    status, reason = classify(failure, limit, timed_out and notebook_message is None,
                              notebook_message is not None, process.returncode)
    if notebook_message and notebook_message.get("disk_full") and status in ("graded", "error", "killed"):
        status, reason = "disk", (f"the submission filled its disk limit ({limits.disk} MB) in "
                                  f"{notebook_message['disk_full']}")
    run = Run(status=status, reason=reason, notebook=nb, failure=failure)
    if checks_expected and checks_message is None and status in ("graded", "error"):
        if timed_out:
            run.status, run.reason = "timeout", "the hidden checks did not finish in time"
        else:
            run.status, run.reason = "killed", "the sandbox stopped before the hidden checks finished"
    if checks_message is not None:
        run.checks_ran = True
        run.checks, run.check_errors = shown_verdicts(list(task.rubric.checks.sources),
                                                      checks_message.get("results", []),
                                                      checks_message.get("errors", []))
        died = [name for name, result in run.checks.items() if result.get("died")]
        if died and run.status in ("graded", "error"):
            run.status = "killed"
            run.reason = ("the process running the hidden checks died (the submission's exercise code ended it, "
                          "e.g. os._exit, or crashed the interpreter) before " + ", ".join(died[:5])
                          + (" and more" if len(died) > 5 else "") + " finished")
            run.flags.append("the hidden checks' process died under the submission's exercise code")
        for result in run.checks.values():
            for what in result.get("tampered", [])[:5]:
                entry = (f"the checks' interpreter saw the submission's code {what}" if what.startswith("reading ")
                         else f"the submission's code wrote to {what}" if what.startswith("the hidden checks' results")
                         else f"the checks' interpreter found {what} replaced by the submission's code")
                if entry not in run.flags:
                    run.flags.append(entry)
    return run


def shown_verdicts(check_sources: list[str], results: list[Any], errors: list[Any]
                   ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The checks' results and errors as the student may see them: ``({name: result}, errors)``.

    A check's own ``AssertionError`` message (``own_words``: the instructor's words with the values
    it interpolated) is shown as written; a message from an exception raised in the student's code,
    and every cell error, has each line and string constant of the checks removed
    (:func:`labkit.grade.verdict.redactor`). Every message is capped at ``MAX_MESSAGE`` characters.
    """
    from labkit.grade.verdict import MAX_MESSAGE, redactor

    redact = redactor(check_sources)
    shown = {}
    for r in results:
        if isinstance(r, dict) and "name" in r:
            message = str(r.get("message", ""))
            shown[r["name"]] = {**r, "message": message[:MAX_MESSAGE] if r.get("own_words") is True
                                else redact(message)}
    return shown, [redact(str(e)) for e in errors]


def run_as_submitted(nb: Any) -> Run:
    """``--no-execute``: the notebook as handed in, its first error output as its failure."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                failure = CellFailure(index, cell.get("execution_count"), output.get("ename", ""),
                                      output.get("evalue", ""), kind="error")
                status, reason = classify(failure, None, False, True, None)
                return Run(status=status, reason=reason, notebook=nb, failure=failure)
    return Run(status="graded", notebook=nb)


def build_result(task: Task, started: float, *, run: Run | None = None, items: list[Any] | None = None,
                 error: BaseException | None = None) -> GradeResult:
    """The one place a :class:`~labkit.grade.result.GradeResult` is made: from a run and its items, or an error
    of the grader itself (``internal``, with its traceback as the log)."""
    lang = str(task.parameters.get("lang") or task.rubric.default_lang)
    base = dict(student=task.student, lab=task.rubric.lab, fingerprint=task.fingerprint, source=task.source,
                profile=task.profile, lang=lang if lang in ("en", "zh") else "en", executed=task.execute, data=task.data, max_total=task.rubric.max_points,
                wall_seconds=round(time.perf_counter() - started, 2))
    if error is not None:
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))[-4000:]
        return GradeResult(**base, status="error", internal=True, log=detail,
                           message=f"the grader failed: {type(error).__name__}: {error}")
    assert run is not None
    items = list(items or [])
    return GradeResult(**base, status=run.status, message=run.reason, items=[item.to_dict() for item in items],
                       total=round(sum(item.points for item in items), 4), failure=run.failure,
                       checks=list(run.checks.values()), check_errors=run.check_errors, flags=run.flags,
                       notes=run.notes, log=run.log)


def grade_submission(task: Task) -> Outcome:
    """Grade one submission (see the module docstring). Never raises."""
    started = time.perf_counter()
    try:
        if task.problem:
            raise ValueError(task.problem)
        submitted = read_notebook(task.notebook)
    except ValueError as exc:
        run, submitted = Run(status="invalid", reason=str(exc)), None
    else:
        try:
            # the exercise cells' static flags (labkit.grade.flags) in both modes
            plan, flags, notes = build_verdict_plan(task.rubric, submitted, task.parameters)
            if submitted.metadata.get("labkit_grade_note"):
                notes.insert(0, submitted.metadata["labkit_grade_note"])
            if task.execute:
                run = run_sandboxed(task, _inject(nbformat.from_dict(json.loads(json.dumps(submitted))),
                                                  task.parameters), plan)
            else:
                run = run_as_submitted(submitted)
            run.flags, run.notes = flags + run.flags, notes + run.notes
        except Exception as exc:  # the grader failed, not the submission
            return Outcome(result=build_result(task, started, error=exc))
    try:
        evidence = Evidence(status=run.status, notebook=run.notebook, checks=run.checks,
                            checks_ran=run.checks_ran, reason=run.reason)
        result = build_result(task, started, run=run, items=score(task.rubric, task.profile, evidence))
        from labkit.grade.gradebook import feedback_html

        shown = run.notebook if run.notebook is not None else submitted
        executed = nbformat.writes(run.notebook) if run.notebook is not None else None
        return Outcome(result=result, executed=executed, feedback=feedback_html(result, shown))
    except Exception as exc:
        return Outcome(result=build_result(task, started, error=exc))
