"""Run every benchmark in bench/ in turn and print their result lines (``name: number``) at the end.

    LABKIT_DATA=../shared/data python bench/run.py [NAME ...]

Each benchmark measures labkit against the source reports' way in the same run (ratios, not
absolute times); see each script's docstring.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: A result line: ``vae_epoch_speedup_vs_source: 3.12``, ``vae_fraction_of_dense_throughput: 0.41``.
RESULT = re.compile(r"^[a-z0-9_]+: -?[0-9.]+(e[-+]?[0-9]+)?$")


def main(names: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    results, failed = [], []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        print(proc.stdout, end="", flush=True)
        lines = [line for line in proc.stdout.splitlines() if RESULT.match(line.strip())]
        if proc.returncode == 0 and lines:
            results += lines
        else:
            failed.append(script.name)
    print("== results")
    print("\n".join(results))
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
