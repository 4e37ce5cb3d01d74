"""The ``labkit`` command: a thin layer over the library (parse, dispatch, report).

Exit codes (also in README.md):

* 0 — success;
* 1 — the notebook ran but a cell failed (the HTML and PDF are still written, showing the error);
* 2 — bad invocation: unknown lab, unknown parameter, wrong type or choice; nothing was run or written;
* 3 — the notebook ran, but the PDF could not be made (e.g. Chromium is missing); the HTML is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_CELL_FAILED, EXIT_USAGE, EXIT_NO_PDF = 0, 1, 2, 3


def _err(message: str) -> None:
    print(f"labkit: {message}", file=sys.stderr)


def _overrides(pairs: list[list[str]], profile: str | None) -> dict[str, str]:
    overrides = {name: value for name, value in pairs or []}
    if profile is not None:
        overrides["profile"] = profile
    return overrides


def cmd_report(args: argparse.Namespace) -> int:
    from labkit.labs import UnknownLab, resolve_notebook
    from labkit.params import ParameterError, read_parameters

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

    from labkit import report

    print(f"labkit: running {notebook} -> {out_dir}/", flush=True)
    result = report.render(notebook, out_dir, overrides, name=name, cell_timeout=args.cell_timeout)
    for info in result.datasets:
        if info.get("source") == "sample":
            _err(f"warning: {info.get('title', info.get('name'))} came from the embedded sample, not the full "
                 f"dataset ({info.get('sample_reason') or 'full data not found'}); set LABKIT_DATA to a folder "
                 "with the full data for real results")
    for path in (result.ipynb, result.html, result.pdf, result.metrics):
        if path is not None:
            print(f"  {path}")
    print(f"labkit: wall time {result.wall_seconds:.1f} s")
    if result.failure is not None:
        _err(f"the notebook failed: {result.failure}. The report shows the error at the top and at the cell.")
        return EXIT_CELL_FAILED
    if result.pdf is None:
        _err(f"no PDF was made: {result.pdf_error}")
        return EXIT_NO_PDF
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from labkit.labs import lab_names, notebooks_dir
    from labkit.params import ParameterError, read_parameters

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="Run the course's deep-learning labs and render their reports.",
        epilog="Exit codes: 0 ok, 1 a cell failed, 2 bad invocation, 3 no PDF (Chromium missing).")
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

    lst = sub.add_parser("list", help="the labs and their parameters (defaults and types)")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
