"""How many CPU threads torch uses: all the cores this process may use when the machine is idle,
fewer as soon as other work competes for them.

Why: torch's OpenMP threads meet at a barrier after every parallel operation. When another
process holds one of the cores, the thread waiting at the barrier spins, then sleeps, then waits
to be scheduled again, every operation: a small training step on 2 cores beside four busy
processes ran 50x slower than idle (513 -> 10 it/s), where a fair share is about 3x. A passive
wait policy (``OMP_WAIT_POLICY=PASSIVE``) avoids the spinning but makes every barrier a sleep,
3x slower on an idle machine (585 -> 186 it/s). One thread has no barrier at all.

So the policy keeps OpenMP's default wait policy (fastest when idle) and changes the *number* of
threads while the run goes on (:func:`adapt`, called by :func:`labkit.fit` at most once a
second): ``cores - other runnable tasks``, at least 1, where ``cores`` are those this process may
actually use (its CPU affinity and its cgroup's CPU quota, which ``os.cpu_count`` ignores) and
the other runnable tasks are read from the kernel's ``/proc/stat`` (``procs_running``).
``bench/shared_cpu.py`` measures the result idle and beside four busy processes.

Overrides (environment, read when labkit starts a run or a kernel):

* ``LABKIT_THREADS=N``: exactly ``N`` threads, never adapted;
* ``LABKIT_THREADS=auto`` (the default): the adaptive policy above;
* ``LABKIT_THREADS=torch``: torch's own default, untouched (for comparisons).

The choice is part of every report's provenance (:func:`describe`): thread counts change
floating-point results in the last bits.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

ENV = "LABKIT_THREADS"
#: Seconds between two looks at the machine's load in :func:`adapt`.
ADAPT_EVERY = 1.0


class ThreadSettingError(ValueError):
    """``LABKIT_THREADS`` holds something other than ``auto``, ``torch`` or a positive integer."""


@dataclass(frozen=True)
class Policy:
    """The thread policy in force: ``mode`` is ``auto``, ``fixed`` or ``torch``."""

    mode: str
    cores: int  #: cores this process may use (affinity and cgroup quota)
    threads: int  #: torch's intra-op threads now
    wait_policy: str  #: OMP_WAIT_POLICY as the kernel sees it ("default" when unset)

    def as_dict(self) -> dict:
        return asdict(self)


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup's CPU quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity, capped by its cgroup's quota (>= 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _procs_running(stat: Path) -> int | None:
    try:
        for line in stat.read_text().splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _own_running(tasks: Path = Path("/proc/self/task")) -> int:
    """This process's threads that are running or runnable now (state ``R``), at least 1 (the caller)."""
    running = 0
    try:
        for task in tasks.iterdir():
            try:
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            running += state == "R"
    except OSError:
        return 1
    return max(1, running)


def other_runnable(stat: Path = Path("/proc/stat"), samples: int = 3,
                   own: Path = Path("/proc/self/task")) -> int | None:
    """Runnable tasks on the machine that are not this process's threads; None if unknown.

    ``procs_running`` counts threads, this process's own OpenMP workers included (they spin, so
    they are running): those are subtracted. The fewest of ``samples`` readings is taken, so a
    process that runs for a moment (a shell command, the notebook server) is not competition
    worth giving up a thread for a whole second.
    """
    readings = []
    for _ in range(samples):
        total = _procs_running(stat)
        if total is not None:
            readings.append(max(0, total - _own_running(own)))
    return min(readings) if readings else None


def fair_threads(cores: int, others: int | None) -> int:
    """Threads for a process on ``cores`` cores while ``others`` other tasks want to run: the idle cores, >= 1."""
    if others is None:
        return cores
    return max(1, min(cores, cores - others))


def setting(env: Mapping[str, str] | None = None) -> str | int:
    """``LABKIT_THREADS`` parsed: ``"auto"``, ``"torch"`` or a positive int. Raises :class:`ThreadSettingError`."""
    raw = (env if env is not None else os.environ).get(ENV, "auto").strip().lower() or "auto"
    if raw in ("auto", "torch"):
        return raw
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ThreadSettingError(f"{ENV}={raw!r} is not valid: use auto, torch or a whole number of threads >= 1")
    return value


_last_look = 0.0


def adapt(force: bool = False) -> int:
    """Set torch's thread count for the machine's load now (rate-limited to once per :data:`ADAPT_EVERY` s).

    Returns the thread count in force. Does nothing under ``LABKIT_THREADS=torch`` or a fixed
    number. Cheap enough to call every training step (a clock read; one small file read a second).
    """
    global _last_look
    import torch

    mode = setting()
    if mode == "torch":
        return torch.get_num_threads()
    if isinstance(mode, int):
        if torch.get_num_threads() != mode:
            torch.set_num_threads(mode)
        return mode
    now = time.monotonic()
    if not force and now - _last_look < ADAPT_EVERY:
        return torch.get_num_threads()
    _last_look = now
    wanted = fair_threads(available_cores(), other_runnable())
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted


def describe() -> dict:
    """The policy in force, for a report's provenance: ``{"mode", "cores", "threads", "wait_policy"}``."""
    import torch

    mode = setting()
    return Policy(mode=mode if isinstance(mode, str) else "fixed", cores=available_cores(),
                  threads=torch.get_num_threads(),
                  wait_policy=os.environ.get("OMP_WAIT_POLICY", "default")).as_dict()


def kernel_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process labkit starts (a report's kernel, a grading sandbox).

    Checks ``LABKIT_THREADS`` (raises :class:`ThreadSettingError` before anything starts) and,
    when it is a fixed number, passes it to OpenMP and MKL too so that the first parallel
    region already has that many threads. Under the adaptive default, ``OMP_NUM_THREADS`` is
    set only where a CPU quota or affinity leaves fewer cores than the machine has (torch would
    otherwise start a thread per core); the rest is done inside the process by :func:`adapt`.
    """
    env = dict(os.environ if base is None else base)
    mode = setting(env)
    if isinstance(mode, int):
        env.setdefault("OMP_NUM_THREADS", str(mode))
        env.setdefault("MKL_NUM_THREADS", str(mode))
    elif mode == "auto" and "OMP_NUM_THREADS" not in env:
        cores = available_cores()
        if cores < (os.cpu_count() or cores):  # a quota or affinity smaller than the machine
            env["OMP_NUM_THREADS"] = str(cores)
    return env
