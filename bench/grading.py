"""Benchmark: grading smoke-profile mlp submissions with 1 worker and with 2 workers.

Each submission is the released mlp lab filled in with the solution (what a student who writes the
model answer hands in), graded through the whole grader: a bubblewrap sandbox per submission, the
notebook, the hidden checks in the same kernel, scoring, feedback pages, gradebook. Both runs
grade the same submissions on the same machine, one after the other; each sandbox gets
``cores // workers`` threads.

    LABKIT_DATA=../shared/data python bench/grading.py [--submissions 20] [--workers 1 2]

Prints each run's time, then ``grading_parallel_speedup: <x>`` (1 worker's time / 2 workers' time).
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
from labkit.grade.rubric import load_rubric  # noqa: E402
from labkit.grade.runner import GradeOptions, grade  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs=2, default=[1, 2], metavar=("FEW", "MORE"))
    args = parser.parse_args()
    rubric = load_rubric("mlp")
    solution = nbformat.read(rubric.notebook, as_version=4)
    released, _, _ = release_notebook(solution)
    filled = fill_in(released, solution)
    print(f"grading {args.submissions} smoke-profile mlp submissions; {os.cpu_count()} CPU cores; "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    times = {}
    with tempfile.TemporaryDirectory(prefix="labkit-bench-grading-") as folder:
        subs = Path(folder) / "submissions"
        subs.mkdir()
        for index in range(args.submissions):
            nbformat.write(filled, subs / f"student{index:02d}.ipynb")
        for workers in args.workers:
            started = time.perf_counter()
            summary = grade(rubric, subs, GradeOptions(out_dir=Path(folder) / f"out-{workers}", workers=workers,
                                                       profile="smoke"), log=None)
            times[workers] = time.perf_counter() - started
            statuses = summary.counts
            print(f"{workers} worker(s): {times[workers]:.1f} s ({times[workers] / args.submissions:.1f} s per "
                  f"submission; {statuses}; load average now {os.getloadavg()[0]:.2f})", flush=True)
            if statuses.get("graded") != args.submissions:
                print("not every submission was graded: see the log above", file=sys.stderr)
                return 1
    few, more = args.workers
    print(f"grading_parallel_speedup: {times[few] / times[more]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
