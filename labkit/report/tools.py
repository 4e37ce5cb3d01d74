"""Running the external tools that write a report's files (Chromium, pandoc), said once."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence


def make_file(command: Sequence[str], output: Path, *, tool: str, doing: str, timeout: float,
              error: type[Exception], cwd: str | Path | None = None, detail_lines: int = 5) -> None:
    """Run ``command``, which writes ``output``; raise ``error`` with a one-line message on failure.

    ``tool`` and ``doing`` name what runs in the message (``"Chromium"``, ``"printing report.html"``):
    "Chromium did not finish printing report.html within 300 s" (``timeout``, seconds), or "Chromium
    failed printing report.html (exit code 1): <its last ``detail_lines`` lines of stderr>" when it
    exits with an error or leaves ``output`` missing or empty. stdin is closed (no tool waits on it).
    """
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise error(f"{tool} did not finish {doing} within {timeout:.0f} s") from exc
    if done.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
        detail = " ".join(done.stderr.strip().splitlines()[-detail_lines:])
        raise error(f"{tool} failed {doing} (exit code {done.returncode}): {detail}")
