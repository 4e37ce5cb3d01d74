"""The report pipeline, through the real papermill, nbconvert and Chromium.

Each fixture notebook is rendered once per module (renders take seconds);
the tests then read what was written.
"""
from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit.report import pipeline as report, provenance

from conftest import SHARED_DATA, full_data_dir
from labkit.report.params import ParameterError

FIXTURES = Path(__file__).parent / "fixtures"
DATA = str(full_data_dir() or SHARED_DATA)  # the full data when present

needs_chromium = pytest.mark.skipif(report.chromium_path() is None, reason="Chromium is not installed")
pipeline = pytest.mark.pipeline


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def render(notebook: str, out_dir: Path, overrides=None, **kwargs) -> report.ReportResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_DATA", DATA)
        return report.render(FIXTURES / notebook, out_dir, overrides, log=None, **kwargs)


@pytest.fixture(scope="module")
def ok(tmp_path_factory) -> report.ReportResult:
    return render("ok.ipynb", tmp_path_factory.mktemp("ok"), {"lang": "zh", "scale": "3", "label": "中文标签"})


FAILURES = {  # notebook -> (overrides, source cell index, ename, evalue, kind)
    "raises.ipynb": ({"n": 2}, 3, "ValueError", "boom", "error"),
    "sys_exit.ipynb": (None, 1, "SystemExit", "3", "error"),
    "dead_kernel.ipynb": (None, 1, "DeadKernelError", None, "dead_kernel"),
}


@pytest.fixture(scope="module", params=sorted(FAILURES))
def failed(request, tmp_path_factory) -> tuple[str, report.ReportResult]:
    overrides = FAILURES[request.param][0]
    return request.param, render(request.param, tmp_path_factory.mktemp("failed"), overrides)


# --------------------------------------------------------------------------- a clean run

@pipeline
def test_render_writes_every_output(ok):
    assert ok.failure is None
    for path in (ok.ipynb, ok.html, ok.metrics):
        assert path.is_file() and path.stat().st_size > 0
    assert ok.ipynb.name == "ok.ipynb" and ok.html.name == "ok.html"
    assert ok.wall_seconds > 0
    assert ok.records["answer"] == 63.0


@pipeline
def test_metrics_json(ok):
    data = json.loads(ok.metrics.read_text(encoding="utf-8"))
    assert set(data) == {"metrics", "parameters", "provenance"}
    assert data["metrics"]["answer"] == 63.0
    assert data["parameters"] == {"lang": "zh", "scale": 3.0, "label": "中文标签"}
    prov = data["provenance"]
    assert prov["overridden"] == ["label", "lang", "scale"]
    assert prov["notebook"] == "ok.ipynb" and prov["failure"] is None
    assert set(prov["environment"]) >= {"os", "cpu", "cpu_count", "gpu", "python", "torch",
                                        "torchvision", "labkit", "commit"}
    assert "中文标签" in ok.metrics.read_text(encoding="utf-8")  # ensure_ascii=False


@pipeline
def test_kernel_gets_absolute_data_dir_and_notebook_folder(ok):
    assert Path(ok.records["data_dir"]) == Path(DATA).resolve()  # absolute; LABKIT_DATA may be a link
    assert Path(ok.records["cwd"]) == FIXTURES.resolve()


@pipeline
def test_executed_notebook_has_provenance_after_title(ok):
    nb = nbformat.read(ok.ipynb, as_version=4)
    assert nb.cells[0].source.startswith("# Report fixture")
    assert report.PROVENANCE_TAG in nb.cells[1].metadata["tags"]
    assert "运行环境与来源" in nb.cells[1].source  # lang came from the override
    assert not any(report.ERROR_TAG in c.metadata.get("tags", []) for c in nb.cells)


@pipeline
def test_html_is_self_contained_chinese_and_coalesced(ok):
    html = ok.html.read_text(encoding="utf-8")
    assert '<html lang="zh"' in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"""<link[^>]*href\s*=\s*["']?https?:""", html, re.IGNORECASE)
    assert "MathJax" in html and "Noto Sans CJK SC" in html and "size: A4" in html
    assert "运行环境与来源" in html and "覆盖值" in html
    assert "step 5/5" in html and "step 1/5" not in html  # only the bar's final state


@pipeline
@needs_chromium
def test_pdf_has_chinese_and_typeset_math(ok):
    assert ok.pdf is not None and ok.pdf_error is None
    text = pdf_text(ok.pdf)
    assert "欧拉恒等式" in text and "运行环境与来源" in text and "随机种子" in text
    for raw_tex in ("\\pi", "$e^", "\\frac", "\\int", "$$"):
        assert raw_tex not in text
    info = subprocess.run(["pdfinfo", str(ok.pdf)], capture_output=True, text=True).stdout
    assert "(A4)" in info


# --------------------------------------------------------------------------- bad input

def test_unknown_parameter_fails_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ParameterError, match="unknown parameter 'scael'.*Did you mean 'scale'"):
        report.render(FIXTURES / "ok.ipynb", out, {"scael": 1}, log=None)
    with pytest.raises(ParameterError, match="scale"):
        report.render(FIXTURES / "ok.ipynb", out, {"scale": "lots"}, log=None)
    with pytest.raises(ParameterError, match="valid choice"):
        report.render(FIXTURES / "ok.ipynb", out, {"lang": "fr"}, log=None)
    with pytest.raises(FileNotFoundError):
        report.render(FIXTURES / "missing.ipynb", out, log=None)
    assert not out.exists()
    source = FIXTURES / "ok.ipynb"
    before = source.read_bytes()
    with pytest.raises(ValueError, match="overwrite"):
        report.render(source, FIXTURES, log=None)
    assert source.read_bytes() == before


# --------------------------------------------------------------------------- failures

@pipeline
def test_failure_names_the_cell(failed):
    name, result = failed
    _, index, ename, evalue, kind = FAILURES[name]
    failure = result.failure
    assert isinstance(failure, report.CellFailure)
    assert (failure.cell_index, failure.ename, failure.kind) == (index, ename, kind)
    if evalue is not None:
        assert failure.evalue == evalue
    count = failure.execution_count
    assert count is not None or kind == "dead_kernel"  # a dying kernel may not report its count
    assert f"cell {index} (In [{' ' if count is None else count}])" in str(failure)
    assert ename in str(failure) or kind == "dead_kernel"
    metrics = json.loads(result.metrics.read_text(encoding="utf-8"))
    assert metrics["provenance"]["failure"]["ename"] == ename


@pipeline
def test_failure_banner_on_top_and_marker_at_the_cell(failed):
    name, result = failed
    nb = nbformat.read(result.ipynb, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert report.ERROR_TAG in tags[0]
    assert not any("papermill-error-cell-tag" in t for t in tags)  # replaced by the kit's own
    marker = next(i for i, t in enumerate(tags[1:], 1) if report.ERROR_TAG in t)
    failing = nb.cells[marker + 1]
    assert failing.cell_type == "code" and failing.execution_count == result.failure.execution_count
    html = result.html.read_text(encoding="utf-8")
    assert 'id="labkit-error"' in html and 'id="labkit-error-cell"' in html
    assert html.index('id="labkit-error"') < html.index("Environment and provenance")


@pipeline
@needs_chromium
def test_failure_still_gives_a_pdf_with_the_banner(failed):
    name, result = failed
    assert result.pdf is not None and result.pdf.is_file()
    text = pdf_text(result.pdf)
    assert "This report is incomplete" in text and "Execution stopped here" in text
    assert "never reached" in text  # later cells are shown, unexecuted


@pipeline
def test_cell_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv(report.CHROMIUM_ENV, str(tmp_path / "no-chromium"))  # skip the PDF: faster
    result = render("sleeps.ipynb", tmp_path, cell_timeout=2)
    assert result.failure.kind == "timeout" and result.failure.cell_index == 1
    assert "time limit" in str(result.failure)


def test_cell_failure_message_and_pickle():
    failure = report.CellFailure(4, 7, "KeyError", "'x'", ["tb"])
    assert str(failure) == "cell 4 (In [7]) raised KeyError: 'x'"
    assert "单元格 4（In [7]）" in failure.message("zh")
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.cell_index, copy.execution_count, copy.ename, copy.traceback) == (4, 7, "KeyError", ["tb"])
    with pytest.raises(report.CellFailure):
        raise failure
    assert report.CellFailure(2, None, "DeadKernelError", "", kind="dead_kernel").message().startswith(
        "The kernel died while running cell 2 (In [ ])")


# --------------------------------------------------------------------------- Chromium

def test_chromium_path_honours_explicit_setting(tmp_path, monkeypatch):
    monkeypatch.setenv(report.CHROMIUM_ENV, str(tmp_path / "nowhere" / "chromium"))
    assert report.chromium_path() is None  # explicit but missing: no fallback to PATH
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(report.CHROMIUM_ENV, str(fake))
    assert report.chromium_path() == str(fake)
    monkeypatch.delenv(report.CHROMIUM_ENV)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert report.chromium_path() is None
    with pytest.raises(report.ChromiumMissing, match="sudo apt-get install chromium fonts-noto-cjk"):
        report.html_to_pdf(tmp_path / "a.html", tmp_path / "a.pdf")


@pipeline
def test_missing_chromium_still_writes_html(tmp_path, monkeypatch):
    monkeypatch.setenv(report.CHROMIUM_ENV, "/nonexistent/chromium")
    (tmp_path / "ok.pdf").write_bytes(b"%PDF- stale, from an earlier run")
    result = render("ok.ipynb", tmp_path)
    assert result.html.is_file() and result.metrics.is_file()
    assert result.pdf is None and not (tmp_path / "ok.pdf").exists()
    assert "sudo apt-get install chromium fonts-noto-cjk" in result.pdf_error
    assert "LABKIT_CHROMIUM" in result.pdf_error
    assert '<html lang="en"' in result.html.read_text(encoding="utf-8")  # the lang default


# --------------------------------------------------------------------------- provenance

def test_environment_describes_this_machine():
    env = provenance.environment()
    assert env["python"].count(".") == 2 and env["cpu_count"] >= 1
    assert isinstance(env["gpu"], list) and env["cpu"] and env["os"]
    assert env["labkit"]
    assert env["commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", env["commit"])


def test_report_process_and_kernel_start_skip_slow_imports():
    """The report's and the grader's own processes never import torch (2 s) to describe the machine or
    the data folder: the kernel records the GPUs it saw (labkit.start) and the report takes them. A kernel's labkit.start imports no nbformat
    (its schema validator builds a grammar: 1.2 s for every report and every graded submission)."""
    code = ("import sys; from labkit.report import pipeline, provenance; env = provenance.environment(); "
            "from labkit.grade.runner import data_source; data_source(); "
            "assert 'torch' not in sys.modules, 'torch imported'; assert isinstance(env['gpu'], list); "
            "assert provenance.environment(['NVIDIA H200'])['gpu'] == ['NVIDIA H200']")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys, labkit, labkit.config; assert 'nbformat' not in sys.modules, 'nbformat imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    assert provenance.git_commit(tmp_path) is None


def test_section_markdown_tables():
    prov = {
        "environment": {"os": "Linux", "cpu": "Some CPU", "cpu_count": 8, "gpu": [], "python": "3.11.7",
                        "torch": "2.4.0", "torchvision": "0.19.0", "labkit": "0.1.0", "commit": "abc-dirty"},
        "notebook": "vae.ipynb", "device": "cpu", "profile": "smoke", "seed": 0,
        "started": "2025-01-01T10:00:00+00:00", "wall_seconds": 83.2,
        "parameters": {"profile": "smoke", "beta": 2.0, "sep": "a|b"}, "overridden": ["beta"],
        "datasets": [{"name": "mnist", "title": "MNIST", "sizes": {"train": 1000, "test": 200},
                      "source": "sample", "checksum": "ok", "path": "/data/MNIST"}] * 2,
    }
    en = provenance.section_markdown(prov, "en")
    assert en.startswith("## Environment and provenance")
    assert "| Wall time | 1 min 23 s |" in en and "0.1.0 (abc-dirty)" in en
    assert "| `beta` | `2.0` | override |" in en and "| `profile` | `smoke` | default |" in en
    assert "`a\\|b`" in en
    assert en.count("| MNIST |") == 1 and "| train 1,000, test 200 (loaded 2 times) |" in en
    assert "embedded sample" in en and "verified" in en and "none (CPU only)" in en
    zh = provenance.section_markdown(prov, "zh")
    assert "运行环境与来源" in zh and "内置样本" in zh and "已校验" in zh and "覆盖值" in zh
    assert "Environment" not in zh
    empty = provenance.section_markdown({}, "en")
    assert empty.count("none") >= 2 and "| Device used | — |" in empty


def test_mathjax_source_is_inlineable():
    source = report.mathjax_source()
    assert len(source) > 1_000_000 and "MathJax" in source
    assert "</script" not in source.lower()


def test_git_commit_is_dirty_for_changed_tracked_files_only(tmp_path):
    """A student's student.yaml beside the kit marked every report's kit as '-dirty'."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "kit.py").write_text("x = 1\n")
    git("add", "kit.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "kit")
    (tmp_path / "student.yaml").write_text("name: 李雷\n", encoding="utf-8")
    clean = provenance.git_commit(tmp_path)
    assert clean is not None and re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "kit.py").write_text("x = 2\n")
    assert provenance.git_commit(tmp_path) == clean + "-dirty"
