"""Shared test helpers: running a lab through the real report pipeline, reading PDFs."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Caches go to a per-session folder unless the caller chose one (never into the data folder)."""
    if "LABKIT_CACHE" not in os.environ:
        os.environ["LABKIT_CACHE"] = str(tmp_path_factory.mktemp("labkit-cache"))
    yield


def full_data_dir() -> Path | None:
    """The full course data (LABKIT_DATA, else ../shared/data), or None."""
    env = os.environ.get("LABKIT_DATA")
    path = Path(env) if env else SHARED_DATA
    return path if (path / "MNIST").is_dir() else None


def require_full_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The full course data, with LABKIT_DATA pointing at it (and LABKIT_OFFLINE unset) through
    ``monkeypatch``; the test is skipped without it."""
    data = full_data_dir()
    if data is None:
        pytest.skip("set LABKIT_DATA to the course data (../shared/data)")
    monkeypatch.setenv("LABKIT_DATA", str(data))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    return data


def render_lab_on_full_data(lab: str, tmp_path_factory, **overrides):
    """:func:`render_lab` of ``lab`` on the full course data into a fresh folder: ``(result, folder)``."""
    with pytest.MonkeyPatch.context() as patch:
        require_full_data(patch)
        out = tmp_path_factory.mktemp(lab)
        return render_lab(lab, out, **overrides), out


@pytest.fixture(scope="module")
def data_dir():
    """The full course data, with LABKIT_DATA pointing at it for the module's tests (they skip without it)."""
    data = full_data_dir()
    if data is None:
        pytest.skip("set LABKIT_DATA to the course data (../shared/data)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_DATA", str(data))
        yield data


def pdf_text(pdf: Path) -> str:
    """The text of a PDF, via poppler's pdftotext."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: install poppler-utils (make setup does)")
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def complete_report(result, out: Path, lab: str) -> dict:
    """Assert that ``lab``'s report rendered without a failed cell and wrote every file; its metrics.json."""
    import json

    assert result.failure is None, result.failure
    for name in (f"{lab}.ipynb", f"{lab}.html", f"{lab}.pdf", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    return json.loads((out / "metrics.json").read_text())


def render_lab(lab: str, out_dir: Path, **overrides):
    """Run notebooks/<lab>.ipynb in its smoke profile through the real pipeline."""
    from labkit.report import pipeline as report

    return report.render(ROOT / "notebooks" / f"{lab}.ipynb", out_dir, {"profile": "smoke", **overrides}, name=lab)
