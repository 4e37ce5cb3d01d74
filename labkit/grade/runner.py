"""Grading a folder of submissions: find them, skip those already graded, run the rest in parallel.

:func:`grade` is what ``labkit grade`` calls. Submissions are
``SUBMISSIONS/<student>.ipynb`` or ``SUBMISSIONS/<student>/<lab>.ipynb``.
The work is spread over a local process pool (``executor="local"``) or a
Dask cluster (``executor="dask"``: a ``LocalCluster`` unless a scheduler
address is given); both run the same function
(:func:`labkit.grade.execute.grade_submission`) on the same tasks, so the
gradebook does not depend on the executor.

The output folder::

    gradebook.csv  gradebook.html  grading.log
    results/<student>.json     every item's points and message, the status, the log
    feedback/<student>.html    what to send the student
    executed/<student>.ipynb   the executed notebook

Each result is written as soon as its submission is done. Running
:func:`grade` again resumes: a submission whose result exists for the same
notebook bytes, rubric, hidden checks and limits is not run again (unless
``force``). A submission that fails in any way never stops the others.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from labkit.grade import skip_slow_imports
from labkit.grade.execute import Outcome, Task, fingerprint, grade_submission
from labkit.grade.gradebook import write_csv, write_html
from labkit.grade.rubric import Rubric
from labkit.grade.sandbox import SandboxSettings, SandboxUnavailable, probe

EXECUTORS = ("local", "dask")
_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,127}$")


class GradingError(ValueError):
    """A grading run that cannot start (no submissions, bad option, unreachable scheduler)."""


@dataclass
class Submission:
    """One student's hand-in (``problem`` is set when it cannot be graded as it is)."""

    student: str
    path: Path | None
    problem: str = ""


@dataclass
class GradeOptions:
    """The options of ``labkit grade`` (see :func:`grade`)."""

    out_dir: Path
    workers: int | None = None
    timeout: float | None = None
    memory: int | None = None
    profile: str | None = None
    executor: str = "local"
    scheduler: str | None = None
    execute: bool = True
    force: bool = False
    unsafe: bool = False


@dataclass
class GradeSummary:
    """What a grading run did."""

    results: list[dict[str, Any]]
    graded: list[str] = field(default_factory=list)  #: run now
    skipped: list[str] = field(default_factory=list)  #: reused from an earlier run
    internal_errors: list[str] = field(default_factory=list)
    sandbox: str = ""
    csv: Path | None = None
    html: Path | None = None
    log: Path | None = None
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        return counts


def find_submissions(folder: Path, lab: str) -> list[Submission]:
    """The submissions in ``folder``, sorted by student; see the module docstring."""
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            path = entry / f"{lab}.ipynb"
            if not path.exists():
                notebooks = sorted(p.name for p in entry.glob("*.ipynb"))
                submission = Submission(entry.name, None, f"no {lab}.ipynb in {entry.name}/"
                                        + (f" (found {', '.join(notebooks)})" if notebooks else ""))
            else:
                submission = Submission(entry.name, path)
        elif entry.suffix == ".ipynb":
            submission = Submission(entry.stem, entry)
        else:
            continue
        if submission.path is not None and submission.path.is_symlink():
            submission = Submission(submission.student, None, "the submission is a symbolic link")
        if not _STUDENT.match(submission.student):
            submission = Submission(re.sub(r"[^A-Za-z0-9._@+\-]", "_", submission.student)[:128] or "_",
                                    None, f"the name {submission.student!r} is not a valid student id "
                                          "(letters, digits, . _ @ + -)")
        if submission.student in found:
            found[submission.student].problem = f"two submissions for {submission.student}"
            found[submission.student].path = None
            continue
        found[submission.student] = submission
    return [found[name] for name in sorted(found)]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _default_workers(memory_mb: int) -> int:
    cpus = os.cpu_count() or 1
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        return cpus
    return max(1, min(cpus, total_mb // max(1, memory_mb)))


class _Log:
    def __init__(self, path: Path, echo: Callable[[str], Any] | None):
        self.path, self.echo = path, echo

    def __call__(self, message: str) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {message}\n")
        if self.echo:
            self.echo(message)


def _internal(task: Task, exc: BaseException) -> Outcome:
    return Outcome(result={"student": task.student, "lab": task.rubric.lab, "status": "error", "internal": True,
                           "message": f"the grader failed: {type(exc).__name__}: {exc}", "items": [],
                           "total": 0.0, "wall_seconds": 0.0, "fingerprint": task.fingerprint})


def _run_local(tasks: list[Task], workers: int, done: Callable[[Outcome], None]) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=skip_slow_imports) as pool:
        futures = {pool.submit(grade_submission, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # a worker process died
                outcome = _internal(futures[future], exc)
            done(outcome)


def _probe_worker(settings: SandboxSettings) -> tuple[bool, str]:
    try:
        return True, probe(settings)
    except SandboxUnavailable as exc:
        return False, str(exc)


def _run_dask(tasks: list[Task], workers: int, scheduler: str | None, settings: SandboxSettings,
              done: Callable[[Outcome], None]) -> None:
    import logging

    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError as exc:
        raise GradingError("--executor dask needs Dask distributed: pip install 'dask[distributed]'") from exc
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from exc
    try:
        if cluster is not None:
            client.run(skip_slow_imports)  # workers of our own LocalCluster only
        if scheduler and not settings.unsafe and tasks and tasks[0].execute:
            for worker, (ok, text) in client.run(_probe_worker, settings).items():
                if not ok:
                    raise SandboxUnavailable(f"on Dask worker {worker}: {text}")
        futures = client.map(grade_submission, tasks, pure=False, key=[f"grade-{t.student}-{t.fingerprint}-{i}"
                                                                        for i, t in enumerate(tasks)])
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        for future in dask_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # a worker died (KilledWorker) or the task could not run
                outcome = _internal(by_key[future.key], exc)
            done(outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def grade(rubric: Rubric, submissions: Path | str, options: GradeOptions,
          log: Callable[[str], Any] | None = print) -> GradeSummary:
    """Grade every submission in ``submissions`` against ``rubric``; see the module docstring.

    Raises :class:`GradingError` when nothing can be graded (no submissions,
    an unknown executor, an output folder inside the submissions) and
    :class:`~labkit.grade.sandbox.SandboxUnavailable` when no sandbox can be
    made and ``options.unsafe`` is not set; in both cases before anything runs.
    """
    started = time.perf_counter()
    submissions = Path(submissions).resolve()
    out = Path(options.out_dir).resolve()
    if not submissions.is_dir():
        raise GradingError(f"the submissions folder {submissions} does not exist")
    if out == submissions or out.is_relative_to(submissions):
        raise GradingError(f"the output folder {out} is inside the submissions folder; choose another --out")
    if options.executor not in EXECUTORS:
        raise GradingError(f"unknown executor {options.executor!r}; choose {' or '.join(EXECUTORS)}")
    if options.scheduler and options.executor != "dask":
        raise GradingError("--scheduler needs --executor dask")
    if options.workers is not None and options.workers < 1:
        raise GradingError(f"--workers must be at least 1, got {options.workers}")
    found = find_submissions(submissions, rubric.lab)
    if not found:
        raise GradingError(f"no submissions in {submissions}: expected <student>.ipynb or "
                           f"<student>/{rubric.lab}.ipynb")
    profile = rubric.profile(options.profile)
    parameters = rubric.run_parameters(options.profile)
    limits = rubric.resolve_limits(profile, timeout=options.timeout, memory=options.memory)
    workers = options.workers or _default_workers(limits.memory)
    remote = options.executor == "dask" and bool(options.scheduler)
    from labkit.data import data_dir

    settings = SandboxSettings(unsafe=options.unsafe, data_dir=str(data_dir()),
                               threads=None if remote else max(1, (os.cpu_count() or 1) // workers))
    description = "not executed (--no-execute): graded as submitted"
    if options.execute:
        description = "sandboxes made on the Dask workers (each checked first)" if remote else probe(settings)

    out.mkdir(parents=True, exist_ok=True)
    say = _Log(out / "grading.log", log)
    say(f"grading {len(found)} submission(s) of {rubric.lab} from {submissions} -> {out}")
    say(f"rubric {rubric.path} ({rubric.max_points:g} points), profile {profile}, parameters {parameters}, "
        f"limits {limits}, executor {options.executor} x{workers}; {description}")
    for warning in rubric.warnings:
        say(f"warning: {warning}")

    options_key = {"parameters": parameters, "limits": limits.__dict__, "execute": options.execute,
                   "unsafe": options.unsafe}
    summary = GradeSummary(results=[], sandbox=description)
    results: dict[str, dict[str, Any]] = {}
    tasks = []
    for submission in found:
        data = submission.path.read_bytes() if submission.path else b""
        key = fingerprint(data, rubric, {**options_key, "problem": submission.problem})
        previous = out / "results" / f"{submission.student}.json"
        if not options.force and previous.is_file():
            try:
                old = json.loads(previous.read_text(encoding="utf-8"))
            except ValueError:
                old = {}
            if old.get("fingerprint") == key and not old.get("internal"):
                results[submission.student] = old
                summary.skipped.append(submission.student)
                say(f"{submission.student}: already graded ({old['status']}, {old.get('total', 0):g}); "
                    "skipped (--force regrades)")
                continue
        tasks.append(Task(student=submission.student, notebook=data, rubric=rubric, profile=profile,
                          parameters=parameters, limits=limits, settings=settings, execute=options.execute,
                          fingerprint=key, source=str(submission.path or submission.student),
                          problem=submission.problem))

    def done(outcome: Outcome) -> None:
        result = outcome.result
        student = result["student"]
        if outcome.executed is not None:
            _write(out / "executed" / f"{student}.ipynb", outcome.executed)
            result["executed_path"] = f"executed/{student}.ipynb"
        if outcome.feedback is not None:
            _write(out / "feedback" / f"{student}.html", outcome.feedback)
            result["feedback"] = f"feedback/{student}.html"
        if result.get("internal"):
            summary.internal_errors.append(student)
        else:
            _write(out / "results" / f"{student}.json", json.dumps(result, ensure_ascii=False, indent=1) + "\n")
        results[student] = result
        summary.graded.append(student)
        detail = f" — {result['message']}" if result.get("message") else ""
        say(f"{student}: {result['status']} {result.get('total', 0):g}/{rubric.max_points:g} "
            f"in {result.get('wall_seconds', 0):.1f} s{detail}")

    if tasks:
        if not options.execute:
            for task in tasks:
                done(grade_submission(task))
        elif options.executor == "dask":
            _run_dask(tasks, workers, options.scheduler, settings, done)
        else:
            _run_local(tasks, workers, done)

    summary.results = [results[s.student] for s in found if s.student in results]
    summary.csv = write_csv(summary.results, rubric, out / "gradebook.csv")
    summary.html = write_html(summary.results, rubric, out / "gradebook.html")
    summary.log = out / "grading.log"
    summary.seconds = time.perf_counter() - started
    counts = ", ".join(f"{status} {count}" for status, count in sorted(summary.counts.items()))
    say(f"done in {summary.seconds:.1f} s: {counts}; {len(summary.skipped)} skipped; "
        f"gradebook {summary.csv} and {summary.html}")
    return summary

