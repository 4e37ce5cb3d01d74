"""The ``labkit`` command: a thin layer over the library (parse, dispatch, report).

Exit codes of ``labkit report`` (also in README.md):

* 0 — success;
* 1 — the notebook ran but a cell failed (the HTML and PDF are still written, showing the error);
* 2 — bad invocation: unknown lab, unknown parameter, wrong type or choice; nothing was run or written;
* 3 — the notebook ran, but the PDF could not be made (e.g. Chromium is missing); the HTML is written.

Exit codes of ``labkit grade``:

* 0 — every submission has its row in the gradebook, whatever its status (graded, error, timeout,
  memory, killed, invalid);
* 1 — the grader itself failed on at least one submission (its row says so; run again to retry it);
* 2 — bad invocation: unknown lab or rubric, invalid rubric, no submissions, bad option, unreachable
  Dask scheduler; nothing was graded;
* 4 — no sandbox can be made on this machine (the message says why and how to fix it); nothing was
  graded. ``--unsafe`` grades without isolation (trusted submissions only).

Exit codes of ``labkit release``: 0 — the student version is written; 2 — unknown lab, or solution
markers that do not pair up; nothing was written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_CELL_FAILED, EXIT_USAGE, EXIT_NO_PDF = 0, 1, 2, 3
EXIT_GRADER_FAILED, EXIT_NO_SANDBOX = 1, 4


def _err(message: str) -> None:
    print(f"labkit: {message}", file=sys.stderr)


def _overrides(pairs: list[list[str]], profile: str | None) -> dict[str, str]:
    overrides = {name: value for name, value in pairs or []}
    if profile is not None:
        overrides["profile"] = profile
    return overrides


def cmd_report(args: argparse.Namespace) -> int:
    from labkit.report.labs import UnknownLab, resolve_notebook
    from labkit.report.params import ParameterError, read_parameters

    try:
        name, notebook = resolve_notebook(args.notebook)
        spec = read_parameters(notebook)
        overrides = _overrides(args.param, args.profile)
        if args.profile is not None and "profile" not in spec.parameters:
            raise ParameterError(f"{notebook.name} has no 'profile' parameter, so --profile cannot be used")
        overrides = spec.validate(overrides)
    except (UnknownLab, ParameterError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    out_dir = Path(args.out) if args.out else Path("reports") / name

    from labkit.report import pipeline as report

    print(f"labkit: running {notebook} -> {out_dir}/", flush=True)
    result = report.render(notebook, out_dir, overrides, name=name, cell_timeout=args.cell_timeout)
    warned = set()
    for info in result.datasets:
        if info.get("source") == "sample" and info.get("name") not in warned:
            warned.add(info.get("name"))
            _err(f"warning: {info.get('title', info.get('name'))} came from the embedded sample, not the full "
                 f"dataset ({info.get('sample_reason') or 'full data not found'}); set LABKIT_DATA to a folder "
                 "with the full data for real results")
    for path in (result.ipynb, result.html, result.pdf, result.metrics):
        if path is not None:
            print(f"  {path}")
    print(f"labkit: wall time {result.wall_seconds:.1f} s")
    if result.failure is not None:
        _err(f"the notebook failed: {str(result.failure).rstrip('.')}. The report shows the error at the top and at the cell.")
        return EXIT_CELL_FAILED
    if result.pdf is None:
        _err(f"no PDF was made: {result.pdf_error}")
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
            line = f"    {p.name:<18} {kind:<36} = {p.default!r}"
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
                               execute=not args.no_execute, force=args.force, unsafe=args.unsafe)
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
    from labkit.grade.release import ReleaseError, release
    from labkit.report.labs import UnknownLab, resolve_notebook

    try:
        name, notebook = resolve_notebook(args.lab)
        released = release(notebook, Path(args.out), name=name)
    except (UnknownLab, ReleaseError, ValueError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(f"labkit: wrote {released.path}: {released.stubs} exercise(s) replaced by a stub, "
          f"{released.hidden_removed} hidden-check cell(s) removed, outputs cleared")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="Run the course's deep-learning labs and render their reports.",
        epilog="Exit codes of report: 0 ok, 1 a cell failed, 2 bad invocation, 3 no PDF (Chromium missing); "
               "of grade and release: see `labkit grade --help`.")
    from labkit import __version__
    parser.add_argument("--version", action="version", version=f"labkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rep = sub.add_parser("report", help="execute a lab (or any notebook) and render HTML, PDF and metrics.json",
                         description="Execute a lab notebook (or any .ipynb) with papermill and render "
                                     "<name>.ipynb, <name>.html, <name>.pdf and metrics.json.")
    rep.add_argument("notebook", metavar="LAB_OR_NOTEBOOK", help="a lab name (see `labkit list`) or a path to a .ipynb")
    rep.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                     help="override a parameter (repeatable); lists as a,b,c or [1, 2]")
    rep.add_argument("--profile", choices=None, help="shortcut for -p profile NAME (smoke, quick, full)")
    rep.add_argument("--out", metavar="DIR", help="write the outputs into DIR (default: reports/<name>/)")
    rep.add_argument("--cell-timeout", type=int, default=None, metavar="SECONDS",
                     help="stop a cell that runs longer than this (default: no limit)")
    rep.set_defaults(func=cmd_report)

    grd = sub.add_parser(
        "grade", help="grade a folder of student notebooks in sandboxes, with hidden checks, into a gradebook",
        description="Run every submission (SUBMISSIONS/<student>.ipynb or SUBMISSIONS/<student>/<lab>.ipynb) "
                    "in its own sandbox, run the lab's hidden checks in the same kernel, score the rubric "
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
    grd.set_defaults(func=cmd_grade)

    rel = sub.add_parser("release", help="write the student version of a lab: solutions stubbed, hidden checks removed",
                         description="Replace the code between '### BEGIN SOLUTION' and '### END SOLUTION' by a "
                                     "`raise NotImplementedError` stub, remove the cells tagged hidden-check, and "
                                     "clear the outputs.")
    rel.add_argument("lab", metavar="LAB_OR_NOTEBOOK", help="a lab name or a path to a .ipynb")
    rel.add_argument("--out", metavar="DIR", default="reports/release",
                     help="write DIR/<lab>.ipynb (default: reports/release/)")
    rel.set_defaults(func=cmd_release)

    lst = sub.add_parser("list", help="the labs and their parameters (defaults and types)")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
