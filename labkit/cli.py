"""The ``labkit`` command: a thin layer over the library (parse, dispatch, report).

Exit codes of ``labkit report`` (also in README.md):

* 0 — success;
* 1 — the notebook ran but a cell failed (the HTML and PDF are still written, showing the error);
* 2 — bad invocation: unknown lab, unknown parameter, wrong type or choice; nothing was run or written;
* 3 — the notebook ran, but the PDF could not be made (e.g. Chromium is missing); the HTML is written;
* 70 — labkit itself failed (a bug; ``LABKIT_DEBUG=1`` shows the traceback); nothing was moved into the folder;
* 130 — interrupted (Ctrl-C); the output folder is as it was before the run;
* 143 — terminated (SIGTERM, e.g. ``timeout``); cleaned up as after Ctrl-C.

Exit codes of ``labkit grade``:

* 0 — every submission has its row in the gradebook, whatever its status (graded, error, timeout,
  memory, killed, invalid);
* 1 — the grader itself failed on at least one submission (its row says so; run again to retry it);
* 2 — bad invocation: unknown lab or rubric, invalid rubric, no submissions, bad option, unreachable
  Dask scheduler; nothing was graded;
* 4 — no sandbox can be made on this machine (the message says why and how to fix it); nothing was
  graded. ``--unsafe`` grades without isolation (trusted submissions only).

Exit codes of ``labkit release``: 0 — the student version is written; 2 — unknown lab, solution
markers that do not pair up, or a file it would replace already exists (``--force`` replaces it);
nothing was written.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_CELL_FAILED, EXIT_USAGE, EXIT_NO_PDF = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it
EXIT_TERMINATED = 143  # SIGTERM, as a shell reports it
EXIT_INTERNAL = 70  # labkit itself failed (a bug)
EXIT_GRADER_FAILED, EXIT_NO_SANDBOX = 1, 4


def _err(message: str) -> None:
    print(f"labkit: {message}", file=sys.stderr)


def _overrides(pairs: list[list[str]], profile: str | None, text: str | None = None) -> dict[str, str]:
    """The parameters given by ``--params``/``P=`` (``text``), ``-p NAME VALUE`` and ``--profile``.

    Raises ValueError when one parameter is given twice with different values, wherever each came
    from (two ``-p``, two ``NAME=`` in ``P``, ``-p profile`` and ``--profile``): which one was meant
    is not for labkit to guess.
    """
    given = parse_assignment_list(text or "") + [(name, value) for name, value in pairs or []]
    if profile is not None:
        given.append(("profile", profile))
    return _once(given)


def _once(given: list[tuple[str, str]]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for name, value in given:
        if name in overrides and overrides[name].strip() != value.strip():
            raise ValueError(f"parameter {name} given twice ({overrides[name]} and {value}): give it once")
        overrides[name] = value
    return overrides


def parse_assignments(text: str) -> dict[str, str]:
    """``NAME=VALUE`` assignments in one string (``make report P="..."``), values as written.

    ``"epochs=5 lr=0.01"``, ``"lr 0.01"`` (a space for ``=``) and values with
    spaces (``"widths={'a': 1, 'b': 2} lr=0.1"``: a value runs to the next
    ``NAME=``) all work. Raises ValueError naming what cannot be read, or a
    parameter given twice with different values (``"lang=zh lang=en"``).
    """
    return _once(parse_assignment_list(text))


def parse_assignment_list(text: str) -> list[tuple[str, str]]:
    """:func:`parse_assignments`'s pairs in the order written, repeats kept."""
    import re

    text = text.strip()
    if not text:
        return []
    starts = list(re.finditer(r"(?:^|(?<=\s))([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", text))
    head = text[:starts[0].start()] if starts else text
    words = head.split()
    if len(words) % 2:
        raise ValueError(f"cannot read {head.strip()!r} in the parameters: write NAME=VALUE (e.g. P=\"epochs=5 lr=0.01\")")
    pairs = list(zip(words[::2], words[1::2]))
    for match, following in zip(starts, starts[1:] + [None]):
        value = text[match.end():following.start() if following else len(text)].strip()
        if not value:
            raise ValueError(f"parameter {match.group(1)!r} has no value: write {match.group(1)}=VALUE")
        pairs.append((match.group(1), value))
    return pairs


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated`, so the run cleans up as after Ctrl-C."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    from labkit.report.kernel import Terminated

    def terminated(number, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_report(args: argparse.Namespace) -> int:
    from labkit.report.labs import UnknownLab, resolve_notebook
    from labkit.report.params import ParameterError, read_parameters
    from labkit.report.kernel import KernelChoiceError, choose_kernel
    from labkit.report.pipeline import ReportInputError, check_out_dir, with_language
    from labkit.report.prepare import BadNotebook, load_notebook

    try:
        if args.cell_timeout is not None and not 0 < args.cell_timeout < float("inf"):
            raise ReportInputError(f"--cell-timeout must be a positive number of seconds, not {args.cell_timeout:g}")
        name, notebook = resolve_notebook(args.notebook)
        nb = load_notebook(notebook)
        spec = read_parameters(notebook)
        overrides = _overrides(args.param, args.profile, args.params)
        if args.profile is not None and "profile" not in spec.parameters:
            raise ParameterError(f"{notebook.name} has no 'profile' parameter, so --profile cannot be used")
        overrides = with_language(spec, overrides, args.lang)
        out_dir = Path(args.out) if args.out else Path("reports") / name
        check_out_dir(out_dir.resolve())
        if out_dir.resolve() / f"{name}.ipynb" == notebook:
            raise ReportInputError(f"the executed notebook would overwrite {notebook}: choose another --out")
        choose_kernel(nb, args.kernel)
        from labkit import threads
        threads.setting()  # a bad LABKIT_THREADS is refused here, before anything runs
        from labkit.report import document  # the printed report: cover page (student.yaml), print options
        student = document.load_student(args.student, notebook)
        student_file = Path(args.student) if args.student else document.find_student_file(notebook)
        print_options = document.PrintOptions(code="none" if args.no_code else args.code, logs=not args.no_logs)
    except (UnknownLab, ParameterError, ReportInputError, BadNotebook, KernelChoiceError, ValueError) as exc:
        _err(str(exc))
        return EXIT_USAGE

    from labkit.report import pipeline as report

    def say(line: str) -> None:  # --quiet keeps the notes (kernel choice, embedded data samples), drops the steps
        if not args.quiet or line.startswith("note:"):
            print(f"labkit: {line}", file=sys.stderr, flush=True)

    def announce() -> None:  # only once the run is sure to start (a refused run prints its one error line)
        if not args.quiet:
            print(f"labkit: running {notebook} -> {out_dir}/", flush=True)
            print(f"labkit: cover page from {student_file}" if student_file is not None else
                  "labkit: no student.yaml found: the cover page has blank lines to fill in by hand", flush=True)

    try:
        with _terminate_as_interrupt():
            result = report.render(notebook, out_dir, overrides, name=name, cell_timeout=args.cell_timeout,
                                   kernel_name=args.kernel, log=say, lang=args.lang,
                                   progress=None if args.quiet else sys.stderr, student=student,
                                   print_options=print_options, docx=not args.no_docx, on_start=announce)
    except (ParameterError, ReportInputError, BadNotebook, KernelChoiceError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except report.Terminated:
        _err(f"terminated (SIGTERM); {out_dir}/ is as it was before this run")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _err(f"interrupted; {out_dir}/ is as it was before this run")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug in labkit: one line, the traceback on request
        if os.environ.get("LABKIT_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set LABKIT_DEBUG=1 to see the traceback, and please "
             "report it)")
        return EXIT_INTERNAL
    for path in (result.ipynb, result.html, result.pdf, result.docx, result.metrics):
        if path is not None:
            print(f"  {path}")
    print(f"labkit: wall time {result.wall_seconds:.1f} s")
    if result.failure is not None:
        _err(f"the notebook failed: {str(result.failure).rstrip('.')}. The report shows the error at the top and at the cell.")
        return EXIT_CELL_FAILED
    if result.pdf is None:
        _err(f"no PDF was made: {result.pdf_error}")
        return EXIT_NO_PDF
    if result.docx is None and not args.no_docx:
        _err(f"no Word file was made: {result.docx_error} (or pass --no-docx)")
        return EXIT_NO_PDF
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from labkit.report.labs import lab_names, notebooks_dir
    from labkit.report.params import ParameterError, read_parameters

    labs = lab_names()
    if not labs:
        _err(f"no lab notebooks found in {notebooks_dir()}")
        return EXIT_USAGE
    for lab in labs:
        print(f"{lab}  ({notebooks_dir() / (lab + '.ipynb')})")
        try:
            spec = read_parameters(notebooks_dir() / f"{lab}.ipynb")
        except ParameterError as exc:
            print(f"    (cannot read parameters: {exc})")
            continue
        for p in spec.parameters.values():
            kind = p.annotation or p.type
            line = f"    {p.name:<18} {kind:<36} = {p.source if p.computed else repr(p.default)}"
            print(line + (f"  # {p.help}" if p.help else ""))
    return EXIT_OK


def cmd_grade(args: argparse.Namespace) -> int:
    from labkit.grade.rubric import RubricError, load_rubric
    from labkit.grade.runner import GradeOptions, GradingError, grade
    from labkit.grade.sandbox import SandboxUnavailable
    from labkit.report.params import ParameterError

    try:
        rubric = load_rubric(args.lab)
        out_dir = Path(args.out) if args.out else Path("reports") / "grades" / rubric.lab
        options = GradeOptions(out_dir=out_dir, workers=args.workers, timeout=args.timeout, memory=args.memory,
                               profile=args.profile, executor=args.executor, scheduler=args.scheduler,
                               execute=not args.no_execute, force=args.force, unsafe=args.unsafe,
                               only=args.only, roster=Path(args.roster) if args.roster else None)
        summary = grade(rubric, Path(args.submissions), options, log=lambda line: print(f"labkit: {line}", flush=True))
    except (RubricError, GradingError, ParameterError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except SandboxUnavailable as exc:
        _err(f"refusing to grade: {exc}")
        return EXIT_NO_SANDBOX
    if summary.internal_errors:
        _err(f"the grader failed on {', '.join(summary.internal_errors)}; see {summary.log}. Run again to retry.")
        return EXIT_GRADER_FAILED
    return EXIT_OK


def cmd_release(args: argparse.Namespace) -> int:
    from labkit.grade.release import ReleaseError, release, release_kit
    from labkit.report.labs import UnknownLab, lab_names, resolve_notebook

    if bool(args.all) == bool(args.lab):
        _err("give one lab (labkit release mlp --out DIR) or --all for the whole student kit")
        return EXIT_USAGE
    try:
        if args.all:
            kit = release_kit({name: resolve_notebook(name)[1] for name in lab_names()}, Path(args.out),
                              force=args.force)
            for released in kit.notebooks:
                print(f"labkit: wrote {released.path}: {released.stubs} exercise(s) replaced by a stub, "
                      f"{released.hidden_removed} hidden-check cell(s) removed")
            print(f"labkit: the student kit is in {kit.path} (README.md, Makefile, requirements.txt, "
                  f"{kit.wheel.relative_to(kit.path)})")
            return EXIT_OK
        name, notebook = resolve_notebook(args.lab)
        released = release(notebook, Path(args.out), name=name, force=args.force)
    except (UnknownLab, ReleaseError, ValueError, OSError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(f"labkit: wrote {released.path}: {released.stubs} exercise(s) replaced by a stub, "
          f"{released.hidden_removed} hidden-check cell(s) removed, outputs cleared")
    return EXIT_OK


def cmd_similarity(args: argparse.Namespace) -> int:
    from labkit.grade.rubric import RubricError, load_rubric
    from labkit.grade.runner import GradingError, check_out_dir

    try:
        rubric = load_rubric(args.lab)
        submissions = Path(args.submissions)
        if not submissions.is_dir():
            raise GradingError(f"the submissions folder {submissions} does not exist")
        check_out_dir(Path(args.out) if args.out else Path("reports") / "grades" / rubric.lab)
        try:
            from labkit.grade.similarity import collect, compare, released_code, write_report
        except ImportError as exc:  # pragma: no cover - copydetect is in requirements.txt
            _err(f"labkit similarity needs copydetect: pip install copydetect ({exc})")
            return 3
        works, skipped = collect(rubric, submissions)
        if len(works) < 2:
            raise GradingError(f"fewer than two readable submissions in {submissions}: nothing to compare")
    except (RubricError, GradingError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    pairs = compare(works, released_code(rubric))
    out = Path(args.out) if args.out else Path("reports") / "grades" / rubric.lab
    page = write_report(pairs, rubric, out / "similarity.html", top=args.top, skipped=skipped)
    for rank, pair in enumerate(pairs[: min(args.top, 10)], 1):
        print(f"labkit: {rank}. {pair.a} — {pair.b}: code {pair.code:.0%}, analysis {pair.text:.0%}")
    print(f"labkit: {len(pairs)} pair(s) of {len(works)} submission(s) compared; report {page}")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``labkit: <problem>; see labkit CMD --help`` on stderr, exit 2
    (argparse's own prints the whole usage block). Subcommands' parsers are of this class too."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        _err(f"{message}; see {self.prog} --help")
        self.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="labkit", description="Run the course's deep-learning labs and render their reports.",
        epilog="Exit codes of report: 0 ok, 1 a cell failed, 2 bad invocation, 3 no PDF (Chromium missing); "
               "of grade and release: see `labkit grade --help`.")
    from labkit import __version__
    parser.add_argument("--version", action="version", version=f"labkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rep = sub.add_parser("report", help="execute a lab (or any notebook) and render HTML, PDF and metrics.json",
                         description="Execute a lab notebook (or any .ipynb) with nbclient and render "
                                     "<name>.ipynb, <name>.html, <name>.pdf and metrics.json.")
    rep.add_argument("notebook", metavar="LAB_OR_NOTEBOOK", help="a lab name (see `labkit list`) or a path to a .ipynb")
    rep.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                     help="override a parameter (repeatable); lists as a,b,c or [1, 2]")
    rep.add_argument("--profile", choices=None, help="shortcut for -p profile NAME (smoke, quick, full)")
    rep.add_argument("--out", metavar="DIR", help="write the outputs into DIR (default: reports/<name>/)")
    rep.add_argument("--lang", choices=("en", "zh"),
                     help="the printed report's language, for any notebook: the lang-en/lang-zh cells kept, "
                          "labkit's labels, the cover (default: the notebook's lang parameter, else en); for a "
                          "notebook with a lang parameter it sets that too")
    rep.add_argument("--params", metavar="'NAME=VALUE ...'",
                     help="several overrides in one string, as `make report P=...` passes them")
    rep.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                     help="stop a cell that runs longer than this (default: no limit)")
    rep.add_argument("--kernel", metavar="NAME",
                     help="the Jupyter kernel to run it on (default: the notebook's, if installed, else python3)")
    rep.add_argument("-q", "--quiet", action="store_true", help="print only the result and errors, no progress")
    rep.add_argument("--student", metavar="FILE",
                     help="the cover page's fields (name, student_id, class, course, instructor, date) from this "
                          "YAML file (default: student.yaml beside the notebook, else in the working folder; "
                          "blank lines to fill by hand when there is none)")
    rep.add_argument("--code", choices=("all", "exercises", "none"), default="all",
                     help="which code to print: all (default), exercises (only the cells you wrote the "
                          "exercises in), none; figures and tables are always kept")
    rep.add_argument("--no-code", action="store_true", help="shortcut for --code none")
    rep.add_argument("--no-logs", action="store_true",
                     help="leave out printed logs, warnings, progress bars and [recorded] lines")
    rep.add_argument("--no-docx", action="store_true", help="do not write <name>.docx (the Word file, needs pandoc)")
    rep.set_defaults(func=cmd_report)

    grd = sub.add_parser(
        "grade", help="grade a folder of student notebooks in sandboxes, with hidden checks, into a gradebook",
        description="Run every submission (SUBMISSIONS/<student>.ipynb or SUBMISSIONS/<student>/<lab>.ipynb) "
                    "in its own sandbox, run the lab's hidden checks in a fresh interpreter there, score the rubric "
                    "(grading/<lab>.yaml) and write gradebook.csv, gradebook.html, feedback/<student>.html "
                    "and grading.log. Already graded submissions are skipped unless --force.",
        epilog="Exit codes: 0 every submission graded or given a status, 1 the grader failed on some, "
               "2 bad invocation, 4 no sandbox can be made here (see --unsafe).")
    grd.add_argument("lab", metavar="LAB", help="a lab with a rubric in grading/ (e.g. mlp), or a path to a rubric .yaml")
    grd.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="the folder of submissions")
    grd.add_argument("--out", metavar="DIR", help="the output folder (default: reports/grades/<lab>/)")
    grd.add_argument("--workers", type=int, metavar="N", help="submissions graded at once (default: as many as "
                                                               "CPU cores and memory allow)")
    grd.add_argument("--timeout", type=float, metavar="SECONDS", help="wall time for each notebook (default: the rubric's)")
    grd.add_argument("--memory", type=int, metavar="MB", help="memory for each sandbox (default: the rubric's)")
    grd.add_argument("--profile", help="run the submissions with this profile (default: the rubric's)")
    grd.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="local: a process pool (default); dask: Dask distributed (a LocalCluster, or --scheduler)")
    grd.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://10.0.0.5:8786")
    grd.add_argument("--no-execute", action="store_true",
                     help="grade the notebooks as submitted (already executed), from their recorded values; "
                          "hidden checks do not run")
    grd.add_argument("--force", action="store_true", help="grade again submissions that already have a result")
    grd.add_argument("--unsafe", action="store_true",
                     help="grade without a sandbox when none can be made (trusted submissions only)")
    grd.add_argument("--only", nargs="+", metavar="ID", help="regrade just these students (the others keep their "
                                                             "results)")
    grd.add_argument("--roster", metavar="FILE", help="CSV of student id, name, class: rows carry names, and "
                                                      "students without a submission appear as missing")
    grd.set_defaults(func=cmd_grade)

    rel = sub.add_parser("release", help="write the student version of a lab: solutions stubbed, hidden checks removed",
                         description="Replace the code between '### BEGIN SOLUTION' and '### END SOLUTION' by a "
                                     "`raise NotImplementedError` stub, remove the cells tagged hidden-check, and "
                                     "clear the outputs.")
    rel.add_argument("lab", metavar="LAB_OR_NOTEBOOK", nargs="?", help="a lab name or a path to a .ipynb")
    rel.add_argument("--all", action="store_true",
                     help="write the whole student kit: every lab's student version, a README, a Makefile, "
                          "requirements.txt and the labkit wheel")
    rel.add_argument("--out", metavar="DIR", default="reports/release",
                     help="write DIR/<lab>.ipynb, or the kit into DIR (default: reports/release/)")
    rel.add_argument("--force", action="store_true",
                     help="replace files already in --out (by default release refuses, naming the first one, "
                          "and writes nothing: it may be a student's filled-in notebook)")
    rel.set_defaults(func=cmd_release)

    sim = sub.add_parser("similarity", help="the most similar pairs of submissions (exercise code and analysis)",
                         description="Compare every pair of submissions' exercise code (names ignored, the released "
                                     "stubs left out) and analysis text (Chinese too) with winnowed fingerprints "
                                     "(copydetect); write similarity.html with the shared passages side by side.")
    sim.add_argument("lab", metavar="LAB", help="a lab with a rubric in grading/, or a path to a rubric .yaml")
    sim.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    sim.add_argument("--out", metavar="DIR", help="where similarity.html goes (default: reports/grades/<lab>/)")
    sim.add_argument("--top", type=int, default=20, metavar="N", help="pairs in the report (default 20)")
    sim.set_defaults(func=cmd_similarity)

    lst = sub.add_parser("list", help="the labs and their parameters (defaults and types)")
    lst.set_defaults(func=cmd_list)
    return parser


def _skip_slow_optional_imports() -> None:
    """nbformat imports jsonschema, which imports the optional ``rfc3987_syntax`` (when installed) and
    builds its grammar: seconds at every start, for an IRI format check no notebook uses. The CLI's own
    process does without it (jsonschema skips a format whose checker cannot be imported)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    # older notebooks have no cell ids; nbformat adds them, and its warning says nothing to a student
    import warnings
    warnings.filterwarnings("ignore", message="Cell is missing an id field")


def main(argv: list[str] | None = None) -> int:
    _skip_slow_optional_imports()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named here, where the subcommand is known (the top parser would say "see labkit --help")
        _err(f"unrecognized arguments: {' '.join(extra)}; see labkit {args.command} --help")
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C before or after a report's run (during one, cmd_report says more)
        _err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
