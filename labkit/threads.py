"""How many CPU threads torch uses: all the cores this process may use when the machine is idle,
fewer as soon as other work competes for them.

Why: torch's OpenMP threads meet at a barrier after every parallel operation. When another
process holds one of the cores, the thread waiting at the barrier spins, then sleeps, then waits
to be scheduled again, every operation: a small training step on 2 cores beside four busy
processes ran 50x slower than idle (513 -> 10 it/s), where a fair share is about 3x. A passive
wait policy (``OMP_WAIT_POLICY=PASSIVE``) avoids the spinning but makes every barrier a sleep,
3x slower on an idle machine (585 -> 186 it/s). One thread has no barrier at all.

So the policy keeps OpenMP's default wait policy (fastest when idle) and changes the *number* of
threads while the run goes on (:func:`adapt`, called by :func:`labkit.fit` before every step, looking
at the machine at most once a second): ``cores - other runnable tasks``, at least 1, where ``cores``
are those this process may actually use (its CPU affinity and its cgroup's CPU quota, which
``os.cpu_count`` ignores) and the other runnable tasks are read from the kernel's ``/proc/stat``
(``procs_running``).

That fair count is best for small operations (an MLP step), but one thread gives up the second
core's share for large ones: beside four busy processes on 2 cores, one thread gets 2/5 of a core,
so a step whose two threads ran 1.9x faster than one when idle (a ResNet's convolutions) ran
2.5 x 1.9 = 4.75x slower. So while other work competes, :func:`adapt` also *measures*: it runs
:data:`PROBE_SECONDS` with the fair count and as long with all the cores, counting the steps
(its own calls), keeps the faster for :data:`HOLD_SECONDS`, then measures again. Idle, it never
probes. ``bench/shared_cpu.py`` measures the result idle and beside four busy processes.

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
#: Under competition, seconds each candidate thread count runs while :func:`adapt` counts its steps.
PROBE_SECONDS = 0.5
#: Seconds the faster candidate is kept before :func:`adapt` measures again (the load may have changed).
HOLD_SECONDS = 20.0


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


class Tuner:
    """Under competition, which of two thread counts runs more steps per second, found by trying both.

    :meth:`step` is called once per training step; :meth:`choose` at each look at the machine with
    the fair count (``cores - others``) and the cores. Idle (``fair == cores``) it answers the cores
    and forgets any measurement. Competed, it answers ``fair`` for :data:`PROBE_SECONDS`, then
    ``cores`` as long, then the one whose steps per second were higher, for :data:`HOLD_SECONDS`.
    """

    def __init__(self, probe: float = PROBE_SECONDS, hold: float = HOLD_SECONDS) -> None:
        self.probe, self.hold = probe, hold
        self.reset()

    def reset(self) -> None:
        self.trying: list[int] = []  # candidates still to measure, the current one first
        self.rates: dict[int, float] = {}
        self.started = 0.0  # when the current candidate's measurement began
        self.steps = 0  # steps counted since then
        self.chosen: int | None = None
        self.until = 0.0

    def step(self) -> None:
        self.steps += 1

    @property
    def probing(self) -> bool:
        return bool(self.trying)

    def choose(self, now: float, fair: int, cores: int) -> int:
        if fair >= cores:
            self.reset()
            return cores
        if self.trying and self.trying[0] not in (fair, cores):  # the load changed mid-measurement
            self.reset()
        if self.trying:
            if now - self.started < self.probe:
                return self.trying[0]
            self.rates[self.trying.pop(0)] = self.steps / (now - self.started)
            if self.trying:
                return self._begin(now)
            self.chosen = max(self.rates, key=lambda n: (self.rates[n], -n))  # a tie: the fewer threads
            self.until = now + self.hold
        if self.chosen in (fair, cores) and now < self.until:
            return self.chosen
        self.rates, self.trying = {}, [fair, cores]
        return self._begin(now)

    def _begin(self, now: float) -> int:
        self.started, self.steps = now, 0
        return self.trying[0]


_last_look = 0.0
_tuner = Tuner()


def adapt(force: bool = False) -> int:
    """Set torch's thread count for the machine's load now; call it before every training step.

    Looks at the load at most once per :data:`ADAPT_EVERY` s (per :data:`PROBE_SECONDS` while it
    measures a candidate; see :class:`Tuner`). Returns the thread count in force. Does nothing
    under ``LABKIT_THREADS=torch`` or a fixed number. Cheap enough to call every training step (a
    clock read; one small file read a second).
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
    _tuner.step()
    now = time.monotonic()
    every = min(ADAPT_EVERY, PROBE_SECONDS) if _tuner.probing else ADAPT_EVERY
    if not force and now - _last_look < every:
        return torch.get_num_threads()
    _last_look = now
    cores = available_cores()
    wanted = _tuner.choose(now, fair_threads(cores, other_runnable()), cores)
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
