"""Run every benchmark in bench/ in turn and print their result lines at the end.

    LABKIT_DATA=../shared/data python bench/run.py [NAME ...]

Each benchmark measures labkit against the source reports' way in the same run (ratios, not
absolute times); see each script's docstring.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    results, failed = [], []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        print(proc.stdout, end="", flush=True)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode == 0 and lines:
            results.append(lines[-1])
        else:
            failed.append(script.name)
    print("== results")
    print("\n".join(results))
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
