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

import hashlib
import json
import multiprocessing
import os
import stat
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from labkit.grade import skip_slow_imports
from labkit.grade.execute import Outcome, Task, build_result, fingerprint, grade_submission
from labkit.grade.manual import ManualError, merge, read_entries, write_entries, write_pages
from labkit.grade.result import GradeResult, provisional_note
from labkit.grade.gradebook import write_csv, write_html
from labkit.grade.rubric import Rubric
from labkit.grade.sandbox import SandboxSettings, SandboxUnavailable, probe

EXECUTORS = ("local", "dask")


class GradingError(ValueError):
    """A grading run that cannot start (no submissions, bad option, unreachable scheduler)."""


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Raise :class:`GradingError` (one line, before any work) when ``out`` cannot be the output folder:
    it, or a folder above it, is a file, or it is not writable."""
    for folder in [out, *out.parents]:
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                what = "is" if folder == out else f"is inside {folder}, which is"
                raise GradingError(f"the output folder {out} {what} a file, not a folder; choose another {option}")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise GradingError(f"the output folder {folder} is not writable; choose another {option}")
            return


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
    only: list[str] | None = None  #: regrade just these students; the others keep their results
    roster: Path | None = None  #: CSV of student id, name, class: names in the rows, "missing" rows


@dataclass
class GradeSummary:
    """What a grading run did."""

    results: list[GradeResult]
    graded: list[str] = field(default_factory=list)  #: run now
    skipped: list[str] = field(default_factory=list)  #: reused from an earlier run (not_selected included)
    not_selected: list[str] = field(default_factory=list)  #: not in --only: their earlier results kept as they were
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


def file_name(student: str) -> str:
    """``student`` as a file name for the outputs: reversible, and distinct for distinct ids.

    Ids are kept as they are (Chinese names included) except ``%``, path
    separators, control characters and ``<>:"|?*``, which become ``%XX`` of their
    UTF-8 bytes, as does a leading ``.`` or ``-``. :func:`student_id` undoes it.
    """
    out = []
    for position, char in enumerate(student):
        bad = (char in '%/\\<>:"|?*' or not char.isprintable() or (position == 0 and char in ".-")
               or (char.isspace() and char != " "))
        out.append("".join(f"%{byte:02X}" for byte in char.encode()) if bad else char)
    name = "".join(out) or "%00"
    return name if len(name.encode()) <= 200 else name[:60] + "%" + hashlib.sha256(student.encode()).hexdigest()[:16]


def student_id(name: str) -> str:
    """The inverse of :func:`file_name` (for names it did not have to shorten)."""
    from urllib.parse import unquote

    return unquote(name)


def _kind(path: Path) -> str:
    """"file", "dir", "link" or "special" (a named pipe, socket or device: never opened)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "special"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "special"


def find_submissions(folder: Path, lab: str, skipped: list[str] | None = None) -> list[Submission]:
    """The submissions in ``folder``, sorted by student; see the module docstring.

    The student id is the entry's own name (``<id>.ipynb``, any case of the
    suffix, or the folder ``<id>/``), Unicode included, never altered: two
    entries never share a row unless they are the same id (then both are one
    ``invalid`` row: "two submissions"). A symbolic link is an ``invalid``
    row; hidden entries (``.name``), named pipes, sockets, devices and files
    that are not notebooks get no row, and a line in ``skipped`` saying why.
    """
    skipped = skipped if skipped is not None else []
    claims: dict[str, list[Submission]] = {}
    for entry in sorted(folder.iterdir()):
        kind = _kind(entry)
        if entry.name.startswith("."):
            skipped.append(f"{entry.name}: a hidden entry (its name starts with a dot); not graded")
            continue
        is_notebook = entry.suffix.lower() == ".ipynb"
        if kind == "special":
            skipped.append(f"{entry.name}: not a regular file or folder (a named pipe, socket or device); "
                           "not opened")
            continue
        if kind == "link":
            student = entry.name[: -len(entry.suffix)] if is_notebook else entry.name
            submission = Submission(student, None, f"{entry.name} is a symbolic link; hand in the file itself")
        elif kind == "dir":
            inside = [p for p in entry.iterdir() if p.name.lower() == f"{lab}.ipynb".lower()]
            if len(inside) == 1 and _kind(inside[0]) == "file":
                submission = Submission(entry.name, inside[0])
            elif len(inside) == 1:
                what = "a symbolic link" if _kind(inside[0]) == "link" else "not a regular file"
                submission = Submission(entry.name, None, f"{entry.name}/{inside[0].name} is {what}")
            elif len(inside) > 1:
                submission = Submission(entry.name, None, f"{entry.name}/ holds {len(inside)} notebooks named "
                                                          f"{lab}.ipynb in different cases")
            else:
                notebooks = sorted(p.name for p in entry.iterdir() if p.suffix.lower() == ".ipynb")
                submission = Submission(entry.name, None, f"no {lab}.ipynb in {entry.name}/"
                                        + (f" (found {', '.join(notebooks)})" if notebooks else ""))
        elif is_notebook:
            submission = Submission(entry.name[: -len(entry.suffix)], entry)
        else:
            skipped.append(f"{entry.name}: not a notebook (.ipynb) nor a student's folder; not graded")
            continue
        if not submission.student.strip():
            submission = Submission(entry.name, None, f"{entry.name!r} has no name before .ipynb")
        claims.setdefault(submission.student, []).append(submission)
    found = []
    for student, entries in claims.items():
        if len(entries) > 1:
            names = ", ".join(str(e.path.name if e.path else "") or student for e in entries)
            found.append(Submission(student, None, f"{len(entries)} submissions for {student}: {names}"))
        else:
            found.append(entries[0])
    return sorted(found, key=lambda s: s.student)


def read_submission(path: Path, limit: int) -> bytes:
    """The bytes of a submission file, never following a link nor blocking on a pipe; at most ``limit`` + 1."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


#: Submission files larger than this are not read (bytes); up to it, a large notebook is graded without outputs.
MAX_READ_BYTES = 512 << 20


def data_source() -> dict[str, str]:
    """Which data the submissions will see: ``{"kind": "full" | "sample", "dir", "text"}``.

    "full" when ``$LABKIT_DATA`` (or the default data folder) holds at least
    one of the course's datasets, "sample" when the labs will fall back to
    the embedded samples: the gradebook, the log and each feedback page say
    which, and it is part of the fingerprint that decides "already graded".
    """
    from labkit.data.files import data_dir  # imports no torch

    folder = data_dir()
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[:1] != "." and p.name != "cache") \
        if folder.is_dir() else []
    if names:
        return {"kind": "full", "dir": str(folder),
                "text": f"full data from {folder} ({', '.join(names)})"}
    return {"kind": "sample", "dir": str(folder),
            "text": f"embedded samples only: {folder} holds no dataset (set LABKIT_DATA to the course data)"}


def _executed(out: Path, result: GradeResult) -> Any:
    """The executed notebook of a result, read back from the output folder (None when there is none)."""
    import nbformat

    if not result.executed_path or not (out / result.executed_path).is_file():
        return None
    try:
        return nbformat.read(out / result.executed_path, as_version=4)
    except Exception:  # an unreadable file: shown without its notebook
        return None


def _feedback(result: GradeResult, executed: str | None) -> str:
    import nbformat

    from labkit.grade.gradebook import feedback_html

    return feedback_html(result, nbformat.reads(executed, as_version=4) if executed else None)


def _rewrite(out: Path, result: GradeResult) -> None:
    """Write a changed (reused) result again, with its feedback page."""
    import nbformat

    name = file_name(result.student)
    nb = _executed(out, result)
    _write(out / "feedback" / f"{name}.html", _feedback(result, nbformat.writes(nb) if nb is not None else None))
    _write(out / "results" / f"{name}.json", json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n")


def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster: a CSV with a student id column (``student``/``id``/``学号``), and ``name``/``姓名``,
    ``class``/``班级`` if present. Raises :class:`GradingError` naming the fix."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise GradingError(f"--roster {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
        pick = lambda *names: next((columns[n] for n in names if n in columns), None)  # noqa: E731
        id_col, name_col, class_col = pick("student", "id", "学号", "student_id"), pick("name", "姓名"), \
            pick("class", "班级", "group")
        if id_col is None:
            raise GradingError(f"--roster {path}: no student id column (student, id or 学号) in its header")
        return [{"student": (row.get(id_col) or "").strip(), "name": (row.get(name_col) or "").strip() if name_col
                 else "", "class": (row.get(class_col) or "").strip() if class_col else ""}
                for row in reader if (row.get(id_col) or "").strip()]


def apply_roster(results: list[GradeResult], roster: list[dict[str, str]], rubric: Rubric) -> list[GradeResult]:
    """The results with the roster's names and classes, plus a ``missing`` row for each student without one."""
    by_id = {r.student: r for r in results}
    for entry in roster:
        result = by_id.get(entry["student"])
        if result is None:
            result = by_id[entry["student"]] = GradeResult(
                student=entry["student"], lab=rubric.lab, status="missing", max_total=rubric.max_points,
                message="no submission")
        result.name, result.group = entry["name"], entry["class"]
    return [by_id[s] for s in sorted(by_id)]


def write_lms(results: list[GradeResult], path: Path) -> Path:
    """``lms.csv``: student id, total, comment — the shape a learning management system's grade import takes.

    A manual item not graded yet is not "not earned": the comment says the total is provisional instead."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "total", "comment"])
        for result in sorted(results, key=lambda r: r.student):
            failed = [item["id"] for item in result.items
                      if not item.get("passed") and not item.get("points") and not item.get("pending")]
            partly = [f"{item['id']} {item['points']:g}/{item.get('max_points', 0):g}" for item in result.items
                      if not item.get("passed") and item.get("points")]
            comment = result.status if result.status != "graded" else "graded"
            if result.message:
                comment += f": {result.message}"
            if failed and result.status in ("graded", "error"):
                comment += f"; not earned: {', '.join(failed)}"
            if partly and result.status in ("graded", "error"):
                comment += f"; partly earned: {', '.join(partly)}"
            if provisional_note(result):  # manual items not graded yet: the total counts them as 0
                comment += f"; {provisional_note(result)}"
            for item in result.items:  # the instructor's comments on manual items
                if item.get("comment"):
                    comment += f"; {item['id']}: {item['comment']}"
            writer.writerow([_csv_cell(result.student), f"{result.total:g}", _csv_cell(comment[:500])])
    return path


def _csv_cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


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
    return Outcome(result=build_result(task, time.perf_counter(), error=exc))


def _worker_start() -> None:
    from labkit.grade.sandbox import die_with_parent

    die_with_parent()  # a grader killed with SIGKILL takes its workers (and their sandboxes) with it
    skip_slow_imports()


def _run_local(tasks: list[Task], workers: int, done: Callable[[Outcome], None]) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start) as pool:
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
    from nbformat.validator import MissingIDFieldWarning

    # students' notebooks written by older tools have no cell ids: nbformat adds them as it reads; no warning each
    warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
    started = time.perf_counter()
    submissions = Path(submissions).resolve()
    out = Path(options.out_dir).resolve()
    if submissions.exists() and not submissions.is_dir():
        raise GradingError(f"{submissions} is a file, not a folder: give the folder that holds the submissions "
                           "(<student>.ipynb or <student>/<lab>.ipynb)")
    if not submissions.is_dir():
        raise GradingError(f"the submissions folder {submissions} does not exist")
    if out == submissions or out.is_relative_to(submissions):
        raise GradingError(f"the output folder {out} is inside the submissions folder; choose another --out")
    check_out_dir(out)
    if options.executor not in EXECUTORS:
        raise GradingError(f"unknown executor {options.executor!r}; choose {' or '.join(EXECUTORS)}")
    if options.scheduler and options.executor != "dask":
        raise GradingError("--scheduler needs --executor dask")
    if options.workers is not None and options.workers < 1:
        raise GradingError(f"--workers must be at least 1, got {options.workers}")
    skipped_entries: list[str] = []
    found = find_submissions(submissions, rubric.lab, skipped_entries)
    if not found:
        raise GradingError(f"no submissions in {submissions}: expected <student>.ipynb or "
                           f"<student>/{rubric.lab}.ipynb")
    if options.only:
        unknown = sorted(set(options.only) - {s.student for s in found})
        if unknown:
            raise GradingError(f"--only: no submission for {', '.join(unknown)} in {submissions}")
    roster = read_roster(options.roster) if options.roster else None
    try:
        manual_entries = read_entries(out, rubric)
    except ManualError as exc:
        raise GradingError(str(exc)) from None
    profile = rubric.profile(options.profile)
    parameters = rubric.run_parameters(options.profile)
    limits = rubric.resolve_limits(profile, timeout=options.timeout, memory=options.memory)
    workers = options.workers or _default_workers(limits.memory)
    remote = options.executor == "dask" and bool(options.scheduler)
    data = data_source()
    settings = SandboxSettings(unsafe=options.unsafe, data_dir=data["dir"],
                               threads=None if remote else max(1, (os.cpu_count() or 1) // workers))
    description = "not executed (--no-execute): graded as submitted"
    if options.execute:
        description = "sandboxes made on the Dask workers (each checked first)" if remote else probe(settings)

    out.mkdir(parents=True, exist_ok=True)
    say = _Log(out / "grading.log", log)
    say(f"grading {len(found)} submission(s) of {rubric.lab} from {submissions} -> {out}")
    say(f"rubric {rubric.path} ({rubric.max_points:g} points), profile {profile}, parameters {parameters}, "
        f"limits {limits}, executor {options.executor} x{workers}; {description}")
    say(f"data: {data['text']}")
    for warning in rubric.warnings:
        say(f"warning: {warning}")
    for line in skipped_entries:
        say(f"skipped {line}")

    options_key = {"parameters": parameters, "limits": limits.__dict__, "execute": options.execute,
                   "unsafe": options.unsafe, "data": data["kind"], "data_dir": data["dir"]}
    summary = GradeSummary(results=[], sandbox=description)
    results: dict[str, GradeResult] = {}
    tasks = []
    for submission in found:
        notebook, problem = b"", submission.problem
        if submission.path is not None:
            try:
                notebook = read_submission(submission.path, MAX_READ_BYTES)
            except OSError as exc:
                problem = f"cannot read {submission.path.name}: {exc.strerror or exc}"
            if len(notebook) > MAX_READ_BYTES:
                notebook, problem = b"", f"the file is larger than {MAX_READ_BYTES >> 20} MB"
        key = fingerprint(notebook, rubric, {**options_key, "problem": problem})
        previous = out / "results" / f"{file_name(submission.student)}.json"
        keep = options.only is not None and submission.student not in options.only
        if keep and previous.is_file():  # --only: the others keep their results, whatever changed
            try:
                results[submission.student] = GradeResult.from_dict(json.loads(previous.read_text(encoding="utf-8")))
                summary.skipped.append(submission.student)
                summary.not_selected.append(submission.student)
                continue
            except ValueError:
                pass
        if keep:
            continue
        # unchanged submission, rubric and options: its result is kept (with --only too: manual entries merge
        # below without running anything); --force regrades
        if not options.force and previous.is_file():
            try:
                old = GradeResult.from_dict(json.loads(previous.read_text(encoding="utf-8")))
            except ValueError:
                old = None
            if old is not None and old.fingerprint == key and not old.internal and old.student == submission.student:
                results[submission.student] = old
                summary.skipped.append(submission.student)
                say(f"{submission.student}: already graded ({old['status']}, {old.get('total', 0):g}); "
                    "skipped (--force regrades)")
                continue
        tasks.append(Task(student=submission.student, notebook=notebook, rubric=rubric, profile=profile,
                          parameters=parameters, limits=limits, settings=settings, execute=options.execute,
                          fingerprint=key, source=str(submission.path or submission.student),
                          problem=problem, data=data["text"]))

    def done(outcome: Outcome) -> None:
        result = outcome.result
        student = result["student"]
        name = file_name(student)
        if manual_entries and not result.internal and merge(result, rubric, manual_entries):
            outcome.feedback = _feedback(result, outcome.executed)
        if outcome.executed is not None:
            _write(out / "executed" / f"{name}.ipynb", outcome.executed)
            result.executed_path = f"executed/{name}.ipynb"
        if outcome.feedback is not None:
            _write(out / "feedback" / f"{name}.html", outcome.feedback)
            result.feedback = f"feedback/{name}.html"
        if result.get("internal"):
            summary.internal_errors.append(student)
        else:
            _write(out / "results" / f"{name}.json", json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n")
        results[student] = result
        summary.graded.append(student)
        detail = f" — {result['message']}" if result.get("message") else ""
        provisional = " (provisional: manual items not graded yet)" if provisional_note(result) else ""
        say(f"{student}: {result['status']} {result.get('total', 0):g}/{rubric.max_points:g}{provisional} "
            f"in {result.get('wall_seconds', 0):.1f} s{detail}")

    if tasks:
        if not options.execute:
            for task in tasks:
                done(grade_submission(task))
        elif options.executor == "dask":
            _run_dask(tasks, workers, options.scheduler, settings, done)
        else:
            _run_local(tasks, workers, done)

    if rubric.has_manual:
        for student in summary.skipped:  # entries made since: merged without running anything
            result = results[student]
            if merge(result, rubric, manual_entries):
                _rewrite(out, result)
        notebooks = {s: _executed(out, results[s]) for s in results}
        write_entries(out, rubric, sorted(results), manual_entries)
        pages = write_pages(out, rubric, [results[s] for s in sorted(results)], notebooks, manual_entries)
        say(f"manual items: {', '.join(str(p.relative_to(out)) for p in pages)} (each page's form saves a new "
            f"manual.csv); points and comments go in {out / 'manual.csv'}")
    summary.results = [results[s.student] for s in found if s.student in results]
    if roster is not None:
        summary.results = apply_roster(summary.results, roster, rubric)
    summary.csv = write_csv(summary.results, rubric, out / "gradebook.csv")
    summary.html = write_html(summary.results, rubric, out / "gradebook.html", data=data["text"])
    write_lms(summary.results, out / "lms.csv")
    summary.log = out / "grading.log"
    summary.seconds = time.perf_counter() - started
    counts = ", ".join(f"{status} {count}" for status, count in sorted(summary.counts.items()))
    reused = len(summary.skipped) - len(summary.not_selected)
    kept = [f"{reused} unchanged since the last run (results kept; --force regrades)"] if reused else []
    if options.only is not None:
        kept.append(f"{len(summary.not_selected)} not selected (--only; their earlier results kept)")
    say(f"done in {summary.seconds:.1f} s: {counts}; {'; '.join(kept) + '; ' if kept else ''}"
        f"gradebook {summary.csv} and {summary.html}")
    return summary

