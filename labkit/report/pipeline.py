"""The report pipeline: execute a lab notebook, then write its HTML, PDF and metrics.

:func:`render` is the whole pipeline (``labkit report`` calls it)::

    notebooks/vae.ipynb --nbclient---> reports/vae/vae.ipynb   (+ provenance section)
                        --nbconvert--> reports/vae/vae.html    (MathJax 3 inside the file)
                        --Chromium---> reports/vae/vae.pdf     (A4)
                                       reports/vae/metrics.json

Parameters are checked against the notebook's ``parameters`` cell before
anything runs or is written. A failing cell does not lose the report: the
executed notebook, HTML and PDF are still written, with a banner at the top
and a marker at the failing cell, and :attr:`ReportResult.failure` says
which cell failed and why.
"""
from __future__ import annotations

import contextlib
import html as html_lib
import importlib.util
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import nbformat

from labkit.report import document, provenance
from labkit.i18n import LANGUAGES, check_language, t
from labkit.report.cells import CellFailure
from labkit.report.kernel import OUTPUT_LIMIT, Progress, Terminated, choose_kernel, kernel_env, run_notebook  # noqa: F401 (Terminated: for callers of render)
from labkit.plumbing import atomic_path, atomic_write
from labkit.data.files import data_dir
from labkit.report.params import ParameterError, read_parameters
from labkit.report.tools import make_file, remove_tree
from labkit.report.prepare import dumps, for_render, load_notebook, run_copy, stub_dialogs
from labkit.records import DATASET_MIME, RUN_MIME, read_payloads, read_records

#: Where the kit's nbconvert templates live (the template is named ``labkit``).
TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "labkit"

#: Executables tried, in order, when ``$LABKIT_CHROMIUM`` is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "LABKIT_CHROMIUM"
INSTALL_HINT = (
    "install Chromium and the CJK fonts (Debian/Ubuntu: `sudo apt-get install chromium fonts-noto-cjk`), "
    f"or set {CHROMIUM_ENV} to the path of a Chromium or Chrome executable"
)

#: Tags of the cells the pipeline adds to the executed notebook.
PROVENANCE_TAG = "labkit-provenance"
ERROR_TAG = "labkit-error"

#: Virtual time Chromium grants the page (MathJax typesetting) before printing, in ms.
_VIRTUAL_TIME_MS = 30_000


class PdfError(RuntimeError):
    """Chromium could not print the HTML report to PDF."""


class ChromiumMissing(PdfError):
    """No Chromium or Chrome executable was found; the message says how to install one."""


class ReportInputError(ValueError):
    """Bad input found before anything ran or was written (exit 2): the message is one line."""


class NotebookMissing(ReportInputError, FileNotFoundError):
    """The notebook file does not exist."""


class OutputBusy(ReportInputError):
    """Another ``labkit report`` is writing into the same output folder."""


@dataclass
class ReportResult:
    """What :func:`render` wrote, and what the notebook reported."""

    ipynb: Path
    html: Path
    pdf: Path | None
    metrics: Path
    failure: CellFailure | None = None
    pdf_error: str | None = None
    datasets: list[dict] = field(default_factory=list)
    records: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    kernel: str = ""
    notes: list[str] = field(default_factory=list)
    docx: Path | None = None
    docx_error: str | None = None


# --------------------------------------------------------------------------- input and output folder

def _check_path_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ReportInputError(f"the {what} {text.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8: "
                               "rename it (letters, digits, Chinese are fine)") from None


def check_out_dir(out_dir: Path) -> None:
    """Raise :class:`ReportInputError` unless ``out_dir`` is (or can be made) a writable folder.

    Writes nothing: only looks at the folder, or at its nearest existing parent.
    """
    _check_path_text(str(out_dir), "output folder")
    probe = out_dir
    while not probe.exists():
        if probe.is_symlink():
            raise ReportInputError(f"cannot write into {out_dir}: {probe} is a broken link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ReportInputError(f"cannot write into {out_dir}: {probe} is a file, not a folder; "
                               "choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ReportInputError(f"cannot write into {out_dir}: {probe} is not writable (permission denied or "
                               "a read-only file system); choose another --out")


LOCK_NAME = ".labkit-report.lock"


def _lock_folder(out_dir: Path, fcntl) -> Any:
    """The open lock file of ``out_dir``, locked by this process; :class:`OutputBusy` when another run holds it.

    The lock file is removed when a run ends (:func:`_output_folder`), so after taking the lock this
    checks that the file is still the one at the path (another run may have removed it meanwhile) and
    tries again if not: two runs never hold locks on different files of one folder.
    """
    path = out_dir / LOCK_NAME
    while True:
        lock = open(path, "a+")
        if fcntl is None:
            return lock
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            lock.close()
            raise OutputBusy(f"another `labkit report` (pid {holder or '?'}) is writing into {out_dir}; wait "
                             "for it to finish, or choose another --out") from None
        try:
            same = os.fstat(lock.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return lock
        lock.close()  # the run that held it removed it: lock the new one


@contextlib.contextmanager
def _output_folder(out_dir: Path) -> Iterator[Path]:
    """Lock ``out_dir`` against a second run and give a staging folder inside it.

    The staging folder is removed on the way out (an interrupted run leaves
    the previous report as it was); :func:`_publish` moves finished files
    out of it. The lock file is removed too, and the folders this run created
    when they are left empty (an interrupted first run leaves nothing behind).
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the staging folder still protects the old report
        fcntl = None
    created = []
    probe = out_dir
    while not probe.exists() and probe.parent != probe:
        created.append(probe)
        probe = probe.parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = _lock_folder(out_dir, fcntl)
    except OSError as exc:
        _remove_empty(created)
        raise ReportInputError(f"cannot write into {out_dir}: {exc.strerror or exc}") from None
    except OutputBusy:
        _remove_empty(created)
        raise
    try:
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        _remove_stale_partials(out_dir)
        staging = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out_dir))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        with contextlib.suppress(OSError):
            (out_dir / LOCK_NAME).unlink()  # still held: a run waiting on it retries on a new file
        lock.close()  # releases the lock
        _remove_empty(created)


PARTIAL_PREFIX = ".labkit-partial-"


def _remove_stale_partials(out_dir: Path) -> None:
    """Remove the staging folders a killed run left in ``out_dir`` (SIGKILL, power loss).

    Called with the folder's lock held: every run stages only while it holds the lock, so any
    staging folder found then belongs to a run that is gone.
    """
    for stale in out_dir.glob(f"{PARTIAL_PREFIX}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) that are empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _publish(staging: Path, out_dir: Path, names: list[str], stale: list[str]) -> None:
    """Move the finished files into ``out_dir`` (Ctrl-C and SIGTERM held back meanwhile); remove ``stale`` ones.

    A signal that came meanwhile is handled by its own handler once the files are in place.
    """
    import signal

    held: list[Any] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda *args: held.append(args))
    try:
        for name in names:
            os.replace(staging / name, out_dir / name)
        for name in stale:
            (out_dir / name).unlink(missing_ok=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    for number, frame in held[:1]:
        handler = previous.get(number)
        if callable(handler):
            handler(number, frame)
        elif number == signal.SIGINT or handler == signal.SIG_DFL:
            raise KeyboardInterrupt


# --------------------------------------------------------------------------- notebook edits

def _markdown_cell(source: str, tag: str) -> Any:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = [tag]
    return cell


def _is_title(cell: Any) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("# ")


def _error_cells(failure: CellFailure, lang: str) -> tuple[Any, Any]:
    """The banner (for the top) and the marker (for just before the failing cell)."""
    message = html_lib.escape(failure.message(lang))
    banner = _markdown_cell(
        f'<div class="labkit-error labkit-nomath" id="labkit-error">'
        f"<strong>{html_lib.escape(t('error.title', lang))}</strong>"
        f"<p>{message}</p>"
        f"<p>{html_lib.escape(t('error.stopped', lang))} "
        f'<a href="#labkit-error-cell">{html_lib.escape(t("error.link", lang))}</a></p></div>',
        ERROR_TAG,
    )
    marker = _markdown_cell(
        f'<div class="labkit-error-anchor labkit-nomath" id="labkit-error-cell">'
        f"{html_lib.escape(t('error.at_cell', lang))}: {message}</div>",
        ERROR_TAG,
    )
    return banner, marker


def _annotate(nb: Any, prov: dict, failure: CellFailure | None, failed_at: int | None, lang: str) -> None:
    """Insert the provenance section, and the failure banner and marker, into ``nb``."""
    if failure is not None and failed_at is not None:
        banner, marker = _error_cells(failure, lang)
        nb.cells.insert(failed_at, marker)
    section = _markdown_cell(provenance.section_markdown(prov, lang), PROVENANCE_TAG)
    nb.cells.insert(1 if nb.cells and _is_title(nb.cells[0]) else 0, section)
    if failure is not None:
        nb.cells.insert(0, banner)


def _provenance(notebook: Path, nb: Any, parameters: dict, overridden: list[str], started: datetime,
                wall_seconds: float, datasets: list[dict], failure: CellFailure | None, lang: str) -> dict:
    runs = read_payloads(nb, RUN_MIME)
    run = runs[-1] if runs else {}
    device = run.get("device")
    if device and run.get("device_name") and run["device_name"] != device:
        device = f"{run['device_name']} ({device})"
    return {
        "notebook": notebook.name,
        "lang": lang,
        "profile": parameters.get("profile", run.get("profile")),
        "seed": parameters.get("seed", run.get("seed")),
        "device": device,
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": round(wall_seconds, 2),
        "parameters": parameters,
        "overridden": overridden,
        "settings": run.get("settings", {}),
        "threads": run.get("threads"),
        "datasets": datasets,
        "failure": failure.to_dict() if failure else None,
        "environment": provenance.environment(run.get("gpus")),
    }


# --------------------------------------------------------------------------- HTML and PDF

@lru_cache(maxsize=1)
def mathjax_source() -> str:
    """MathJax 3 (``tex-svg-full.js``) from the installed ``django-static-mathjax`` package.

    The text is safe to put inside an inline ``<script>`` element.
    """
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is not installed: run `pip install django-static-mathjax`")
    path = Path(list(spec.submodule_search_locations)[0]) / "static/mathjax/es5/tex-svg-full.js"
    if not path.is_file():
        raise RuntimeError(f"MathJax 3 not found at {path}: run `pip install --force-reinstall django-static-mathjax`")
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def to_html(nb: Any, html: Path | str, *, lang: str = "en", resources_path: Path | str | None = None) -> Path:
    """Write ``nb`` as a self-contained HTML file with the kit's template.

    MathJax is inlined, ``\\r``-updated progress bars keep only their final
    line, local images in markdown are embedded, and ``alert``/``confirm``/
    ``prompt`` are stubbed out (a dialog would stall Chromium's print). ``resources_path`` is
    the folder relative image links are resolved against.
    """
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    html = Path(html)
    exporter = HTMLExporter(
        config=Config({"CoalesceStreamsPreprocessor": {"enabled": True}}),
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES)],
        language_code=check_language(lang), embed_images=True,
    )
    resources = {
        "metadata": {"name": html.stem, "path": str(resources_path or html.parent)},
        "labkit_mathjax_js": mathjax_source(),
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    atomic_write(html, stub_dialogs(body))
    return html


def chromium_path() -> str | None:
    """The Chromium/Chrome executable to print with, or None.

    ``$LABKIT_CHROMIUM`` wins when set (a path or a command name); if it
    names nothing executable, Chromium counts as missing. Otherwise the first
    of :data:`CHROMIUM_NAMES` found on ``PATH``.
    """
    explicit = os.environ.get(CHROMIUM_ENV, "").strip()
    if explicit:
        return shutil.which(explicit)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: Path | str, pdf: Path | str, *, timeout: float = 300) -> Path:
    """Print ``html`` to an A4 ``pdf`` with headless Chromium, after MathJax has typeset.

    Raises :class:`ChromiumMissing` when no browser is found and
    :class:`PdfError` when printing fails.
    """
    chrome = chromium_path()
    if chrome is None:
        where = f" ({CHROMIUM_ENV}={os.environ[CHROMIUM_ENV]!r} is not an executable)" \
            if os.environ.get(CHROMIUM_ENV, "").strip() else ""
        raise ChromiumMissing(f"cannot make the PDF: Chromium was not found{where}; {INSTALL_HINT}")
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    # Chromium's profile and its own temporary files (TMPDIR) in one folder, removed however the run ends
    work = Path(tempfile.mkdtemp(prefix="labkit-chromium-"))
    try:
        (work / "tmp").mkdir()
        _print_pdf(chrome, work / "profile", html, pdf, timeout, env={**os.environ, "TMPDIR": str(work / "tmp")})
    finally:  # after Ctrl-C too: make_file has killed Chromium's processes, so nothing writes there any more
        remove_tree(work)
    return pdf


def _print_pdf(chrome: str, profile: Path, html: Path, pdf: Path, timeout: float, env: dict[str, str]) -> None:
    with atomic_path(pdf) as partial:
        command = [
            chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run", "--mute-audio",
            "--hide-scrollbars", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--virtual-time-budget={_VIRTUAL_TIME_MS}", f"--print-to-pdf={partial}", html.as_uri(),
        ]
        make_file(command, partial, tool="Chromium", doing=f"printing {html.name}", timeout=timeout, error=PdfError,
                  env=env)


# --------------------------------------------------------------------------- the pipeline

def _sample_notice(info: dict) -> str:
    return (f"note: {info.get('title', info.get('name'))} comes from the embedded sample, not the full dataset "
            f"({info.get('sample_reason') or 'full data not found'}); set LABKIT_DATA to a folder with the full "
            "data for real results")


def with_language(spec: Any, overrides: dict[str, Any], lang: str | None) -> dict[str, Any]:
    """``overrides`` checked and coerced (:meth:`ParameterSpec.validate`) with the report's language.

    ``lang`` (``"en"``/``"zh"``, or None) is the report-level language (``labkit report --lang``): it
    works for any notebook, and for one with a ``lang`` parameter it also sets that parameter.
    Raises :class:`ReportInputError` for an unsupported ``lang`` or one that contradicts ``-p lang``,
    and :class:`~labkit.report.params.ParameterError` for ``-p lang`` on a notebook without that
    parameter (the message points to ``--lang``).
    """
    if lang is not None and lang not in LANGUAGES:
        raise ReportInputError(f"--lang {lang!r} is not supported; choose one of: {', '.join(LANGUAGES)}")
    has_param = "lang" in spec.parameters
    if "lang" in overrides and not has_param:
        raise ParameterError(f"{spec.notebook.name} has no 'lang' parameter; use --lang {overrides['lang']} "
                             "(make report REPORT_LANG=...) to print its report in that language")
    overrides = spec.validate(overrides)
    if lang is not None and has_param:
        if "lang" in overrides and overrides["lang"] != lang:
            raise ReportInputError(f"-p lang {overrides['lang']} and --lang {lang} disagree; give one of them")
        overrides = {**overrides, **spec.validate({"lang": lang})}
    return overrides


def render(notebook: Path | str, out_dir: Path | str, overrides: dict[str, Any] | None = None, *,
           name: str | None = None, lang: str | None = None, cell_timeout: float | None = None,
           kernel_name: str | None = None, log: Callable[[str], Any] | None = print,
           progress: Any = None, output_limit: int = OUTPUT_LIMIT, student: Any = None,
           print_options: document.PrintOptions | None = None, docx: bool = True,
           on_start: Callable[[], Any] | None = None) -> ReportResult:
    """Execute ``notebook`` with ``overrides`` and write its report into ``out_dir``.

    Writes ``<name>.ipynb`` (executed, with an "Environment and provenance"
    section), ``<name>.html``, ``<name>.pdf`` and ``metrics.json``
    (``{"metrics", "parameters", "provenance"}``). ``name`` defaults to the
    notebook's stem; ``lang`` (the printed report's language: cells kept,
    labkit's labels, cover; also the notebook's ``lang`` parameter when it has
    one, see :func:`with_language`) to the notebook's ``lang`` parameter, else
    ``"en"``; ``cell_timeout`` (seconds, > 0) limits each cell;
    ``kernel_name`` defaults to the notebook's kernel when it is installed,
    else ``python3`` (with a note). ``$LABKIT_DATA`` (default ``./data``) is
    made absolute for the kernel, which runs in the notebook's folder.
    ``log`` gets the notes (kernel choice, offline samples); ``progress`` is
    a text stream for the per-cell progress lines (None: none);
    ``output_limit`` caps each cell's output (characters); ``on_start`` is called once every check
    has passed and the output folder is locked, just before the kernel starts (a refused run calls
    nothing: its error is all it says).

    ``hidden-check`` cells never run or show, and the solution markers are
    stripped from what is written. Files are written into a staging folder
    inside ``out_dir`` and moved into place only when all are complete, so an
    interrupted run (Ctrl-C) leaves the previous report as it was; the
    folder is locked against a second concurrent run.

    Raises, before anything runs or is written:
    :class:`~labkit.report.params.ParameterError` (an unknown or ill-typed
    override), :class:`ReportInputError` (not a notebook, an output folder
    that cannot be written or is busy, a bad option; ``BadNotebook`` and
    ``KernelChoiceError`` are ``ValueError``\\s too). A failing cell is not
    raised: it is in :attr:`ReportResult.failure`, and the report is still
    written. Without Chromium, the PDF is skipped and
    :attr:`ReportResult.pdf_error` says how to install it.
    """
    say = log or (lambda message: None)
    _check_path_text(str(notebook), "notebook path")
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise NotebookMissing(f"notebook {notebook} does not exist")
    if cell_timeout is not None and not (cell_timeout > 0 and cell_timeout != float("inf")):
        raise ReportInputError(f"the cell timeout must be a positive number of seconds, not {cell_timeout}")
    if output_limit <= 0:
        raise ReportInputError(f"the output limit must be positive, not {output_limit}")
    source = load_notebook(notebook)
    spec = read_parameters(notebook)
    overrides = with_language(spec, dict(overrides or {}), lang)
    parameters = {**spec.defaults(), **overrides}
    lang = check_language(lang or parameters.get("lang") or "en")
    kernel, kernel_note = choose_kernel(source, kernel_name)
    # the printed report (labkit.report.document): cover page fields, print options, Word file
    student = document.load_student(student, notebook)
    print_options = print_options or document.PrintOptions()

    out_dir = Path(out_dir).resolve()
    check_out_dir(out_dir)
    name = name or notebook.stem
    _check_path_text(name, "report name")
    files = {ext: f"{name}.{ext}" for ext in ("ipynb", "html", "pdf")}
    if out_dir / files["ipynb"] == notebook:
        raise ReportInputError(f"the executed notebook would overwrite {notebook}: choose another --out")

    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        say(line)

    data = data_dir()
    if os.environ.get("LABKIT_DATA") and not data.is_dir():
        note(f"note: LABKIT_DATA={os.environ['LABKIT_DATA']} is not a folder (a typo?); "
             "labs will use the embedded data samples")
    if kernel_note:
        note(kernel_note)

    with _output_folder(out_dir) as staging, \
            tempfile.TemporaryDirectory(prefix="labkit-kernel-", ignore_cleanup_errors=True) as private:
        if on_start is not None:
            on_start()
        run, cells = run_copy(source, overrides)
        announced: set[str] = set()

        def on_display(bundle: dict) -> None:
            info = bundle.get(DATASET_MIME)
            if isinstance(info, dict) and info.get("source") == "sample" and info.get("name") not in announced:
                announced.add(info.get("name"))
                note(_sample_notice(info))

        total = sum(1 for c in run.cells if c.cell_type == "code" and c.source.strip())
        tracker = Progress(total, progress) if progress is not None else None
        started = datetime.now().astimezone()
        clock = time.perf_counter()
        failure, failed_at = run_notebook(
            run, cells, kernel_name=kernel, cwd=notebook.parent, env=kernel_env(Path(private), data, lang=lang),
            ipc_dir=Path(private), cell_timeout=cell_timeout, output_limit=output_limit,
            progress=tracker, on_display=on_display, lang=lang)
        wall_seconds = time.perf_counter() - clock
        if failure is not None:
            say(f"{notebook.name}: {failure.message(lang)}")

        nb = for_render(document.mark_exercises(run))
        records = read_records(nb)
        datasets = read_payloads(nb, DATASET_MIME)
        for info in datasets:
            if info.get("source") == "sample" and info.get("name") not in announced:
                announced.add(info.get("name"))
                note(_sample_notice(info))
        prov = _provenance(notebook, nb, parameters, sorted(overrides), started, wall_seconds,
                           datasets, failure, lang)
        prov["kernel"] = kernel
        _annotate(nb, prov, failure, failed_at, lang)
        with atomic_path(staging / files["ipynb"]) as tmp:
            nbformat.write(nb, tmp)
        atomic_write(staging / "metrics.json",
                     dumps({"metrics": records, "parameters": parameters, "provenance": prov}) + "\n")

        say(f"writing {out_dir / files['html']}")
        printed = dict(lang=lang, options=print_options, student=student, profile=parameters.get("profile"))
        to_html(document.prepare(nb, **printed), staging / files["html"], lang=lang,
                resources_path=notebook.parent)
        pdf_error: str | None = None
        try:
            say(f"printing {out_dir / files['pdf']}")
            html_to_pdf(staging / files["html"], staging / files["pdf"])
        except PdfError as exc:
            pdf_error = str(exc)
            say(pdf_error)
        docx_name, docx_error = f"{name}.docx", None
        if docx:
            try:
                say(f"writing {out_dir / docx_name}")
                document.to_docx(document.prepare(nb, **printed, target="docx"), staging / docx_name,
                                 lang=lang, resources_path=notebook.parent)
            except document.DocxError as exc:
                docx_error = str(exc)
                say(docx_error)
        docx_ok = docx and docx_error is None
        written = [files["ipynb"], "metrics.json", files["html"]] + ([] if pdf_error else [files["pdf"]]) \
            + ([docx_name] if docx_ok else [])
        # a PDF or Word file from an earlier run would not match this report
        _publish(staging, out_dir, written,
                 stale=([files["pdf"]] if pdf_error else []) + ([] if docx_ok else [docx_name]))
    return ReportResult(ipynb=out_dir / files["ipynb"], html=out_dir / files["html"],
                        pdf=None if pdf_error else out_dir / files["pdf"], metrics=out_dir / "metrics.json",
                        failure=failure, pdf_error=pdf_error, datasets=datasets, records=records,
                        wall_seconds=wall_seconds, kernel=kernel, notes=notes,
                        docx=out_dir / docx_name if docx_ok else None, docx_error=docx_error)
