"""Running the external tools that write a report's files (Chromium, pandoc), said once."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence


def make_file(command: Sequence[str], output: Path, *, tool: str, doing: str, timeout: float,
              error: type[Exception], cwd: str | Path | None = None, detail_lines: int = 5,
              env: dict[str, str] | None = None) -> None:
    """Run ``command``, which writes ``output``; raise ``error`` with a one-line message on failure.

    ``tool`` and ``doing`` name what runs in the message (``"Chromium"``, ``"printing report.html"``):
    "Chromium did not finish printing report.html within 300 s" (``timeout``, seconds), or "Chromium
    failed printing report.html (exit code 1): <its last ``detail_lines`` lines of stderr>" when it
    exits with an error or leaves ``output`` missing or empty. stdin is closed (no tool waits on it);
    ``env`` (None: labkit's) is the tool's environment.

    The tool runs in a process group of its own: a Ctrl-C at the terminal reaches only labkit, and
    when the wait ends early (the timeout, Ctrl-C, SIGTERM) the tool and every process it started
    are killed and reaped before this returns or raises, so nothing of it still writes into its
    folders afterwards (Chromium's helpers would keep writing into its profile folder).
    """
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=os.name == "posix")
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        kill_group(process)
        raise error(f"{tool} did not finish {doing} within {timeout:.0f} s") from exc
    except BaseException:
        kill_group(process)
        raise
    if process.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
        detail = " ".join(stderr.strip().splitlines()[-detail_lines:])
        raise error(f"{tool} failed {doing} (exit code {process.returncode}): {detail}")


def kill_group(process: subprocess.Popen) -> None:
    """Kill ``process`` and its process group (it was started with ``start_new_session``), then reap it."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.kill()
    process.communicate()


def remove_tree(folder: str | Path, *, wait: float = 5.0) -> bool:
    """Remove ``folder``, retrying for up to ``wait`` seconds while a dying process still writes into it.

    Returns whether it is gone; never raises (a folder left behind must not hide the error or the
    Ctrl-C that ended the run).
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            shutil.rmtree(folder)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return not os.path.exists(folder)
            time.sleep(0.1)
