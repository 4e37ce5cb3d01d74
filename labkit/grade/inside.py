"""The program that runs inside the sandbox: ``python -m labkit.grade.inside``.

It executes the submission's notebook with nbclient (the kernel is its
child, in the same sandbox), then has the instructor's hidden checks run in
a *fresh* interpreter (:mod:`labkit.grade.verdict`), and reports to the
grader (:mod:`labkit.grade.execute`) over its standard streams, one JSON
object per line:

1. ``{"event": "notebook", "notebook": ..., "failure": ..., "seconds": ...,
   "disk_full": ...}`` when the student's cells have run (or one failed, or
   time ran out); ``failure`` is :meth:`labkit.report.cells.CellFailure.to_dict`
   (``cell_index`` counted in the injected notebook that ran) or null;
2. the grader answers on stdin with ``{"verdict": plan | null, "budget":
   seconds}``: the plan (the lab's setup cells, the student's exercise cells,
   the hidden-check cells) enters the sandbox only now, and only through
   this pipe;
3. every other process in the sandbox (the student's kernel, anything it
   left running) is killed; a new pipe is made and the verdict process
   started with its write end (:func:`run_verdicts`);
4. ``{"event": "checks", "results": [...], "errors": [...]}``.

This process runs no student code. It makes itself non-dumpable, so the
student's code (same user, no capabilities) can neither read its memory or
its pipes through ``/proc`` nor trace it; the kernel's standard streams are
not this process's, so nothing the student's code prints can pose as a
message to the grader.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from labkit.grade import skip_slow_imports

KERNEL_NAME = "labkit-grade"
#: Processes the orphan reaper leaves alone (their parents wait for them).
KEEP: set[int] = set()
#: Executed notebooks larger than this lose their outputs (a student printing gigabytes).
MAX_NOTEBOOK_BYTES = 64 << 20


def _not_dumpable() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_DUMPABLE = 4
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:  # pragma: no cover - Linux always allows it
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _set_rlimits(data_bytes: int) -> None:
    """No core dumps, files of at most 2 GiB, and (without a cgroup) ``RLIMIT_DATA`` per process.

    ``RLIMIT_NPROC`` is not used: Linux ignores it for root and counts every
    process of the user; the cgroup's ``pids.max`` or the grader's watchdog
    limit processes instead.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 30, 2 << 30))
    if data_bytes:
        resource.setrlimit(resource.RLIMIT_DATA, (data_bytes, data_bytes))


def _kernelspec(folder: Path) -> None:
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "labkit grading", "language": "python"}))
    os.environ["JUPYTER_PATH"] = str(folder)


class Channel:
    """The JSON-lines channel to the grader (this process's original stdin and stdout)."""

    def __init__(self) -> None:
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        self.inp = os.fdopen(os.dup(0), "r", encoding="utf-8")
        # whatever a library prints from now on goes to stderr, never into the channel
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, ensure_ascii=False) + "\n")
        self.out.flush()

    def receive(self) -> dict[str, Any]:
        line = self.inp.readline()
        return json.loads(line) if line.strip() else {"checks": None}


def _kill_strays(keep: set[int]) -> list[int]:
    """SIGKILL every process of this PID namespace except ``keep`` and PID 1; return the killed."""
    killed = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep and int(entry) != 1:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def _reap_orphans(keep: set[int]) -> None:
    """As PID 1, collect the exit status of orphaned processes (never the kernel's: its manager does)."""
    while True:
        time.sleep(0.5)
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid in keep:
                break
            try:
                os.waitpid(info.si_pid, os.WNOHANG)
            except ChildProcessError:
                break


def _full_disk(folders: list[str]) -> str:
    """The first of ``folders`` (tmpfs of the disk limit) that is at least 99% full, or ""."""
    for folder in folders:
        try:
            stat = os.statvfs(folder)
        except OSError:
            continue
        if stat.f_blocks and stat.f_bavail <= stat.f_blocks // 100:
            return folder
    return ""


def _cap(nb: Any) -> None:
    import nbformat

    if len(nbformat.writes(nb)) <= MAX_NOTEBOOK_BYTES:
        return
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.outputs:
            cell.outputs = [{"output_type": "stream", "name": "stderr",
                             "text": "[labkit grade: outputs removed, the notebook was too large]\n"}]


async def _run_notebook(client: Any, nb: Any, deadline: float) -> Any:
    """The :class:`~labkit.report.cells.CellFailure` that stopped ``nb`` (its index in ``nb``, which the
    grader maps to the student's file), or None when every cell ran."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from labkit.report.cells import CellFailure

    def failure(kind: str, index: int, cell: Any, ename: str, evalue: str) -> CellFailure:
        return CellFailure(index, cell.get("execution_count"), ename, evalue, kind=kind)

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return failure("timeout", index, cell, "Timeout", "the notebook ran out of time before this cell")
        client.timeout = max(1, math.ceil(remaining))
        try:
            await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        except CellExecutionError as error:
            return failure("error", index, cell, error.ename, error.evalue)
        except CellTimeoutError:
            return failure("timeout", index, cell, "Timeout", "the notebook ran out of time in this cell")
        except DeadKernelError:
            return failure("dead_kernel", index, cell, "DeadKernelError", "the kernel died")
    return None


def _verdict_env(private: Path) -> dict[str, str]:
    """The verdict process's environment: this runner's (the grader's), with private folders of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH", "PYTHONSTARTUP")}
    for name, sub in (("HOME", "home"), ("TMPDIR", ""), ("MPLCONFIGDIR", "matplotlib"),
                      ("IPYTHONDIR", "ipython"), ("LABKIT_CACHE", "labkit-cache")):
        folder = private / sub if sub else private
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    env["MPLBACKEND"] = "Agg"
    return env


def run_verdicts(plan: dict[str, Any], budget: float, keep: set[int] | None = None) -> dict[str, Any]:
    """Run the hidden checks in a fresh interpreter (:mod:`labkit.grade.verdict`); their results.

    The results pipe is made here, before the new process (the first to run
    any of the student's code again) exists. The checks share ``budget``
    seconds: past it the process gets SIGINT (the running check fails as
    interrupted), five seconds later SIGKILL; checks that never ran fail
    with "not run".
    """
    import select

    from labkit.grade.verdict import move_fd, verify

    deadline = time.monotonic() + budget
    private = Path(tempfile.mkdtemp(prefix="labkit-verdict-"))
    os.chmod(private, 0o700)
    read_fd, pipe_fd = os.pipe()
    write_fd = move_fd(pipe_fd, inheritable=True)  # a number nothing in the verdict process's argv or environment gives away
    key = secrets.token_bytes(32)  # signs every message; only this function and the verdict process see it
    log = open(private / "verdict.log", "wb")
    kit_parent = str(Path(__file__).resolve().parents[2])
    bootstrap = (f"import sys; sys.path.insert(0, {kit_parent!r}); "
                 "from labkit.grade.verdict import main; sys.exit(main())")
    process = subprocess.Popen([sys.executable, "-I", "-c", bootstrap],
                               stdin=subprocess.PIPE, stdout=log, stderr=log, pass_fds=(write_fd,),
                               cwd=str(private), env=_verdict_env(private), start_new_session=True)
    if keep is not None:
        keep.add(process.pid)
    os.close(write_fd)
    try:
        process.stdin.write(json.dumps({**plan, "channel": {"fd": write_fd, "key": key.hex()}}).encode())
        process.stdin.close()
    except OSError:
        pass
    results: dict[str, dict] = {}
    ready: dict[str, Any] = {}
    buffer, interrupted, killed = b"", None, False
    seq, done, forged, reading = 0, False, "", True
    while True:
        now = time.monotonic()
        if now > deadline and interrupted is None:
            interrupted = now
            try:
                os.killpg(process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        if interrupted is not None and now > interrupted + 5 and not killed:
            killed = True
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        readable, _, _ = select.select([read_fd], [], [], 0.2)
        if not readable:
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer and reading:
            line, buffer = buffer.split(b"\n", 1)
            message = verify(key, seq, line)
            event = message.get("event") if message is not None else None
            name = message.get("name") if message is not None else None
            problem = ("a line not signed by the checks' runner, or out of sequence" if message is None
                       else "a message after the end marker" if done
                       else "a second set-up message" if event == "ready" and ready
                       else f"a second result for {name}" if name in results
                       else "")
            if problem or (seq == 0 and event != "ready"):
                reading = False  # nothing after this is believed
                # cut by the time-out's SIGKILL is no forgery; anything else is
                forged = "" if interrupted is not None else (problem or "a first message that is not the set-up")
                break
            seq += 1
            if event == "ready":
                ready = message
            elif event == "done":
                done = True
            elif name in plan["check_names"]:
                results[name] = {k: v for k, v in message.items() if k != "seq"}
        if len(buffer) > 1 << 26:  # an endless line: not the runner's
            forged, reading = forged or "an endless line", False
            buffer = b""
    os.close(read_fd)
    try:  # how it ended, before it is killed (an exit status says the submission's code ended it)
        exit_code = process.wait(timeout=2) if interrupted is None else None
    except subprocess.TimeoutExpired:
        exit_code = None
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    log.close()
    if forged:
        # the existing tamper path (labkit.grade.execute flags it): a channel that carried one forged line
        # is not believed at all, not even the verdicts that came before it
        what = "the hidden checks' results channel (it carried " + forged + ")"
        for name in ready.get("names") or list(plan["check_names"]):
            if name in plan["check_names"]:
                results[name] = {"name": name, "passed": False, "values": {}, "own_words": True,
                                 "provides": ready.get("provides", {}).get(name, []), "seconds": 0.0,
                                 "tampered": [what],
                                 "message": "not trusted: the submission's code wrote to the hidden checks' "
                                            "results channel (see the grader's flags)"}
    unfinished = not done and interrupted is None and not forged
    if unfinished:
        results = {}  # no signed end marker: whatever came before it is not believed either
    names = ready.get("names") or list(plan["check_names"])
    out, first_missing = [], True
    for name in names:
        if name in results:
            out.append(results[name])
            continue
        if interrupted is None:
            message = ("killed: the process running the hidden checks died before this check finished"
                       + (f" (exit status {exit_code}: the submission's code ended it, e.g. os._exit, or crashed it)"
                          if exit_code is not None else "")
                       + (", or its results channel was broken: no check counts without the channel's signed "
                          "end marker" if unfinished and ready else ""))
        elif first_missing:
            message = "interrupted: the hidden checks ran out of time"
        else:
            message = "not run: the hidden checks ran out of time"
        first_missing = False
        out.append({"name": name, "passed": False, "message": message, "values": {}, "own_words": True,
                    "died": interrupted is None, "provides": ready.get("provides", {}).get(name, []),
                    "seconds": 0.0})
    errors = list(ready.get("errors", []))
    if not ready:
        tail = (private / "verdict.log").read_bytes()[-2000:].decode(errors="replace").strip().splitlines()
        errors.append("the hidden checks could not be set up" + (f": {tail[-1][:300]}" if tail else ""))
    shutil.rmtree(private, ignore_errors=True)
    return {"results": out, "errors": [e for e in errors if e]}


async def _session(args: argparse.Namespace, channel: Channel) -> None:
    import nbformat

    from labkit.report.kernel import _client_class

    nb = nbformat.read(args.notebook, as_version=4)
    work = str(Path(args.notebook).resolve().parent)
    # the report's client: the same output cap per cell (and in all) with its marker, as `labkit report`
    client = _client_class()(nb, kernel_name=KERNEL_NAME, resources={"metadata": {"path": work}},
                             allow_errors=False, timeout=None, startup_timeout=120, record_timing=False)
    client._used, client.lang = {}, args.lang
    kernel_log = Path(tempfile.gettempdir()) / "kernel.log"
    with open(kernel_log, "wb") as log:
        client.reset_execution_trackers()
        async with client.async_setup_kernel(stdin=subprocess.DEVNULL, stdout=log, stderr=log):
            started = time.monotonic()  # the notebook's time starts once its kernel is up
            kernel_pid = getattr(client.km.provisioner, "pid", None)
            if args.sandboxed and kernel_pid:
                KEEP.add(kernel_pid)
                threading.Thread(target=_reap_orphans, args=(KEEP,), daemon=True).start()
            failure = await _run_notebook(client, nb, started + args.timeout)
            _cap(nb)
            channel.send({"event": "notebook", "notebook": nbformat.writes(nb),
                          "failure": failure.to_dict() if failure is not None else None,
                          "seconds": round(time.monotonic() - started, 3),
                          "disk_full": _full_disk([work, tempfile.gettempdir()]) if args.sandboxed else ""})
            reply = await asyncio.get_running_loop().run_in_executor(None, channel.receive)
            plan = reply.get("verdict")
            if plan is None:
                return
            checks_started = time.monotonic()
            # the student's kernel and whatever it left running are gone before any check
            if args.sandboxed:
                _kill_strays({os.getpid()})
                KEEP.clear()  # the kernel is dead: its zombie is the reaper's now
            else:
                try:
                    await asyncio.wait_for(client.km.shutdown_kernel(now=True), timeout=5)
                except Exception:
                    pass
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, run_verdicts, plan, float(reply.get("budget") or 60), KEEP)
            channel.send({"event": "checks", **outcome, "seconds": round(time.monotonic() - checks_started, 3)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.grade.inside")
    parser.add_argument("--notebook", required=True)
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="the language of the output-cap marker")
    parser.add_argument("--timeout", type=float, required=True, help="seconds for the notebook's cells")
    parser.add_argument("--rlimit-data", type=int, default=0, help="RLIMIT_DATA in bytes (0: none)")
    parser.add_argument("--sandboxed", action="store_true",
                        help="this process is in its own PID namespace: stray processes may be killed")
    args = parser.parse_args(argv)
    skip_slow_imports()
    channel = Channel()
    _not_dumpable()
    _set_rlimits(args.rlimit_data)
    _kernelspec(Path(tempfile.mkdtemp(prefix="labkit-kernels-")))
    asyncio.run(_session(args, channel))
    sys.stderr.flush()
    os._exit(0)  # do not wait for a kernel that ignores shutdown: the grader ends the sandbox


if __name__ == "__main__":
    sys.exit(main())
