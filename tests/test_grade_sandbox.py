"""The sandbox itself (labkit.grade.sandbox): what code inside can see and do, and the limits.

Each test runs a few lines of Python in a real bubblewrap sandbox and reads back what they saw.
The limits are tested both with cgroups (where this machine allows them) and with the fallback
(rlimits and the watchdog).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.grade.sandbox import (Cgroup, Sandbox, SandboxSettings, SandboxUnavailable, bwrap_executable, kit_dir,
                                  probe)

ROOT = Path(__file__).resolve().parent.parent
needs_bwrap = pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
CGROUPS = Cgroup.create(64 << 20, 16)
if CGROUPS is not None:
    CGROUPS.remove()


def run_inside(tmp_path: Path, code: str, *, settings: SandboxSettings | None = None, memory_mb: int = 512,
               processes: int = 64, timeout: float = 60) -> tuple[dict | None, str | None, int]:
    """Run ``code`` in a sandbox; return (the JSON it printed, the limit reached, exit code)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    sandbox = Sandbox(settings or SandboxSettings(), work, memory_mb=memory_mb, processes=processes)
    try:
        process = sandbox.start([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        deadline, limit = time.monotonic() + timeout, None
        while process.poll() is None and time.monotonic() < deadline:
            limit = sandbox.limit_reached()
            if limit:
                break
            time.sleep(0.1)
        limit = limit or sandbox.limit_reached()
        sandbox.kill()
        out, err = process.stdout.read().decode(), process.stderr.read().decode()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return (json.loads(lines[-1]) if lines else {"stderr": err[-2000:]}), limit, process.returncode
    finally:
        sandbox.close()


@needs_bwrap
def test_the_probe_describes_the_sandbox():
    description = probe(SandboxSettings())
    assert "bubblewrap" in description
    assert ("cgroup" in description) == (CGROUPS is not None)


@needs_bwrap
def test_code_inside_sees_only_its_folder_the_kit_the_environment_and_the_data(tmp_path, monkeypatch):
    secret_dir = tmp_path / "submissions"
    secret_dir.mkdir()
    (secret_dir / "bob.ipynb").write_text("{}")
    data = tmp_path / "data"
    data.mkdir()
    (data / "canary.txt").write_text("data")
    monkeypatch.setenv("LABKIT_GRADE_TEST_SECRET", "do-not-leak")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "mine.ipynb").write_text("{}")
    paths = {"submissions": str(secret_dir / "bob.ipynb"), "rubric": str(ROOT / "grading" / "mlp.yaml"),
             "solution": str(ROOT / "notebooks" / "mlp.ipynb"), "tests": str(Path(__file__)),
             "repo_readme": str(ROOT / "README.md"), "submissions_dir": str(secret_dir)}
    code = f"""
import json, os, socket
paths = {paths!r}
seen = {{name: os.path.exists(path) for name, path in paths.items()}}
# folders on the way to a read-only bind exist, holding only that bind
around_data = sorted(os.listdir({str(tmp_path)!r}))
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    net = "reachable"
except OSError as error:
    net = type(error).__name__
writable = {{}}
for name, path in {{"kit": {str(kit_dir() / 'x')!r}, "data": {str(data / 'x')!r}, "root": "/x",
                    "usr": "/usr/x", "tmp": "/tmp/x", "own": "/submission/x"}}.items():
    try:
        open(path, "w").close()
        writable[name] = True
    except OSError:
        writable[name] = False
status = open("/proc/self/status").read()
print(json.dumps({{"seen": seen, "net": net, "writable": writable, "pid": os.getpid(),
                  "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                  "caps": status.split("CapEff:")[1].split()[0], "cwd": os.getcwd(),
                  "listing": sorted(os.listdir(".")), "data": open({str(data / 'canary.txt')!r}).read(),
                  "leaked_env": "LABKIT_GRADE_TEST_SECRET" in os.environ, "env_data": os.environ.get("LABKIT_DATA"),
                  "around_data": around_data}}))
"""
    seen, limit, code_ = run_inside(tmp_path, code, settings=SandboxSettings(data_dir=str(data)))
    assert code_ == 0 and limit is None, seen
    assert not any(seen["seen"].values()), seen["seen"]
    assert seen["around_data"] == ["data"]  # not the submissions, not this sandbox's own work folder
    assert seen["net"] in ("OSError", "ConnectionRefusedError") or "Error" in seen["net"]
    assert seen["writable"] == {"kit": False, "data": False, "root": False, "usr": False, "tmp": True, "own": True}
    assert seen["pid"] == 1 and seen["pids"] == [1]  # its own PID namespace, and nothing else in it
    assert int(seen["caps"], 16) == 0
    assert seen["cwd"] == "/submission" and seen["listing"] == ["mine.ipynb", "x"]  # x: its own write
    assert seen["data"] == "data" and seen["env_data"] == str(data)
    assert not seen["leaked_env"]
    assert not (kit_dir() / "x").exists() and not (data / "x").exists()


LIMITS = [pytest.param(True, id="cgroups", marks=pytest.mark.skipif(CGROUPS is None, reason="no writable cgroups")),
          pytest.param(False, id="watchdog")]


@needs_bwrap
@pytest.mark.parametrize("cgroups", LIMITS)
def test_memory_beyond_the_limit_is_caught(tmp_path, cgroups):
    code = "import time\nhog = [b'x' * (32 << 20) for _ in range(16)]\ntime.sleep(30)"
    _, limit, _ = run_inside(tmp_path, code, settings=SandboxSettings(cgroups=cgroups), memory_mb=128)
    assert limit == "memory"


@needs_bwrap
@pytest.mark.parametrize("cgroups", LIMITS)
def test_too_many_processes_are_caught_and_all_of_them_killed(tmp_path, cgroups):
    marker = f"{os.getpid() % 1000 + 1000}.5"
    code = (f"import subprocess, time\n"
            f"kids = []\n"
            f"for _ in range(60):\n"
            f"    try:\n"
            f"        kids.append(subprocess.Popen(['/bin/sleep', '{marker}'], start_new_session=True))\n"
            f"    except OSError:\n"
            f"        pass\n"
            f"time.sleep(30)")
    _, limit, _ = run_inside(tmp_path, code, settings=SandboxSettings(cgroups=cgroups), processes=20)
    assert limit == "processes"
    time.sleep(0.5)
    survivors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_text():
                survivors.append(pid)
        except OSError:
            pass
    assert survivors == []


@needs_bwrap
def test_no_sandbox_no_grading(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_BWRAP", str(tmp_path / "no-bwrap-here"))
    with pytest.raises(SandboxUnavailable, match="bubblewrap .* is not installed.*--unsafe"):
        probe(SandboxSettings())
    monkeypatch.setenv("LABKIT_BWRAP", "/bin/false")
    with pytest.raises(SandboxUnavailable, match="cannot make a sandbox here"):
        probe(SandboxSettings())
    assert "none (--unsafe)" in probe(SandboxSettings(unsafe=True))


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_where_cgroups_are_read_only_the_limits_fall_back_to_rlimits_and_the_watchdog():
    # a private mount namespace in which every cgroup file system is read-only, as in many containers
    remount = ("for m in $(awk '$2 ~ \"^/sys/fs/cgroup\" {print $2}' /proc/self/mounts); do "
               "mount -o remount,bind,ro \"$m\" || exit 97; done; exec \"$@\"")
    code = ("from labkit.grade.sandbox import Cgroup, SandboxSettings, probe\n"
            "print(Cgroup.create(64 << 20, 16) is None)\nprint(probe(SandboxSettings()))")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", remount, "sh",
                           sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if done.returncode == 97 or "unshare failed" in done.stderr:
        pytest.skip(f"cannot make a private read-only mount here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    created_none, description = done.stdout.strip().splitlines()[-2:]
    assert created_none == "True"
    assert "bubblewrap" in description and "rlimits + watchdog" in description


def test_the_sandbox_runs_a_fixed_thread_count_without_a_passive_wait_policy(monkeypatch):
    from labkit.grade.sandbox import sandbox_env

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # nothing of the grader's environment is inherited
    env = sandbox_env(SandboxSettings(threads=3), private="/tmp/x")
    assert (env["LABKIT_THREADS"], env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]) == ("3", "3", "3")
    assert "OMP_WAIT_POLICY" not in env
    assert sandbox_env(SandboxSettings(), private="/tmp/x")["LABKIT_THREADS"] == "1"  # fixed on remote workers too
