"""Running a notebook's cells in a Jupyter kernel, for the report pipeline.

:func:`run_notebook` executes a prepared notebook (see :mod:`labkit.report.prepare`)
with nbclient, cell by cell, and returns the :class:`~labkit.report.cells.CellFailure`
that stopped it, if any. Around nbclient it adds what a report needs:

* the kernel: ``--kernel NAME``, else the notebook's own when installed, else
  the kit's ``python3`` kernel with a note (:func:`choose_kernel`);
* the kernel's environment (:func:`kernel_env`): an absolute ``LABKIT_DATA``,
  a ``matplotlibrc`` with the kit's CJK font (Chinese in any notebook's
  figures, ``labkit.start`` or not) and a thread count that fits the cores
  this process may use; the kernel talks over IPC sockets, not TCP;
* progress on the terminal (:class:`Progress`): the cell running, its number
  out of the total, the elapsed time, and the last line of a ``tqdm`` bar
  (``labkit.fit``'s training progress) while a cell trains;
* an output cap per cell (:data:`OUTPUT_LIMIT`): the output up to the cap is kept (a stream's text
  cut at a line's end), then a visible marker, so a runaway ``print`` cannot stall the HTML and PDF;
* nbclient's ``raises-exception`` tag: such a cell may raise and the run goes on.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from labkit import threads
from labkit.i18n import t
from labkit.report.cells import INJECTED_TAG, CellFailure, CellMap, failure_from_exception

#: The kernel used when the notebook names none, or one that is not installed.
DEFAULT_KERNEL = "python3"

#: Text and data a single cell may output before the rest is dropped, in characters.
OUTPUT_LIMIT = 2_000_000

#: All cells together may output this many times :data:`OUTPUT_LIMIT`.
TOTAL_LIMIT_FACTOR = 5



class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``kill``) during a report: the run cleans up as after Ctrl-C."""


def truncated_text(kind: str, limit: str, lang: str = "en") -> str:
    """The marker left where output was dropped (i18n ``report.truncated``), in the report's language.

    ``kind``: ``"cell"`` (this cell passed its limit) or ``"total"`` (all cells together did);
    ``limit``: the limit as shown, e.g. ``"2 MB"``.
    """
    return t("report.truncated", lang, what=t(f"report.truncated.{kind}", lang), limit=limit) + "\n"


_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                 "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC")
_TQDM = re.compile(r"\d+%\|")


class KernelChoiceError(ValueError):
    """``--kernel`` names a kernel that is not installed (the message lists those that are)."""


def installed_kernels() -> dict[str, str]:
    """``{name: display name}`` of the Jupyter kernels installed here."""
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    kernels = {}
    for name in sorted(manager.find_kernel_specs()):
        try:
            kernels[name] = manager.get_kernel_spec(name).display_name
        except Exception:  # a broken kernel.json: listed without its display name
            kernels[name] = name
    return kernels


def choose_kernel(nb: Any, requested: str | None = None) -> tuple[str, str | None]:
    """``(kernel name, note or None)`` for running ``nb``.

    ``requested`` (``--kernel``) must be installed, else :class:`KernelChoiceError`.
    Without it: the notebook's ``metadata.kernelspec.name`` when installed;
    otherwise :data:`DEFAULT_KERNEL`, with a note saying why.
    """
    kernels = installed_kernels()
    listing = ", ".join(kernels) or "none"
    if requested:
        if requested not in kernels:
            raise KernelChoiceError(f"no Jupyter kernel named {requested!r} is installed (installed: {listing}); "
                                    "see `jupyter kernelspec list`")
        return requested, None
    wanted = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name")
    if wanted and wanted in kernels:
        return wanted, None
    if DEFAULT_KERNEL not in kernels:
        raise KernelChoiceError(f"the kit's {DEFAULT_KERNEL!r} kernel is not installed (installed: {listing}); "
                                "run `make setup`, or choose one with --kernel NAME")
    why = f"asks for kernel {wanted!r}, which is not installed here" if wanted else "names no kernel"
    return DEFAULT_KERNEL, (f"note: the notebook {why}; running it on {DEFAULT_KERNEL!r} "
                            f"({kernels[DEFAULT_KERNEL]}). Choose another with --kernel NAME (installed: {listing})")


def _cjk_family() -> str | None:
    """The first CJK font family matplotlib can find here, or None."""
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((family for family in _CJK_FAMILIES if family in names), None)


def write_matplotlibrc(folder: Path) -> Path | None:
    """A ``matplotlibrc`` in ``folder`` that adds the CJK font to the user's own settings.

    The user's own ``matplotlibrc`` (if any) comes first. Returns None when
    ``$MATPLOTLIBRC`` is already set (the user's choice wins) or no CJK font
    is installed.
    """
    if os.environ.get("MATPLOTLIBRC"):
        return None
    family = _cjk_family()
    if family is None:
        return None
    import matplotlib

    lines = []
    current = Path(matplotlib.matplotlib_fname())
    if current.is_file() and Path(matplotlib.get_data_path()) not in current.parents:
        lines.append(current.read_text(encoding="utf-8", errors="replace"))
    # Two families: matplotlib falls back glyph by glyph only across font.family's entries (see labkit.plots).
    lines += [f"font.family: sans-serif, {family}", "axes.unicode_minus: False", ""]
    rc = folder / "matplotlibrc"
    rc.write_text("\n".join(lines), encoding="utf-8")
    return rc


def kernel_env(tmp: Path, data_dir: Path, *, lang: str | None = None) -> dict[str, str]:
    """The environment every report kernel gets (this process's, plus the kit's settings).

    ``LABKIT_DATA`` absolute (the kernel runs in the notebook's folder);
    ``MATPLOTLIBRC`` (:func:`write_matplotlibrc`); the thread settings of
    :func:`labkit.threads.kernel_env` (``LABKIT_THREADS`` checked, a CPU quota
    respected); ``PYDEVD_DISABLE_FILE_VALIDATION`` (silences the debugger's
    frozen-modules warning); ``LABKIT_LANG`` = ``lang`` when given (the
    language labkit writes its labels in, :mod:`labkit.i18n`). Raises :class:`labkit.threads.ThreadSettingError`
    for a bad ``LABKIT_THREADS``.
    """
    env = dict(os.environ)
    env["LABKIT_DATA"] = str(data_dir)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if lang is not None:
        env["LABKIT_LANG"] = lang
    rc = write_matplotlibrc(tmp)
    if rc is not None:
        env["MATPLOTLIBRC"] = str(rc)
    return threads.kernel_env(env)


# --------------------------------------------------------------------------- progress

def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress of a run on the terminal (``stream``, default stderr).

    One line per code cell: ``[ 3/12 0:41] cell 5: <its first line>``. On a
    terminal, the last line of a ``tqdm`` bar the cell prints replaces itself
    under it; elsewhere (a log file) a bar is written once, when it finishes.
    """

    def __init__(self, total: int, stream: Any = None, enabled: bool = True) -> None:
        self.total, self.enabled = total, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.done = 0
        self._bar_shown = False
        self._partial: dict[str, str] = {}

    def _write(self, text: str) -> None:
        if not self.enabled:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not stop the report
            self.enabled = False

    def _line(self, text: str) -> str:
        """``text`` (one line) as printed: on a terminal cut to its width, so that a long line never wraps
        (a wrapped bar line is redrawn as a new line at every update); in a log file up to 150 characters."""
        width = shutil.get_terminal_size((100, 24)).columns - 1 if self.tty else 150
        return text[:max(width, 20)]

    def _end_bar(self) -> None:
        if self._bar_shown:
            self._write("\n")
            self._bar_shown = False
        self._partial = {}

    def note(self, line: str) -> None:
        self._end_bar()
        self._write(f"labkit: {line}\n")

    def cell(self, source_index: int | None, source: str) -> None:
        """Announce a code cell (``source_index`` None: a cell labkit added, e.g. the injected parameters)."""
        self._end_bar()
        self.done += 1
        first = next((s.strip() for s in source.splitlines() if s.strip() and not s.lstrip().startswith("#")),
                     source.strip().splitlines()[0] if source.strip() else "")
        if len(first) > 60:
            first = first[:57] + "..."
        width = len(str(self.total))
        self._write(self._line(f"[{self.done:>{width}}/{self.total} {_elapsed(time.monotonic() - self.started)}] "
                               + (f"cell {source_index}: " if source_index is not None else "parameters: ")
                               + first) + "\n")

    def stream_text(self, text: str, name: str = "stdout") -> None:
        """Follow a cell's stdout/stderr (``name``) for ``tqdm`` bars."""
        if not self.enabled:
            return
        text = self._partial.get(name, "") + text
        pieces = re.split(r"(\r|\n)", text)
        partial = self._partial[name] = pieces[-1][-1000:]
        if self.tty:
            # a bar's frames replace each other on one line; a finished bar (its line ended by "\n")
            # keeps its line, so the next bar of the same cell starts below it
            latest = None
            for i in range(0, len(pieces) - 1, 2):
                if pieces[i + 1] == "\n" and _TQDM.search(pieces[i]):
                    self._write("\r" + self._line("    " + pieces[i].strip()) + "\033[K\n")
                    self._bar_shown, latest = False, None
                elif pieces[i + 1] == "\n" and latest is not None:
                    self._write("\r" + self._line("    " + latest.strip()) + "\033[K\n")  # a bar closed by a bare "\n"
                    self._bar_shown, latest = False, None
                elif _TQDM.search(pieces[i]):
                    latest = pieces[i]
            if _TQDM.search(partial):
                latest = partial
            if latest:
                self._write("\r" + self._line("    " + latest.strip()) + "\033[K")
                self._bar_shown = True
        else:
            finished = [pieces[i] for i in range(0, len(pieces) - 1, 2) if pieces[i + 1] == "\n"]
            for line in finished:
                if _TQDM.search(line):
                    self._write(self._line("    " + line.strip()) + "\n")

    def finish(self) -> None:
        self._end_bar()


# --------------------------------------------------------------------------- execution

def _client_class():
    from nbclient import NotebookClient

    class ReportClient(NotebookClient):
        """nbclient with an output cap per cell and a tap on outputs for progress and notices."""

        output_limit: int = OUTPUT_LIMIT
        lang: str = "en"
        on_stream: Callable[[str, str], Any] | None = None
        on_display: Callable[[dict], Any] | None = None

        def output(self, outs, msg, display_id, cell_index):  # noqa: D401 (nbclient's signature)
            content = msg.get("content", {})
            msg_type = msg.get("msg_type")
            size = len(content.get("text", "")) if msg_type == "stream" else \
                sum(len(v) if isinstance(v, str) else len(str(v)) for v in content.get("data", {}).values())
            if msg_type != "error":  # an error is never dropped: it says why the cell failed
                used, total = self._used.get(cell_index, 0), sum(self._used.values())
                limit = self.output_limit if total < TOTAL_LIMIT_FACTOR * self.output_limit else 0
                if used > limit:
                    return None
                self._used[cell_index] = used + size
                if used + size > limit:
                    shown = f"{(limit or self.output_limit * TOTAL_LIMIT_FACTOR) / 1e6:g} MB"
                    head = _head_text(content.get("text", ""), limit - used) if msg_type == "stream" else ""
                    if head:  # the part of the text that fits, cut at a line's end where there is one
                        msg = {**msg, "content": {**content, "text": head}}
                        if self.on_stream is not None:
                            self.on_stream(head, content.get("name", "stdout"))
                        super().output(outs, msg, display_id, cell_index)
                    outs.append(_truncated_output(truncated_text("cell" if limit else "total", shown, self.lang)))
                    self._used[cell_index] = limit + 1
                    return None
            if msg_type == "stream" and self.on_stream is not None:
                self.on_stream(content.get("text", ""), content.get("name", "stdout"))
            elif msg_type in ("display_data", "execute_result") and self.on_display is not None:
                self.on_display(content.get("data", {}))
            return super().output(outs, msg, display_id, cell_index)

    return ReportClient


def _is_ipykernel(kernel_name: str) -> bool:
    """Whether the kernel is IPython's (its command line runs ``ipykernel``)."""
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        argv = KernelSpecManager().get_kernel_spec(kernel_name).argv
    except Exception:
        return False
    return any("ipykernel" in str(arg) for arg in argv)


def _head_text(text: str, room: int) -> str:
    """The first ``room`` characters of ``text`` at most, ending at a line's end when one is in them.

    A line longer than ``room`` is cut where the room ends (and ended with a newline), so the head
    is never empty while there is room; "" when ``room`` <= 0.
    """
    if room <= 0:
        return ""
    head = text[:room]
    end = head.rfind("\n")
    if end >= 0:
        return head[:end + 1]
    return head + "\n"


def _truncated_output(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("stream", name="stderr", text=text)


def run_notebook(nb: Any, cells: CellMap, *, kernel_name: str, cwd: Path, env: dict[str, str], ipc_dir: Path,
                 cell_timeout: float | None = None, output_limit: int = OUTPUT_LIMIT,
                 progress: Progress | None = None, on_display: Callable[[dict], Any] | None = None,
                 lang: str = "en") -> tuple[CellFailure | None, int | None]:
    """Execute ``nb`` in place, in a new ``kernel_name`` kernel started in ``cwd`` with ``env``.

    Returns ``(failure, run index of the failing cell)``, or ``(None, None)``.
    Cells after a failure keep no outputs and no execution count. A cell
    tagged ``raises-exception`` may raise without stopping the run.
    ``cell_timeout`` (seconds, None: no limit) applies to each cell. Ctrl-C
    (SIGINT) stops the kernel and raises :class:`KeyboardInterrupt`, SIGTERM :class:`Terminated`. The
    kernel's IPC sockets are made in ``ipc_dir`` (a short private folder).
    The widget state of the run is saved in ``nb.metadata.widgets`` (nbclient).
    A cell's output is kept up to ``output_limit`` characters (the stream text that crosses it is cut at
    its last line end within the limit, or at the limit when it is one long line); the rest is replaced
    by a marker in ``lang`` (:func:`truncated_text`).
    """
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbclient.util import run_sync

    if os.name == "posix" and _is_ipykernel(kernel_name):
        # IPC sockets: no "running over TCP without encryption" warning, no ports (other kernels may know only TCP)
        km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=str(ipc_dir / "kernel"))
    else:
        km = AsyncKernelManager(kernel_name=kernel_name)
    client = _client_class()(nb, km=km, timeout=cell_timeout, kernel_name=kernel_name,
                             resources={"metadata": {"path": str(cwd)}}, record_timing=True)
    client._used = {}
    client.output_limit = output_limit
    client.lang = lang
    if progress is not None:
        client.on_stream = progress.stream_text
    client.on_display = on_display

    interrupted: list[bool] = []

    async def go() -> tuple[CellFailure | None, int | None]:
        # Ctrl-C: cancel the run (nbclient would otherwise swallow or misreport it), then stop the kernel
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        watching = threading.current_thread() is threading.main_thread() and os.name == "posix"
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        if watching:
            for signum in previous:
                loop.add_signal_handler(signum, lambda n=signum: (interrupted.append(n), task.cancel()))
        try:
            return await run_cells()
        except asyncio.CancelledError:
            if interrupted:
                return None, None
            raise
        finally:  # nbclient shuts down only the kernels it made itself
            if watching:  # asyncio would leave the defaults: the caller's handlers are put back
                for signum, handler in previous.items():
                    loop.remove_signal_handler(signum)
                    if handler is not None:
                        signal.signal(signum, handler)
            if client.kc is not None:
                client.kc.stop_channels()
            if await _ensure(km.is_alive()):
                await km.shutdown_kernel(now=bool(interrupted))
            else:
                await _ensure(km.cleanup_resources())

    async def run_cells() -> tuple[CellFailure | None, int | None]:
        # the kernel's own stdout/stderr (warnings from C++ code, "shutting down" lines) go to a log file
        log = open(ipc_dir / "kernel.log", "ab")
        # not nbclient's async_setup_kernel: its own SIGINT handler kills the kernel, and the run would be
        # reported as a dead kernel instead of an interruption
        await client.async_start_new_kernel(env=env, cwd=str(cwd), stdout=log, stderr=log)
        await client.async_start_new_kernel_client()
        if True:
            msg_id = await _ensure(client.kc.kernel_info())
            info = await client.async_wait_for_reply(msg_id)
            if info is not None and "language_info" in info.get("content", {}):
                nb.metadata["language_info"] = info["content"]["language_info"]
            try:
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    if progress is not None:
                        added = INJECTED_TAG in cell.metadata.get("tags", [])
                        progress.cell(None if added else cells.source_index(index), cell.source)
                    try:
                        await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
                        return failure_from_exception(error, cell, index, cells), index
                    except RuntimeError as error:  # nbclient's "Kernel died" during the reply
                        if "died" not in str(error).lower():
                            raise
                        return failure_from_exception(DeadKernelError(str(error)), cell, index, cells), index
                return None, None
            finally:
                client.set_widgets_metadata()

    try:
        result = run_sync(go)()
    finally:
        if progress is not None:
            progress.finish()
    if interrupted:
        raise Terminated if interrupted[0] == signal.SIGTERM else KeyboardInterrupt
    failure, index = result
    if failure is not None and failure.kind == "dead_kernel":
        last = _last_log_line(ipc_dir / "kernel.log")
        if last:
            failure.evalue = f"{failure.evalue}: {last}" if failure.evalue else last
    return result


def _last_log_line(log: Path) -> str:
    """The last meaningful line the kernel process wrote (e.g. ``Fatal Python error: ...``), or ""."""
    try:
        lines = log.read_bytes()[-20_000:].decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    fatal = [line.strip() for line in lines if line.startswith("Fatal Python error")]
    if fatal:
        return fatal[-1][:300]
    lines = [line.strip() for line in lines if line.strip() and "[IPKernelApp]" not in line and "Warning" not in line
             and not line.startswith(("  File", "    ", "Current thread", "Thread 0x", "Extension modules"))]
    return lines[-1][:300] if lines else ""


async def _ensure(value: Any) -> Any:
    import inspect

    return await value if inspect.isawaitable(value) else value
