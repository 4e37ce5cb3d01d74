"""Benchmark: grading smoke-profile submissions of every lab, and the parallel speed-up on mlp.

Each submission is the lab's released notebook filled in with the solution (what a student who writes
the model answer hands in), graded through the whole grader: a bubblewrap sandbox per submission, the
notebook, the hidden checks in a fresh interpreter, scoring, feedback pages, gradebook.

    LABKIT_DATA=../shared/data python bench/grading.py [--labs mlp vae] [--submissions 10] [--workers 2]
    LABKIT_DATA=../shared/data python bench/grading.py --speedup [--submissions 20]

Prints, per lab, ``grading_seconds_per_submission_<lab>: <s>`` (N submissions, 2 workers); with
``--speedup``, mlp with 1 worker then 2 and ``grading_parallel_speedup: <x>``. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit.grade.release import fill_in, release_notebook  # noqa: E402
from labkit.grade.rubric import grading_dir, load_rubric  # noqa: E402
from labkit.grade.runner import GradeOptions, grade  # noqa: E402


def grade_copies(lab: str, count: int, workers: int, folder: Path) -> tuple[float, dict]:
    """Seconds to grade ``count`` model-answer submissions of ``lab`` with ``workers``; the status counts."""
    rubric = load_rubric(lab)
    solution = nbformat.read(rubric.notebook, as_version=4)
    released, _, _ = release_notebook(solution)
    filled = fill_in(released, solution)
    subs = folder / f"{lab}-submissions"
    subs.mkdir(exist_ok=True)
    for index in range(count):
        nbformat.write(filled, subs / f"student{index:02d}.ipynb")
    started = time.perf_counter()
    summary = grade(rubric, subs, GradeOptions(out_dir=folder / f"{lab}-out-{workers}", workers=workers,
                                               profile="smoke", force=True), log=None)
    return time.perf_counter() - started, summary.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", nargs="+", default=sorted(p.stem for p in grading_dir().glob("*.yaml")))
    parser.add_argument("--submissions", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--speedup", action="store_true", help="mlp with 1 worker, then 2")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    failed = False
    with tempfile.TemporaryDirectory(prefix="labkit-bench-grading-") as name:
        folder = Path(name)
        if args.speedup:
            times = {}
            for workers in (1, 2):
                times[workers], counts = grade_copies("mlp", args.submissions, workers, folder)
                print(f"mlp, {workers} worker(s): {times[workers]:.1f} s ({counts})", flush=True)
                failed |= counts.get("graded") != args.submissions
            print(f"grading_parallel_speedup: {times[1] / times[2]:.2f}")
        else:
            for lab in args.labs:
                seconds, counts = grade_copies(lab, args.submissions, args.workers, folder)
                print(f"{lab}: {args.submissions} submissions, {args.workers} workers, {seconds:.1f} s ({counts}; "
                      f"load average now {os.getloadavg()[0]:.2f})", flush=True)
                print(f"grading_seconds_per_submission_{lab}: {seconds / args.submissions:.1f}", flush=True)
                failed |= counts.get("graded") != args.submissions
    if failed:
        print("not every submission was graded: see grading.log in the output folders", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
