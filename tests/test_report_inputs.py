"""`labkit report` on real-world notebooks and bad input (issue 14), through the real pipeline.

Each fixture notebook holds one case found in upstream bug reports (papermill,
nbconvert, tqdm) or by trying the kit; each is rendered once per module. Only
the cases about printing make a PDF (the others set Chromium missing: faster).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from labkit import cli
from labkit.report import pipeline as report
from labkit.report.cells import CellFailure, CellMap
from labkit.report.prepare import parameters_source, run_copy, strip_solution_markers

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
pipeline = pytest.mark.pipeline
needs_chromium = pytest.mark.skipif(report.chromium_path() is None, reason="Chromium is not installed")


def render(notebook: str | Path, out_dir: Path, overrides=None, pdf: bool = False, **kwargs) -> report.ReportResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("LABKIT_DATA", raising=False)
        if not pdf:
            patch.setenv(report.CHROMIUM_ENV, str(out_dir / "no-chromium"))
        notes: list[str] = []
        result = report.render(FIXTURES / notebook if isinstance(notebook, str) else notebook, out_dir,
                               overrides, log=notes.append, docx=False, **kwargs)
        result.notes = notes
        return result


def html_of(result: report.ReportResult) -> str:
    return result.html.read_text(encoding="utf-8")


def outputs_text(result: report.ReportResult) -> str:
    nb = nbformat.read(result.ipynb, as_version=4)
    return "".join(o.get("text", "") + o.get("evalue", "") + json.dumps(o.get("data", {}), ensure_ascii=False)
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# --------------------------------------------------------------------------- kernels

@pipeline
def test_absent_kernel_runs_on_python3_with_a_note(tmp_path):
    result = render("kernel_absent.ipynb", tmp_path / "out")
    assert result.failure is None and result.kernel == "python3"
    assert any("conda-env-dl-course-py" in note and "--kernel" in note for note in result.notes)
    assert "RAN_ON" in outputs_text(result)
    # no kernelspec at all (older notebooks): the same, with its own note
    nb = nbformat.read(FIXTURES / "kernel_absent.ipynb", as_version=4)
    del nb.metadata["kernelspec"]
    nbformat.write(nb, tmp_path / "nokernel.ipynb")
    result = render(tmp_path / "nokernel.ipynb", tmp_path / "out2")
    assert result.failure is None and any("names no kernel" in note for note in result.notes)


def test_unknown_kernel_option_is_exit_2(tmp_path, capsys):
    assert cli.main(["report", str(FIXTURES / "ok.ipynb"), "--kernel", "no-such-kernel",
                     "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no-such-kernel" in err and "python3" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- what renders

@pipeline
@needs_chromium
def test_dialogs_do_not_stall_the_pdf(tmp_path):
    started = time.monotonic()
    result = render("dialogs.ipynb", tmp_path, pdf=True)
    assert result.pdf is not None and result.pdf_error is None
    assert time.monotonic() - started < 120  # an alert() used to stall Chromium for 300 s
    assert "window.alert=function(){}" in html_of(result)
    text = subprocess.run(["pdftotext", str(result.pdf), "-"], capture_output=True, text=True).stdout \
        if shutil.which("pdftotext") else "DIALOG-MD-TEXT DIALOG-OUT-TEXT"
    assert "DIALOG-MD-TEXT" in text and "DIALOG-OUT-TEXT" in text


@pipeline
def test_widgets_render_from_saved_state(tmp_path):
    result = render("widgets.ipynb", tmp_path)
    assert result.failure is None
    html = html_of(result)
    assert "application/vnd.jupyter.widget-view+json" not in html
    for text in ("AUTOBAR", "20/20", "NBBAR", "7/7", "SLIDER", "42"):
        assert text in html, text


@pipeline
def test_chinese_in_a_plain_notebooks_figure_has_glyphs(tmp_path):
    result = render("cjk_plot.ipynb", tmp_path)
    assert result.failure is None
    text = outputs_text(result)
    assert "MISSING_GLYPHS 0" in text, text[:2000]
    assert re.search(r"FAMILY \[.*(CJK|SC|Hei)", text)


@pipeline
def test_every_attachment_form_is_embedded(tmp_path):
    result = render("attachments.ipynb", tmp_path)
    html = html_of(result)
    assert "attachment:" not in html
    for label in ("RED-MD", "BLUE-IMG", "GREEN-REF"):
        assert label in html
    assert html.count("data:image/png;base64,") >= 4  # red, blue twice, green


@pipeline
def test_raises_exception_tag_is_honoured(tmp_path):
    result = render("raises_exception.ipynb", tmp_path)
    assert result.failure is None
    text = outputs_text(result)
    assert "EXPECTED-ERROR" in text and "AFTER-EXPECTED" in text


@pipeline
def test_stale_error_cells_do_not_shift_the_cell_named(tmp_path):
    result = render("stale_errors.ipynb", tmp_path)
    assert result.failure is not None
    assert (result.failure.cell_index, result.failure.ename) == (6, "KeyError")  # its index in the file
    nb = nbformat.read(result.ipynb, as_version=4)
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    assert "papermill-error-cell-tag" not in tags and "injected-parameters" not in tags
    assert "n is 1" in outputs_text(result)  # the stale injected n = 99 did not run


@pipeline
def test_runaway_output_is_capped_with_a_marker(tmp_path):
    result = render("big_output.ipynb", tmp_path, output_limit=200_000)
    assert result.failure is None
    assert result.ipynb.stat().st_size < 1_000_000
    text = outputs_text(result)
    assert "output truncated" in text and "SMALL-AFTER" in text
    # the head of the runaway output is kept, whole lines up to the limit, then the marker
    nb = nbformat.read(result.ipynb, as_version=4)
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    head = streams[:streams.index("[labkit: output truncated")]
    lines = head.splitlines()
    assert set(lines) == {"x" * 99} and 200_000 - 100 < len(head) <= 200_000


@pipeline
def test_hidden_checks_never_run_and_markers_are_stripped(tmp_path):
    result = render("exercise.ipynb", tmp_path, {"greeting": "早上好"})
    assert result.failure is None
    html = html_of(result)
    for hidden in ("hidden-check", "HIDDEN-CHECK-RAN", "[check]", "BEGIN SOLUTION", "END SOLUTION"):
        assert hidden not in html, hidden
    assert "GREETING 早上好 4" in outputs_text(result) and "LAST-CELL" in html
    nb = nbformat.read(result.ipynb, as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "greeting = '早上好'" in injected.source  # readable, not "\u65e9..."
    assert "早上好" in html and "\\u65e9" not in html


# --------------------------------------------------------------------------- bad input: exit 2, one line

def _cli(args, capsys) -> tuple[int, str]:
    code = cli.main(["report", *map(str, args)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


def test_bad_input_is_exit_2_with_one_line(tmp_path, capsys):
    notebook = FIXTURES / "ok.ipynb"
    afile = tmp_path / "afile"
    afile.write_text("hi")
    empty = tmp_path / "empty.ipynb"
    empty.write_bytes(b"")
    not_nb = tmp_path / "notes.ipynb"
    not_nb.write_text('{"a": 1}')
    binary = tmp_path / "image.ipynb"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    shutil.copy(notebook, tmp_path / "copy.ipynb")
    bad_name = tmp_path / os.fsdecode(b"\xff.ipynb")
    shutil.copy(notebook, bad_name)
    cases = {
        "out is a file": [notebook, "--out", afile],
        "out under a file": [notebook, "--out", afile / "sub"],
        "empty file": [empty, "--out", tmp_path / "o1"],
        "not a notebook": [not_nb, "--out", tmp_path / "o2"],
        "binary file": [binary, "--out", tmp_path / "o3"],
        "non-UTF-8 path": [bad_name, "--out", tmp_path / "o4"],
        "negative timeout": [notebook, "--cell-timeout", "-5", "--out", tmp_path / "o5"],
        "a folder": [tmp_path, "--out", tmp_path / "o6"],
        "out over the notebook": [tmp_path / "copy.ipynb", "--out", tmp_path],
    }
    for what, args in cases.items():
        code, err = _cli(args, capsys)
        assert code == 2, what
        assert len(err.strip().splitlines()) == 1 and err.startswith("labkit: "), (what, err)
    assert afile.read_text() == "hi"
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))


@pytest.mark.parametrize("args, fragment", [
    (["-p", "device", "tpu"], "parameter 'device' (device: str = 'auto'): 'tpu' is not a device; choose one of: "
                              "auto, cpu, cuda, mps or cuda:N"),
    (["-p", "device", "cuda:x"], "'cuda:x' is not a device"),
    (["-p", "seed", "99999999999999999999"], "the seed must be from 0 to 9223372036854775807"),
    (["-p", "seed", "-3"], "the seed must be from 0 to 9223372036854775807"),
    (["-p", "batch_size", "1e30"], "must be a 64-bit integer"),
    (["-p", "epochs", "0", "-p", "epochs", "2"], "parameter epochs given twice (0 and 2): give it once"),
    (["--params", "lang=zh lang=en"], "parameter lang given twice (zh and en): give it once"),
    (["--params", "epochs=3", "-p", "epochs", "4"], "parameter epochs given twice (3 and 4)"),
    (["-p", "profile", "quick"], "parameter profile given twice (quick and smoke)"),
])
def test_a_lab_parameter_is_checked_before_anything_runs(args, fragment, tmp_path, capsys, monkeypatch):
    """The tester's cases on the real mlp notebook: exit 2, one line naming the parameter; no kernel."""
    monkeypatch.setattr(report, "render", lambda *a, **k: pytest.fail("the report ran"))
    code, err = _cli(["mlp", "--profile", "smoke", "--out", tmp_path / "out", *args], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_a_refused_run_says_only_its_error(tmp_path, capsys):
    """A busy folder or one that cannot be made: the error line only, no "running" announced first."""
    out = tmp_path / "out"
    out.mkdir()
    with open(out / report.LOCK_NAME, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = cli.main(["report", str(FIXTURES / "ok.ipynb"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and "another `labkit report`" in captured.err
    assert (captured.out + captured.err).strip().splitlines() == captured.err.strip().splitlines()
    assert len(captured.err.strip().splitlines()) == 1, captured
    code = cli.main(["report", str(FIXTURES / "ok.ipynb"), "--out", "/proc/labkit-x"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured


def test_a_stale_staging_folder_is_removed_by_the_next_run(tmp_path):
    """A run killed outright (SIGKILL) leaves its staging folder; the next run to take the lock removes it."""
    out = tmp_path / "out"
    stale = out / f"{report.PARTIAL_PREFIX}dead1"
    stale.mkdir(parents=True)
    (stale / "mlp.html").write_text("half")
    (out / "mlp.html").write_text("previous")
    (out / report.LOCK_NAME).write_text("999999\n")  # the dead run's lock file, no longer locked
    with report._output_folder(out) as staging:
        assert not stale.exists() and staging.is_dir()
    assert sorted(p.name for p in out.iterdir()) == ["mlp.html"] and (out / "mlp.html").read_text() == "previous"


@pytest.mark.parametrize("argv, command", [
    (["report", "mlp", "--cell-timeout", "abc"], "report"),
    (["report", "mlp", "-p", "epochs"], "report"),
    (["report", "mlp", "--code", "weird"], "report"),
    (["report", "mlp", "--bogus"], "report"),
    (["grade", "mlp"], "grade"),
    (["grade", "mlp", "subs", "--workers", "two"], "grade"),
    (["release", "mlp", "--nope"], "release"),
    (["similarity"], "similarity"),
    (["list", "extra"], "list"),
    (["frob"], None),
    ([], None),
])
def test_argument_errors_are_one_line_exit_2(argv, command, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("labkit: ") and "usage:" not in err
    assert err.rstrip().endswith(f"see labkit {command} --help" if command else "see labkit --help"), err


def test_busy_output_folder_is_exit_2(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".labkit-report.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(report.OutputBusy, match="another `labkit report`"):
            render("ok.ipynb", out)
    assert sorted(p.name for p in out.iterdir()) == [".labkit-report.lock"]


def test_lock_is_removed_and_an_interrupted_first_run_leaves_no_folder(tmp_path):
    out = tmp_path / "new" / "out"
    with pytest.raises(KeyboardInterrupt):
        with report._output_folder(out):
            assert (out / report.LOCK_NAME).is_file()
            with pytest.raises(report.OutputBusy, match="another `labkit report`"):
                with report._output_folder(out):
                    pass  # a concurrent second run is refused
            raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()
    with report._output_folder(out) as staging:
        (staging / "r.html").write_text("x")
        (staging / "r.html").replace(out / "r.html")
    assert [p.name for p in out.iterdir()] == ["r.html"]  # no lock, no staging folder left
    with report._output_folder(out):  # and the next run locks again
        with pytest.raises(report.OutputBusy):
            with report._output_folder(out):
                pass
    assert [p.name for p in out.iterdir()] == ["r.html"]


def test_report_language_option_for_any_notebook(tmp_path, capsys):
    from labkit.report.params import ParameterError, read_parameters

    plain = read_parameters(FIXTURES / "no_parameters_bilingual.ipynb")
    assert report.with_language(plain, {}, "zh") == {}
    with pytest.raises(ParameterError, match="has no 'lang' parameter; use --lang zh"):
        report.with_language(plain, {"lang": "zh"}, None)
    with_param = read_parameters(FIXTURES / "document" / "printed.ipynb")
    assert report.with_language(with_param, {}, "zh")["lang"] == "zh"
    assert report.with_language(with_param, {"lang": "zh"}, "zh")["lang"] == "zh"
    with pytest.raises(report.ReportInputError, match="disagree"):
        report.with_language(with_param, {"lang": "en"}, "zh")
    with pytest.raises(report.ReportInputError, match="not supported"):
        report.with_language(plain, {}, "fr")
    code, err = _cli([FIXTURES / "no_parameters_bilingual.ipynb", "-p", "lang", "zh", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "use --lang zh" in err and not (tmp_path / "o").exists()


@pipeline
def test_chinese_report_of_a_notebook_without_parameters(tmp_path):
    result = render("no_parameters_bilingual.ipynb", tmp_path / "out", lang="zh")
    assert result.failure is None
    html = html_of(result)
    assert '<html lang="zh"' in html and "只有中文的正文" in html and "ENGLISH_PROSE_ONLY" not in html
    assert "实验报告" in html and "运行环境与来源" in html  # the cover and labkit's labels
    assert "KERNEL_LANG zh" in outputs_text(result)  # labkit in the kernel writes Chinese too
    assert not (tmp_path / "out" / report.LOCK_NAME).exists()


def test_a_failing_tool_leaves_the_previous_file_and_says_why_in_one_line(tmp_path):
    from labkit.plumbing import atomic_path
    from labkit.report.tools import make_file

    target = tmp_path / "r.pdf"
    target.write_text("previous")
    for command, timeout, message in ((["sh", "-c", "echo boom >&2; exit 3"], 30, "failed printing r.html (exit code 3): boom"),
                                      (["sleep", "5"], 0.5, "did not finish printing r.html within 0 s")):
        with pytest.raises(report.PdfError) as info:
            with atomic_path(target) as partial:
                make_file(command, partial, tool="Chromium", doing="printing r.html", timeout=timeout,
                          error=report.PdfError)
        assert message in str(info.value) and "\n" not in str(info.value)
    assert target.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["r.pdf"]


def test_make_p_string_parsing():
    parse = cli.parse_assignments
    assert parse("epochs=5 lr=0.01") == {"epochs": "5", "lr": "0.01"}
    assert parse("lr 0.01") == {"lr": "0.01"}
    assert parse("widths={'a': 1, 'b': 2} lr=0.1") == {"widths": "{'a': 1, 'b': 2}", "lr": "0.1"}
    assert parse("lr 0.1 epochs=3") == {"lr": "0.1", "epochs": "3"}
    assert parse("") == {}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse("lr")
    with pytest.raises(ValueError, match="has no value"):
        parse("lr=")
    with pytest.raises(ValueError, match=r"parameter lang given twice \(zh and en\): give it once"):
        parse("lang=zh lang=en")
    with pytest.raises(ValueError, match="given twice"):
        parse("lr 0.1 lr=0.2")
    assert parse("lr=0.1 lr=0.1") == {"lr": "0.1"}  # the same value twice is not ambiguous


def test_make_report_passes_p_as_one_string():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    echo = f"{sys.executable} -c 'import sys, json; print(json.dumps(sys.argv))'"
    done = subprocess.run(["make", "-s", "report", "LAB=x", f"PYTHON={echo}",
                           "P=lr 0.01 d={'a': 1, 'b': 2} msg=\"it's\""],
                          cwd=REPO, capture_output=True, text=True, check=True)
    argv = json.loads(done.stdout.strip().splitlines()[-1])
    text = argv[argv.index("--params") + 1]
    assert cli.parse_assignments(text) == {"lr": "0.01", "d": "{'a': 1, 'b': 2}", "msg": "\"it's\""}


# --------------------------------------------------------------------------- interruptions

@pipeline
def test_ctrl_c_leaves_the_previous_report_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    previous = {name: f"previous {name}" for name in ("sleeps.ipynb", "sleeps.html", "sleeps.pdf", "metrics.json")}
    for name, text in previous.items():
        (out / name).write_text(text)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", report.CHROMIUM_ENV: str(tmp_path / "none")}
    process = subprocess.Popen([sys.executable, "-m", "labkit.cli", "report", str(FIXTURES / "sleeps.ipynb"),
                                "--out", str(out), "--no-docx"], stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in process.stderr:  # wait until the sleeping cell runs
        seen.append(line)
        if "cell 1:" in line:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == cli.EXIT_INTERRUPTED, "".join(seen) + rest
    assert "Traceback" not in rest and "interrupted" in rest
    assert {p.name: p.read_text() for p in out.iterdir() if not p.name.startswith(".")} == previous
    assert not any(p.name.startswith(".labkit-partial") for p in out.iterdir())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_publishing_waits_until_every_file_is_moved(tmp_path, monkeypatch, signum):
    """Ctrl-C or SIGTERM among the moves: all files are moved first, then the signal's handler runs."""
    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    out.mkdir()
    for name in ("r.ipynb", "r.html", "metrics.json"):
        (staging / name).write_text(name)
    real_replace = os.replace

    def replace_with_a_signal(source, target):
        real_replace(source, target)
        if Path(target).name == "r.ipynb":
            os.kill(os.getpid(), signum)  # arrives between two moves

    monkeypatch.setattr(report.os, "replace", replace_with_a_signal)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with cli._terminate_as_interrupt(), pytest.raises(KeyboardInterrupt) as caught:
        report._publish(staging, out, ["r.ipynb", "r.html", "metrics.json"], stale=[])
    assert isinstance(caught.value, report.Terminated) == (signum == signal.SIGTERM)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "r.html", "r.ipynb"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # handlers put back


FAKE_CHROMIUM = """#!/bin/sh
# Chromium as seen from labkit: a helper process keeps writing into the profile folder, ignoring INT and TERM
for a; do case $a in --user-data-dir=*) profile=${a#--user-data-dir=};; esac; done
mkdir -p "$profile/Default" "${TMPDIR:-/tmp}/org.chromium.Chromium.fake"
( trap '' INT TERM; while :; do mkdir -p "$profile/Default"; touch "$profile/Default/f$(date +%N)"; sleep 0.01
  done 2>/dev/null ) &
echo $! > "$(dirname "$0")/helper.pid"
sleep 60
"""


@pipeline
@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, cli.EXIT_INTERRUPTED, "interrupted"),
                                                (signal.SIGTERM, cli.EXIT_TERMINATED, "terminated (SIGTERM)")])
def test_a_signal_while_printing_kills_chromium_and_removes_its_profile(tmp_path, signum, code, said):
    """Ctrl-C (or `timeout`'s TERM) to the whole process group while Chromium prints: exit 130 (143),
    Chromium and its helpers killed, its temporary profile removed, the previous report untouched."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    tmp.mkdir()
    previous = {name: f"previous {name}" for name in ("ok.ipynb", "ok.html", "ok.pdf", "metrics.json")}
    for name, text in previous.items():
        (out / name).write_text(text)
    chrome = tmp_path / "bin" / "chromium"
    chrome.parent.mkdir()
    chrome.write_text(FAKE_CHROMIUM)
    chrome.chmod(0o755)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", report.CHROMIUM_ENV: str(chrome), "TMPDIR": str(tmp)}
    process = subprocess.Popen([sys.executable, "-m", "labkit.cli", "report", str(FIXTURES / "ok.ipynb"),
                                "--out", str(out), "--no-docx"], stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)  # its own group, as a terminal's foreground job
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "labkit: printing" in line:
            break
    deadline = time.monotonic() + 30
    while not (chrome.parent / "helper.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(process.pid, signum)  # as the terminal (Ctrl-C) or `timeout` sends it
    rest = process.stderr.read()
    assert process.wait(timeout=60) == code, "".join(seen) + rest
    assert "Traceback" not in rest and said in rest and "internal error" not in rest, rest
    assert {p.name: p.read_text() for p in out.iterdir() if not p.name.startswith(".")} == previous
    assert not any(p.name.startswith(".labkit") for p in out.iterdir())
    assert not list(tmp.iterdir())  # Chromium's profile and its own temporary files are gone
    helper = int((chrome.parent / "helper.pid").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(helper, signal.SIGKILL)
        pytest.fail("Chromium's helper outlived the run")


# --------------------------------------------------------------------------- the cell model

def test_cell_map_names_the_students_cell():
    nb = nbformat.read(FIXTURES / "stale_errors.ipynb", as_version=4)
    run, cells = run_copy(nb, {"n": 5})
    sources = [c.source for c in run.cells]
    assert sources[2].startswith("# Parameters") and "n = 5" in sources[2]
    assert [cells.source_index(i) for i in range(len(run.cells))] == [1, 2, 4, 4, 6, 7]
    mapped = CellMap.skipping_injected(run.cells)
    assert mapped.source_index(3) == 2  # counting only the injected cell out, as the grader does


def test_cell_failure_round_trip():
    failure = CellFailure(6, 4, "KeyError", "'x'", ["tb"], "error")
    assert CellFailure.from_dict(failure.to_dict()).to_dict() == failure.to_dict()
    assert failure.cell_number == 7 and "cell 6 (In [4])" in str(failure)
    with pytest.raises(ValueError, match="unknown failure kind"):
        CellFailure(0, None, "X", "", kind="exploded")


def test_metrics_json_is_strict():
    from labkit.report.prepare import dumps

    text = dumps({"lr": float("inf"), "xs": [float("nan"), 1.0], "名": "中文"})
    assert json.loads(text) == {"lr": None, "xs": [None, 1.0], "名": "中文"} and "中文" in text


def test_injection_and_markers_are_plain_text():
    assert parameters_source({"s": "早上好", "xs": [1, 2], "d": {"a b": 1.5}}).splitlines()[1:] == \
        ["s = '早上好'", "xs = [1, 2]", "d = {'a b': 1.5}"]
    source = "x = 1\n    ### BEGIN SOLUTION: say hi\n    y = 2\n    ### END SOLUTION\nz = 3\n"
    assert strip_solution_markers(source) == "x = 1\n    y = 2\nz = 3\n"


# --------------------------------------------------------------------------- kernel environment and progress

def test_kernel_env_gives_fonts_data_and_threads(tmp_path, monkeypatch):
    from labkit.report import kernel

    monkeypatch.delenv("MATPLOTLIBRC", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    from labkit import threads
    monkeypatch.delenv("LABKIT_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 1)  # a CPU quota of one core ...
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 8)     # ... on an 8-core machine
    env = kernel.kernel_env(tmp_path, tmp_path / "data")
    assert env["LABKIT_DATA"] == str(tmp_path / "data") and env["OMP_NUM_THREADS"] == "1"
    if kernel._cjk_family() is not None:
        rc = Path(env["MATPLOTLIBRC"]).read_text(encoding="utf-8")
        assert re.search(r"^font\.family: sans-serif, .+", rc, flags=re.M)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting wins
    assert kernel.kernel_env(tmp_path, tmp_path)["OMP_NUM_THREADS"] == "3"


class _Stream:
    def __init__(self, tty: bool):
        self.text, self.tty = "", tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return self.tty


def test_progress_lines_and_training_bars():
    from labkit.report.kernel import Progress

    bar = "\r  mlp:  50%|#####     | 8/16 [00:01<00:01]\r  mlp: 100%|##########| 16/16 [00:02<00:00]"
    for tty in (False, True):
        stream = _Stream(tty)
        progress = Progress(12, stream)
        progress.cell(4, "# a comment\nfor epoch in range(3):\n    pass")
        progress.stream_text("loss 0.3\n", "stdout")
        progress.stream_text(bar, "stderr")
        progress.stream_text("\n", "stderr")
        progress.cell(None, "# Parameters\nlr = 0.1\n")
        progress.finish()
        lines = stream.text.replace("\r", "\n").splitlines()
        assert re.match(r"\[ 1/12 0:0\d\] cell 4: for epoch in range\(3\):", lines[0])
        assert any("16/16" in line for line in lines) and "loss 0.3" not in stream.text
        assert re.search(r"\[ 2/12 0:0\d\] parameters: lr = 0.1", stream.text)
        if not tty:
            assert stream.text.count("8/16") == 0  # a log file gets only the finished bar


def _screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: each line's text after its last carriage return."""
    return [line.rsplit("\r", 1)[-1].replace("\033[K", "") for line in text.split("\n")]


def test_each_bar_of_a_cell_keeps_its_line_on_a_terminal():
    """Two bars in one cell (tqdm ends each with a separate "\n"): on a terminal the first stayed on
    screen only until the second bar's "\r" overwrote it (mlp's linreg and softmax bars)."""
    from labkit.report.kernel import Progress

    for tty in (True, False):
        stream = _Stream(tty)
        progress = Progress(3, stream)
        progress.cell(1, "train()")
        for name in ("linreg", "softmax"):
            progress.stream_text(f"\r{name}:   0%|   | 0/8", "stdout")
            progress.stream_text(f"\r{name}: 100%|###| 8/8 [00:01<00:00]", "stdout")
            progress.stream_text("\n", "stdout")
        progress.finish()
        shown = _screen(stream.text)
        for name in ("linreg", "softmax"):
            assert sum(f"{name}: 100%" in line for line in shown) == 1, (tty, shown)


def test_terminal_lines_fit_the_terminal(monkeypatch):
    """A bar line wider than the terminal wrapped, and every redraw left a new partial line (an 80-column
    terminal showed 5-8 lines per bar)."""
    import os

    from labkit.report import kernel
    from labkit.report.kernel import Progress

    monkeypatch.setattr(kernel.shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((80, 24)))
    stream = _Stream(True)
    progress = Progress(16, stream)
    progress.cell(17, "def masked_nll(model, source, target, teacher_forcing_ratio): return 0.0  # a long line")
    bar = "models=rnn: 100%|" + "#" * 60 + "| 12/12 [00:00<00:00, 29.02it/s, ep 1 loss 7.41/5.39 acc 0.0985/0.241]"
    progress.stream_text("\r" + bar, "stdout")
    progress.stream_text("\n", "stdout")
    progress.finish()
    lines = [line.replace("\033[K", "") for chunk in stream.text.split("\n") for line in chunk.split("\r")]
    assert max(map(len, lines)) <= 79 and any(line.startswith("    models=rnn: 100%") for line in lines)
