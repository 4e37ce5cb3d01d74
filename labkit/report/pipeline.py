"""The report pipeline: execute a lab notebook, then write its HTML, PDF and metrics.

:func:`render` is the whole pipeline (``labkit report`` calls it)::

    notebooks/vae.ipynb --papermill--> reports/vae/vae.ipynb   (+ provenance section)
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
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import nbformat

from labkit.report import provenance
from labkit.i18n import check_language, t
from labkit.report.params import read_parameters
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
_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"  # papermill's own markers, replaced by ours
_INJECTED_TAG = "injected-parameters"

#: Virtual time Chromium grants the page (MathJax typesetting) before printing, in ms.
_VIRTUAL_TIME_MS = 30_000


class PdfError(RuntimeError):
    """Chromium could not print the HTML report to PDF."""


class ChromiumMissing(PdfError):
    """No Chromium or Chrome executable was found; the message says how to install one."""


@dataclass(eq=False)
class CellFailure(Exception):
    """The cell that stopped a notebook's execution, and why.

    ``cell_index`` is the 0-based index of the cell in the *source* notebook
    (the one the student edits; papermill's injected-parameters cell is not
    counted). ``kind`` is ``"error"`` (the cell raised, including
    ``SystemExit``), ``"dead_kernel"`` or ``"timeout"``.
    """

    cell_index: int
    execution_count: int | None
    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list, repr=False)
    kind: str = "error"

    def cell_label(self, lang: str = "en") -> str:
        """``cell 3 (In [2])``: the cell's index and execution count."""
        count = " " if self.execution_count is None else self.execution_count
        return t("error.cell", lang, index=self.cell_index, count=count)

    def message(self, lang: str = "en") -> str:
        """One line for a human: which cell, which exception, its message."""
        key = {"dead_kernel": "error.died", "timeout": "error.timeout"}.get(self.kind, "error.raised")
        return t(key, lang, cell=self.cell_label(lang), ename=self.ename, evalue=self.evalue)

    def __str__(self) -> str:
        return self.message("en")

    def __reduce__(self):  # Exception's default pickling would lose the fields
        return (type(self), (self.cell_index, self.execution_count, self.ename, self.evalue,
                             self.traceback, self.kind))

    def to_dict(self) -> dict[str, Any]:
        """The failure as a plain dict (for ``metrics.json``), traceback left out."""
        data = asdict(self)
        del data["traceback"]
        return data


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


# --------------------------------------------------------------------------- execution

class _KnownParameters(logging.Filter):
    """Drop papermill's "Passed unknown parameter" warning: labkit has already
    validated the overrides, and papermill's own parser misreads annotated ones."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration of a block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _source_index(nb: Any, index: int) -> int:
    """Map an index in the executed notebook to the source notebook's index."""
    injected = sum(1 for cell in nb.cells[:index] if _INJECTED_TAG in cell.metadata.get("tags", []))
    return index - injected


def _last_started_cell(nb: Any) -> int:
    """The index of the last cell papermill started (the one running when execution stopped)."""
    started = [i for i, cell in enumerate(nb.cells)
               if cell.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else 0


def _execute(notebook: Path, output: Path, overrides: dict[str, Any], *, cell_timeout: float | None,
             kernel_name: str | None) -> tuple[Any, CellFailure | None, int | None]:
    """Run ``notebook`` into ``output`` with papermill.

    Returns the executed notebook (papermill's error markers removed), the
    failure if a cell stopped the run, and the failing cell's index in the
    executed notebook.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from labkit.data import data_dir

    error: Exception | None = None
    papermill_log, known = logging.getLogger("papermill"), _KnownParameters()
    papermill_log.addFilter(known)
    try:
        with _environ(LABKIT_DATA=str(data_dir())):
            papermill.execute_notebook(
                str(notebook), str(output), parameters=overrides, cwd=str(notebook.parent),
                kernel_name=kernel_name, execution_timeout=cell_timeout, progress_bar=False,
            )
    except (papermill.PapermillExecutionError, DeadKernelError, CellTimeoutError) as exc:
        error = exc
    finally:
        papermill_log.removeFilter(known)
    nb = nbformat.read(output, as_version=4)
    nb.cells = [c for c in nb.cells if _PAPERMILL_ERROR_TAG not in c.metadata.get("tags", [])]
    if error is None:
        return nb, None, None
    if isinstance(error, papermill.PapermillExecutionError):
        index = error.cell_index
        failure = CellFailure(_source_index(nb, index), error.exec_count, error.ename,
                              error.evalue, list(error.traceback or []))
    else:
        index = _last_started_cell(nb)
        kind = "timeout" if isinstance(error, CellTimeoutError) else "dead_kernel"
        evalue = (str(error).strip().splitlines() or [""])[0]
        failure = CellFailure(_source_index(nb, index), nb.cells[index].get("execution_count"),
                              type(error).__name__, evalue, kind=kind)
    return nb, failure, index


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
        "datasets": datasets,
        "failure": failure.to_dict() if failure else None,
        "environment": provenance.environment(),
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
    line, and local images in markdown are embedded. ``resources_path`` is
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
    html.write_text(body, encoding="utf-8")
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
    partial = pdf.with_name(pdf.name + ".part")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-chromium-") as profile:
        command = [
            chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run", "--mute-audio",
            "--hide-scrollbars", f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--virtual-time-budget={_VIRTUAL_TIME_MS}", f"--print-to-pdf={partial}", html.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            partial.unlink(missing_ok=True)
            raise PdfError(f"Chromium did not finish printing {html.name} within {timeout:.0f} s") from exc
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        detail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise PdfError(f"Chromium could not print {html.name} (exit code {done.returncode}): {detail}")
    partial.replace(pdf)
    return pdf


# --------------------------------------------------------------------------- the pipeline

def render(notebook: Path | str, out_dir: Path | str, overrides: dict[str, Any] | None = None, *,
           name: str | None = None, lang: str | None = None, cell_timeout: float | None = None,
           kernel_name: str | None = None, log: Callable[[str], Any] | None = print) -> ReportResult:
    """Execute ``notebook`` with ``overrides`` and write its report into ``out_dir``.

    Writes ``<name>.ipynb`` (executed, with an "Environment and provenance"
    section), ``<name>.html``, ``<name>.pdf`` and ``metrics.json``
    (``{"metrics", "parameters", "provenance"}``). ``name`` defaults to the
    notebook's stem; ``lang`` to the notebook's ``lang`` parameter, else
    ``"en"``; ``cell_timeout`` (seconds) limits each cell; ``kernel_name``
    defaults to the notebook's kernel. ``$LABKIT_DATA`` (default ``./data``)
    is made absolute for the kernel, which runs in the notebook's folder.

    Raises :class:`~labkit.report.params.ParameterError` for an unknown or
    ill-typed override before anything runs or is written. A failing cell
    is not raised: it is in :attr:`ReportResult.failure`, and the report is
    still written. Without Chromium, the PDF is skipped and
    :attr:`ReportResult.pdf_error` says how to install it.

    Not thread-safe: papermill changes the process's working directory, and
    ``$LABKIT_DATA`` is set in this process's environment while the kernel starts.
    """
    say = log or (lambda message: None)
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    spec = read_parameters(notebook)
    overrides = spec.validate(dict(overrides or {}))
    parameters = {**spec.defaults(), **overrides}
    lang = check_language(lang or parameters.get("lang") or "en")

    out_dir = Path(out_dir).resolve()
    name = name or notebook.stem
    ipynb, html, pdf = (out_dir / f"{name}.{ext}" for ext in ("ipynb", "html", "pdf"))
    metrics = out_dir / "metrics.json"
    if ipynb == notebook:
        raise ValueError(f"the executed notebook would overwrite {notebook}: choose another out_dir or name")
    out_dir.mkdir(parents=True, exist_ok=True)

    say(f"executing {notebook.name} -> {ipynb}")
    started = datetime.now().astimezone()
    clock = time.perf_counter()
    nb, failure, failed_at = _execute(notebook, ipynb, overrides, cell_timeout=cell_timeout,
                                      kernel_name=kernel_name)
    wall_seconds = time.perf_counter() - clock
    if failure is not None:
        say(f"{notebook.name}: {failure.message(lang)}")

    records = read_records(nb)
    datasets = read_payloads(nb, DATASET_MIME)
    prov = _provenance(notebook, nb, parameters, sorted(overrides), started, wall_seconds,
                       datasets, failure, lang)
    _annotate(nb, prov, failure, failed_at, lang)
    nbformat.write(nb, ipynb)
    metrics.write_text(json.dumps({"metrics": records, "parameters": parameters, "provenance": prov},
                                  ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    say(f"writing {html}")
    to_html(nb, html, lang=lang, resources_path=notebook.parent)
    pdf_path: Path | None = None
    pdf_error: str | None = None
    try:
        say(f"printing {pdf}")
        pdf_path = html_to_pdf(html, pdf)
    except PdfError as exc:
        pdf.unlink(missing_ok=True)  # a PDF from an earlier run would not match this report
        pdf_error = str(exc)
        say(pdf_error)
    return ReportResult(ipynb=ipynb, html=html, pdf=pdf_path, metrics=metrics, failure=failure,
                        pdf_error=pdf_error, datasets=datasets, records=records,
                        wall_seconds=wall_seconds)
