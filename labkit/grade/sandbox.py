"""The sandbox one submission runs in: bubblewrap namespaces, and limits on memory, processes and time.

What the student's code sees (:func:`bwrap_arguments`): ``/usr``, the Python
environment, the kit's own package (``labkit/``) and ``$LABKIT_DATA``, all
read-only, on a read-only root; a private ``/dev`` and ``/proc`` (its own
PID namespace); ``/tmp`` and its working folder ``/submission`` (holding a
copy of its notebook and nothing else), each a tmpfs of the disk limit, so a
submission cannot fill the grading machine's disk. No network (an empty network
namespace), no view of other submissions, of the rubric and hidden checks,
of the output folder or of the rest of the repository. All capabilities are
dropped; the sandbox dies with the process that started it. The program
started inside (:mod:`labkit.grade.inside`) is the namespace's PID 1, so
nothing the student starts can kill it or reach its pipes (it is also
non-dumpable); bubblewrap's own processes, which hold the other ends of
those pipes, stay outside the namespace.

Limits (:class:`Sandbox`):

* memory and processes: a cgroup per submission (v2 ``memory.max`` and
  ``pids.max``, or v1 ``memory.limit_in_bytes`` and ``pids.max``) where
  ``/sys/fs/cgroup`` is writable; otherwise per-process rlimits
  (``RLIMIT_DATA``, set inside by :mod:`labkit.grade.inside`) and a watchdog
  that adds up the resident memory and the tasks of the sandbox's PID
  namespace. ``RLIMIT_NPROC`` alone would not do: Linux does not apply it to
  root, and it counts every process of the user, not of one sandbox.
* wall time: enforced from outside by the caller (:mod:`labkit.grade.execute`),
  which kills the whole sandbox.

:func:`probe` checks, once per grading run, that a sandbox can be made here,
and raises :class:`SandboxUnavailable` saying why not.
"""
from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

#: Where the submission's working folder appears inside the sandbox.
SANDBOX_WORK = "/submission"
#: Environment variable naming the bubblewrap executable (default: ``bwrap`` on PATH).
BWRAP_ENV = "LABKIT_BWRAP"
#: Set to ``0`` to never use cgroups (rlimits and the watchdog only).
CGROUPS_ENV = "LABKIT_GRADE_CGROUPS"
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "alternatives",
              "mime.types", "matplotlibrc")
_TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Largest file a submission may write (bytes), in every mode.
MAX_FILE_BYTES = 2 << 30


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``); a no-op elsewhere.

    Set in the grader's workers and in each sandbox's first process, so a
    grader killed with SIGKILL leaves nothing running.
    """
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class SandboxSettings:
    """How sandboxes are made (picklable: sent to the grading workers)."""

    unsafe: bool = False  #: run without bubblewrap (no isolation; limits still apply)
    cgroups: bool = True  #: use cgroups when writable (False: rlimits and the watchdog only)
    data_dir: str | None = None  #: bound read-only and given to the lab as LABKIT_DATA
    threads: int | None = None  #: the kernel's fixed thread count (LABKIT_THREADS; None: 1, e.g. on remote workers)


def bwrap_executable() -> str | None:
    """The bubblewrap executable (``$LABKIT_BWRAP`` or ``bwrap`` on PATH), or None."""
    return shutil.which(os.environ.get(BWRAP_ENV, "").strip() or "bwrap")


def kit_dir() -> Path:
    """The installed ``labkit`` package folder (bound read-only; never the repository around it)."""
    return Path(__file__).resolve().parents[1]


def python_paths() -> list[Path]:
    """The folders of the Python environment to bind read-only: prefixes and site-packages."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  *site.getsitepackages()}
    user_site = site.getusersitepackages()
    if user_site in sys.path:
        candidates.add(user_site)
    paths = sorted({Path(p).resolve() for p in candidates if p and Path(p).is_dir()})
    # a folder inside another one is bound with it
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


def sandbox_env(settings: SandboxSettings, *, private: str) -> dict[str, str]:
    """The whole environment of the code inside (nothing else is inherited).

    ``private`` is the sandbox's own temporary folder (``/tmp`` inside bubblewrap).
    """
    bindir = str(Path(sys.executable).parent)
    env = {
        "HOME": f"{private}/home", "USER": "student", "LOGNAME": "student", "TMPDIR": private,
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "LABKIT_OFFLINE": "1", "LABKIT_CACHE": f"{private}/labkit-cache",
        "MPLCONFIGDIR": f"{private}/matplotlib", "IPYTHONDIR": f"{private}/ipython",
        "JUPYTER_PLATFORM_DIRS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        # the kit that is running (bound read-only at the same path), even when it is not the one pip
        # installed (a second checkout): its parent folder holds nothing else inside the sandbox
        "PYTHONPATH": str(kit_dir().parent),
    }
    if settings.data_dir:
        env["LABKIT_DATA"] = settings.data_dir
    # a fixed thread count (labkit.threads' LABKIT_THREADS, passed on to OpenMP and MKL by kernel_env), never
    # the adaptive default: a grade must not depend on the machine's load. OpenMP's own wait policy is
    # kept (PASSIVE makes an idle machine ~3x slower; the cores are divided between the workers).
    from labkit.threads import kernel_env

    env["LABKIT_THREADS"] = str(max(1, int(settings.threads or 1)))
    env = kernel_env(env)
    env.setdefault("OPENBLAS_NUM_THREADS", env["LABKIT_THREADS"])
    return env


def bwrap_arguments(settings: SandboxSettings, work_dir: Path, *, memory_bytes: int, disk_bytes: int | None = None,
                    files: list[tuple[int, str]] | None = None) -> list[str]:
    """bubblewrap's options for one submission whose working folder is ``work_dir`` (see the module docstring).

    With ``files`` (``(fd, name)`` pairs), ``/submission`` is a tmpfs of
    ``disk_bytes`` holding copies of those files (the submission cannot
    fill the grading machine's disk); otherwise ``work_dir`` is bound there.
    ``/tmp`` and ``/dev/shm`` are tmpfs of ``disk_bytes`` (default: ``memory_bytes``).
    """
    disk = str(disk_bytes or memory_bytes)
    # private /proc, /dev and /tmp first: a bind below (the data, say) may lie under /tmp
    args = ["--proc", "/proc", "--dev", "/dev",
            "--size", disk, "--tmpfs", "/tmp",
            "--size", disk, "--tmpfs", "/dev/shm",
            "--ro-bind", "/usr", "/usr"]
    for name in _TOP_LINKS:
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in python_paths():
        args += ["--ro-bind", str(path), str(path)]
    kit = kit_dir()
    args += ["--ro-bind", str(kit), str(kit)]
    if settings.data_dir and Path(settings.data_dir).is_dir():
        args += ["--ro-bind", settings.data_dir, settings.data_dir]
    if files is not None:
        args += ["--size", disk, "--tmpfs", SANDBOX_WORK]
        for fd, name in files:
            args += ["--file", str(fd), f"{SANDBOX_WORK}/{name}"]
    else:
        args += ["--bind", str(work_dir), SANDBOX_WORK]
    args += [
        "--chdir", SANDBOX_WORK,
        "--remount-ro", "/",
        "--unshare-pid", "--as-pid-1", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
    ]
    for name, value in sandbox_env(settings, private="/tmp").items():
        args += ["--setenv", name, value]
    return args


# --------------------------------------------------------------------------- cgroups


def _cgroup_lines() -> list[tuple[str, str]]:
    """``(controllers, path)`` for each line of /proc/self/cgroup."""
    lines = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        lines.append((controllers, path))
    return lines


def _read_counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Cgroup:
    """A memory + pids cgroup for one sandbox (v2, or v1 with separate hierarchies)."""

    def __init__(self, folders: list[Path], version: int):
        self.folders = folders
        self.version = version

    @classmethod
    def create(cls, memory_bytes: int, processes: int) -> "Cgroup | None":
        """A new cgroup with the limits set, or None where cgroups are not usable here."""
        if os.environ.get(CGROUPS_ENV, "1") == "0":
            return None
        try:
            lines = _cgroup_lines()
        except OSError:
            return None
        name = f"labkit-grade-{uuid.uuid4().hex[:12]}"
        for make in (cls._create_v2, cls._create_v1):
            group = make(lines, name)
            if group is None:
                continue
            try:
                group._limit(memory_bytes, processes)
            except OSError:
                group.remove()
                continue
            if not group._joinable():
                group.remove()
                continue
            return group
        return None

    @classmethod
    def _create_v2(cls, lines: list[tuple[str, str]], name: str) -> "Cgroup | None":
        root = Path("/sys/fs/cgroup")
        if not (root / "cgroup.controllers").is_file():
            return None
        own = next((path for controllers, path in lines if controllers == ""), None)
        if own is None:
            return None
        parent = root / own.lstrip("/")
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
            folder = parent / name
            folder.mkdir()
        except OSError:
            return None
        if not (folder / "memory.max").exists() or not (folder / "pids.max").exists():
            folder.rmdir()
            return None
        return cls([folder], 2)

    @classmethod
    def _create_v1(cls, lines: list[tuple[str, str]], name: str) -> "Cgroup | None":
        folders = []
        for controller in ("memory", "pids"):
            own = next((path for controllers, path in lines if controller in controllers.split(",")), None)
            base = Path("/sys/fs/cgroup") / controller
            if own is None or not base.is_dir():
                break
            folder = base / own.lstrip("/") / name
            try:
                folder.mkdir()
            except OSError:
                break
            folders.append(folder)
        if len(folders) != 2:
            for folder in folders:
                folder.rmdir()
            return None
        return cls(folders, 1)

    def _limit(self, memory_bytes: int, processes: int) -> None:
        if self.version == 2:
            folder = self.folders[0]
            (folder / "memory.max").write_text(str(memory_bytes))
            try:
                (folder / "memory.swap.max").write_text("0")
            except OSError:
                pass
            (folder / "pids.max").write_text(str(processes))
            return
        memory, pids = self.folders
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        try:  # no swapping past the limit, where the kernel accounts swap
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        except OSError:
            pass
        (pids / "pids.max").write_text(str(processes))

    def _joinable(self) -> bool:
        """Whether a process can move itself into this cgroup (delegation can forbid it even to root)."""
        try:
            return subprocess.run(self.join_command(["/bin/true"]), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def join_command(self, command: list[str]) -> list[str]:
        """``command``, started inside this cgroup (a shell adds itself, then execs it)."""
        writes = "; ".join(f"echo $$ > {folder / 'cgroup.procs'}" for folder in self.folders)
        return ["/bin/sh", "-c", f'{writes} && exec "$@"', "labkit-sandbox", *command]

    def oom_kills(self) -> int:
        """How many processes the kernel killed for want of memory in this cgroup."""
        if self.version == 2:
            return _read_counter(self.folders[0] / "memory.events", "oom_kill")
        return _read_counter(self.folders[0] / "memory.oom_control", "oom_kill")

    def process_limit_hits(self) -> int:
        """How many times a fork or thread creation failed at ``pids.max``."""
        folder = self.folders[0] if self.version == 2 else self.folders[1]
        return _read_counter(folder / "pids.events", "max")

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(found)

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup, until none is left (forks included)."""
        if self.version == 2 and (self.folders[0] / "cgroup.kill").exists():
            try:
                (self.folders[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        for folder in self.folders:
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

    def describe(self) -> str:
        return f"cgroup v{self.version} (memory, pids)"


# --------------------------------------------------------------------------- fallback watchdog


def _namespace_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _status_fields(pid: int) -> tuple[int, int]:
    """(threads, resident KiB) of a process, or (0, 0) when it is gone."""
    threads = rss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return threads, rss


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


class Watchdog:
    """Counts the tasks and resident memory of a sandbox without cgroups.

    In a bubblewrap sandbox it watches every process of the sandbox's PID
    namespace; without bubblewrap (``--unsafe``) the process tree of the
    started command.
    """

    def __init__(self, root_pid: int, in_namespace: bool):
        self.root_pid = root_pid
        self.in_namespace = in_namespace
        self.namespace: str | None = None

    def _members(self) -> list[int]:
        if not self.in_namespace:
            members, frontier = [self.root_pid], [self.root_pid]
            while frontier:
                frontier = [child for pid in frontier for child in _children(pid)]
                members += frontier
            return members
        if self.namespace is None:
            own = _namespace_of(os.getpid())
            for child in _children(self.root_pid):
                namespace = _namespace_of(child)
                if namespace and namespace != own:
                    self.namespace = namespace
            if self.namespace is None:
                return []
        return [int(e) for e in os.listdir("/proc") if e.isdigit() and _namespace_of(int(e)) == self.namespace]

    def usage(self) -> tuple[int, int]:
        """(tasks, resident bytes) of the sandbox now."""
        tasks = rss = 0
        for pid in self._members():
            threads, resident = _status_fields(pid)
            tasks += threads
            rss += resident * 1024
        return tasks, rss


# --------------------------------------------------------------------------- one sandbox


class Sandbox:
    """One running sandbox: start a command in it, watch its limits, kill it, clean up."""

    def __init__(self, settings: SandboxSettings, work_dir: Path, *, memory_mb: int, processes: int,
                 disk_mb: int | None = None):
        self.settings = settings
        self.work_dir = Path(work_dir)
        self.memory_bytes = int(memory_mb) << 20
        #: size of /submission and /tmp (tmpfs: their pages count against the memory limit too)
        self.disk_bytes = int(disk_mb) << 20 if disk_mb else None
        self.processes = int(processes)
        self.cgroup = Cgroup.create(self.memory_bytes, self.processes) if settings.cgroups else None
        self.watchdog: Watchdog | None = None
        self.process: subprocess.Popen | None = None
        self.private = self.work_dir.parent / "private"  # /tmp of an --unsafe run

    @property
    def work_path(self) -> str:
        """The working folder as the code inside sees it."""
        return str(self.work_dir) if self.settings.unsafe else SANDBOX_WORK

    @property
    def uses_rlimits(self) -> bool:
        """True when memory is limited per process (no cgroup): :mod:`labkit.grade.inside` sets RLIMIT_DATA."""
        return self.cgroup is None

    def describe(self) -> str:
        isolation = "none (--unsafe)" if self.settings.unsafe else "bubblewrap (no network, own PID namespace, read-only kit/env/data)"
        limits = self.cgroup.describe() if self.cgroup else "rlimits + watchdog"
        return f"isolation: {isolation}; limits: {limits}"

    def start(self, command: list[str], **popen: object) -> subprocess.Popen:
        """Start ``command`` (argv of the code to run inside) and return its process.

        The process is the leader of a new session, so :meth:`kill` reaches
        everything it starts.
        """
        read_fd = None
        if self.settings.unsafe:
            self.private.mkdir(parents=True, exist_ok=True)
            env = sandbox_env(self.settings, private=str(self.private))
            argv = list(command)
        else:
            bwrap = bwrap_executable()
            if bwrap is None:
                raise SandboxUnavailable(_no_bwrap())
            files = []
            if self.disk_bytes:  # copies of the working folder's files in a tmpfs of the disk limit
                for path in sorted(self.work_dir.iterdir()):
                    if path.is_file():
                        files.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), path.name))
                self._file_fds = [fd for fd, _ in files]
            args = bwrap_arguments(self.settings, self.work_dir, memory_bytes=self.memory_bytes,
                                   disk_bytes=self.disk_bytes, files=files if self.disk_bytes else None)
            # the options travel over a pipe: the sandbox's /proc shows "bwrap --args N -- command" only
            payload = b"\0".join(a.encode() for a in args) + b"\0"
            if len(payload) > 60_000:  # a pipe holds 64 KiB; bwrap reads it only once started
                raise SandboxUnavailable("the sandbox's options are too long (too many or too long paths)")
            read_fd, write_fd = os.pipe()
            os.write(write_fd, payload)
            os.close(write_fd)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            argv = [bwrap, "--args", str(read_fd), "--", *command]
        if self.cgroup is not None:
            argv = self.cgroup.join_command(argv)
        passed = ([read_fd] if read_fd is not None else []) + list(getattr(self, "_file_fds", []))
        try:
            self.process = subprocess.Popen(argv, env=env, start_new_session=True, pass_fds=tuple(passed),
                                            cwd=str(self.work_dir), preexec_fn=die_with_parent, **popen)
        finally:
            for fd in passed:
                os.close(fd)
            self._file_fds = []
        if self.cgroup is None:
            self.watchdog = Watchdog(self.process.pid, in_namespace=not self.settings.unsafe)
        return self.process

    def limit_reached(self) -> str | None:
        """``"memory"`` or ``"processes"`` when the sandbox went past a limit, else None."""
        if self.cgroup is not None:
            if self.cgroup.oom_kills():
                return "memory"
            if self.cgroup.process_limit_hits():
                return "processes"
            return None
        if self.watchdog is not None:
            tasks, rss = self.watchdog.usage()
            if rss > self.memory_bytes:
                return "memory"
            if tasks > self.processes:
                return "processes"
        return None

    def kill(self) -> None:
        """Kill everything in the sandbox (idempotent)."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.watchdog is not None and self.settings.unsafe:
            for pid in self.watchdog._members():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        """Kill what is left and remove the cgroup."""
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()


# --------------------------------------------------------------------------- probing


def _no_bwrap() -> str:
    return ("bubblewrap (bwrap) is not installed, so submissions cannot be isolated; install it "
            "(Debian/Ubuntu: `sudo apt-get install bubblewrap`, or `make setup`), set "
            f"{BWRAP_ENV} to its path, or pass --unsafe to grade without a sandbox (trusted submissions only)")


def probe(settings: SandboxSettings) -> str:
    """Check that a sandbox can be made here; return what it will be like.

    Starts one tiny sandbox that runs this Python and checks that it has no
    network and cannot write to the kit. Raises :class:`SandboxUnavailable`
    with the reason and the fix.
    """
    import tempfile

    if settings.unsafe:
        with tempfile.TemporaryDirectory(prefix="labkit-probe-") as folder:
            sandbox = Sandbox(settings, Path(folder), memory_mb=1024, processes=64)
            sandbox.close()
            return sandbox.describe()
    if bwrap_executable() is None:
        raise SandboxUnavailable(_no_bwrap())
    expected = str(kit_dir() / "__init__.py")
    code = ("import socket, os, sys\n"
            "try:\n    import labkit, labkit.grade.inside, labkit.grade.verdict, nbclient, ipykernel\n"
            "except Exception as exc:\n"
            "    sys.exit(f'the sandbox cannot import the grader: {type(exc).__name__}: {exc}')\n"
            f"if os.path.realpath(labkit.__file__) != {expected!r}:\n"
            "    sys.exit(f'the sandbox imports labkit from {labkit.__file__}, not the running kit "
            f"{expected}')\n"
            "try:\n    socket.create_connection(('192.0.2.1', 9), timeout=1)\nexcept OSError: pass\n"
            "else: sys.exit('the network is reachable')\n"
            f"try:\n    open({str(kit_dir() / '.labkit-probe')!r}, 'w')\nexcept OSError: pass\n"
            "else: sys.exit('the kit is writable')\n")
    with tempfile.TemporaryDirectory(prefix="labkit-probe-") as folder:
        work = Path(folder) / "work"
        work.mkdir()
        sandbox = Sandbox(settings, work, memory_mb=1024, processes=64)
        try:
            process = sandbox.start([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            try:
                out, err = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                raise SandboxUnavailable("a test sandbox did not finish within 60 s") from None
            description = sandbox.describe()
        finally:
            sandbox.close()
        (kit_dir() / ".labkit-probe").unlink(missing_ok=True)
    if process.returncode != 0:
        detail = (err or out).decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"exit code {process.returncode}"
        if "cannot import the grader" in reason or "imports labkit from" in reason:
            raise SandboxUnavailable(f"{reason}. The sandbox binds the running kit ({kit_dir()}) and the Python "
                                     "environment read-only: install the kit's requirements into this environment "
                                     "(pip install -e .) or run the labkit you mean to")
        raise SandboxUnavailable(
            f"bubblewrap cannot make a sandbox here ({reason}). Common causes: unprivileged user namespaces "
            "are disabled (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04+ "
            "kernel.apparmor_restrict_unprivileged_userns=0), or a container that forbids namespaces. "
            "Pass --unsafe to grade without a sandbox (trusted submissions only)")
    return description
