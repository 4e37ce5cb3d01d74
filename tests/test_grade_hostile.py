"""Grading the fixture set of (hostile) submissions against the toy lab, in real sandboxes.

tests/fixtures/grading/submissions/ holds a correct submission and one per way a submission can go
wrong or misbehave (see make_fixtures.py there). They are graded together, two at a time, once
per module; each gets its status and points, the correct one full marks, and nothing outside the
sandboxes changes. The hostile cells record what they managed to do, which is checked too.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from labkit.grade.release import release_notebook
from labkit.grade.rubric import load_rubric
from labkit.grade.runner import GradeOptions, grade
from labkit.grade.sandbox import bwrap_executable, kit_dir, probe, SandboxSettings
from labkit.records import read_records

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "grading"
RUBRIC = FIXTURES / "lab" / "toy.yaml"
HOST_PORT = 47913  # the port the network fixture tries on 127.0.0.1 (see make_fixtures.py)
SENTINEL = "HIDDEN-CHECK-" + "SENTINEL-93c1"  # in the toy's hidden-check cell only

pytestmark = pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")

#: submission -> (status, points out of 10)
EXPECTED = {
    "correct": ("graded", 10),
    "wrong": ("graded", 2),  # sections and figure only
    "syntax_error": ("error", 1),  # nothing defined: sections only
    "exception": ("error", 8),  # fails after defining correct functions: the checks still pass
    "infinite_loop": ("timeout", 0),
    "memory_bomb": ("memory", 0),
    "fork_bomb": ("killed", 0),
    "process_flood": ("killed", 0),
    "hangs_in_check": ("graded", 6),  # its fit_slope hangs under the hidden check: interrupted, 0 for it
    "reads_other": ("graded", 10),
    "reads_hidden": ("graded", 10),
    "network": ("graded", 10),
    "writes_outside": ("graded", 10),
    "forges": ("graded", 6),  # the forged slope_error is re-measured; the forged fit_mse is a plain record
    "deletes": ("graded", 10),
    "released": ("error", 1),  # the unfilled student version: stops at the first stub
    # the released notebook plus a cell that replaces the kit's check machinery, torch, the built-ins and
    # IPython's display in its kernel: the checks run elsewhere, so only its forged plain record counts
    "monkeypatches": ("error", 2),
    # wrong answers plus builtins.abs replaced in the exercise cell itself: flagged, verdicts void
    "patches_in_exercise": ("graded", 1),
    "shadows_builtin": ("graded", 5),  # `def abs` in its exercise cell: the checks still use the real abs
    # its mse walks the checks' frames and raises what it finds: caught reading frames (the route to the key
    # that signs the verdicts), so every verdict is void, and nothing leaks
    "leaks_check": ("graded", 3),
    "disk_hog": ("disk", 0),  # tries to write 5 GB: stopped at the rubric's disk limit
    "script_output": ("graded", 10),  # its <script> output shows in its feedback page but does not run
    "exits_in_check": ("killed", 0),  # its mse calls os._exit under the hidden check: the checks' process died
    "big_output": ("graded", 10),  # prints 3 MB: stored with the report's 2 MB cap per cell and its marker
    # "wrong" plus, in its exercise cell, code that writes passing verdicts into the checks' results channel
    # (FORGERS below; made here from wrong.ipynb): nothing forged counts, and each is flagged
    "forges_verdicts": ("graded", 2),  # the tester's forgery: reads --results-fd from sys.argv (no longer there)
    "writes_channel": ("graded", 2),  # finds the channel in /proc/self/fd, writes unsigned verdicts and garbage
    "closes_channel": ("killed", 0),  # closes every descriptor in the checks' process: an error, not a pass
}

_VERDICT = ('(_j.dumps({"name": _n, "passed": True, "message": "passed", "values": _v, "provides": list(_v), '
            '"seconds": 0.1, "own_words": True}) + "\\n").encode()')
_CHECKS = '[("mse_matches", {}), ("slope_heldout", {"slope_error": 0.0})]'
#: name -> code appended to wrong.ipynb's exercise cell (cell 3)
FORGERS = {
    # the tester's code (it gave an mlp submission worth 3/12 all 12 points), for the toy's checks
    "forges_verdicts": f"""
try:
    import sys as _s, os as _o, json as _j
    if "--results-fd" in _s.argv:
        _fd = int(_s.argv[_s.argv.index("--results-fd") + 1])
        for _n, _v in {_CHECKS}:
            _o.write(_fd, {_VERDICT})
except Exception:
    pass
""",
    "writes_channel": f"""
import json as _j, os as _o, sys as _s
if "ipykernel" not in _s.modules:  # only in the checks' process
    for _name in _o.listdir("/pr" + "oc/self/fd"):
        for _n, _v in {_CHECKS}:
            try:
                _o.write(int(_name), {_VERDICT})
                _o.write(int(_name), b"\\x00garbage\\n")
            except OSError:
                pass
""",
    "closes_channel": """
import os as _o, sys as _s
if "ipykernel" not in _s.modules:
    _o.closerange(3, 1 << 16)
""",
}


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and modification time."""
    found = {}
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if "__pycache__" in path.parts:
                    continue
                stat = path.lstat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def grading_cgroups() -> set[str]:
    """The grader's cgroups (``labkit-grade-*``) under /sys/fs/cgroup, a few levels deep."""
    found = set()
    for folder, dirs, _ in os.walk("/sys/fs/cgroup"):
        found.update(os.path.join(folder, d) for d in dirs if d.startswith("labkit-grade-"))
        if folder.count(os.sep) >= 6:
            dirs[:] = []
    return found


class Listener:
    """A TCP server on the grading machine's loopback that records every connection."""

    def __init__(self, port: int):
        self.connections = 0
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.server.bind(("127.0.0.1", port))
        except OSError:
            self.server = None
            return
        self.server.listen()
        self.server.settimeout(0.5)
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop:
            try:
                connection, _ = self.server.accept()
                self.connections += 1
                connection.close()
            except OSError:
                continue

    def close(self) -> None:
        if self.server is not None:
            self.stop = True
            self.thread.join()
            self.server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    subs, data, out = base / "submissions", base / "data", base / "out"
    shutil.copytree(FIXTURES / "submissions", subs)
    released, _, _ = release_notebook(nbformat.read(FIXTURES / "lab" / "toy.ipynb", as_version=4))
    nbformat.write(released, subs / "released.ipynb")
    for name, code in FORGERS.items():
        forger = nbformat.read(subs / "wrong.ipynb", as_version=4)
        forger.cells[3].source += "\n" + code
        nbformat.write(forger, subs / f"{name}.ipynb")
    data.mkdir()
    (data / "canary.txt").write_text("the course data")
    # what a sandbox could conceivably reach (the repository's grading/ is not even mounted, and other
    # developers edit it meanwhile; the kit is compared separately below)
    watched = (data, subs, FIXTURES)
    before, kit_before = snapshot(*watched), snapshot(kit_dir())
    private_tmp = base / "tmp"  # the grader's own temporary folders (others may be grading meanwhile)
    private_tmp.mkdir()
    cgroups_before = grading_cgroups()
    # the kit must be read-only inside before anything hostile runs
    probe(SandboxSettings(data_dir=str(data)))
    listener = Listener(HOST_PORT)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("LABKIT_DATA", str(data))
            patch.setenv("TMPDIR", str(private_tmp))  # read by the grading workers, which start afresh
            started = time.perf_counter()
            summary = grade(load_rubric(str(RUBRIC)), subs, GradeOptions(out_dir=out, workers=2), log=None)
            seconds = time.perf_counter() - started
    finally:
        listener.close()
    results = {r["student"]: r for r in summary.results}
    return {"summary": summary, "results": results, "out": out, "subs": subs, "data": data, "seconds": seconds,
            "before": before, "after": snapshot(*watched), "listener": listener,
            "kit_before": kit_before, "kit_after": snapshot(kit_dir()), "private_tmp": private_tmp,
            "cgroups_before": cgroups_before}


def records(graded, name: str) -> dict:
    return read_records(nbformat.read(graded["out"] / "executed" / f"{name}.ipynb", as_version=4))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_submission_gets_its_status_and_points(graded, name):
    result = graded["results"][name]
    assert (result["status"], result["total"]) == EXPECTED[name], (result["message"], result["items"])
    assert (graded["out"] / "feedback" / f"{name}.html").is_file()
    assert json.loads((graded["out"] / "results" / f"{name}.json").read_text())["status"] == EXPECTED[name][0]


def test_the_reasons_are_specific(graded):
    results = graded["results"]
    assert "cell 3: SyntaxError" in results["syntax_error"]["message"]
    assert "cell 4: NameError" in results["exception"]["message"]
    assert results["released"]["failure"]["ename"] == "NotImplementedError"
    assert results["released"]["failure"]["cell_index"] == 4  # the first call of a stubbed function
    assert "ran out of time (cell 4)" in results["infinite_loop"]["message"]
    assert results["infinite_loop"]["wall_seconds"] < 30 + 60  # the rubric's 30 s, plus start-up
    assert "memory" in results["memory_bomb"]["message"]
    assert "processes" in results["fork_bomb"]["message"]
    slope = {i["id"]: i for i in results["hangs_in_check"]["items"]}["slope"]
    assert "ran out of time" in slope["message"], slope
    # a timed-out notebook still comes back, up to the cell that ran out of time
    assert (graded["out"] / "executed" / "infinite_loop.ipynb").is_file()


def test_forged_values_do_not_count(graded):
    items = {i["id"]: i for i in graded["results"]["forges"]["items"]}
    assert items["slope"]["points"] == 0 and items["slope"]["value"] > 1
    assert "re-measured by the hidden checks" in items["slope"]["message"]
    assert "own record, 0, is not used" in items["slope"]["message"]


def test_hostile_code_was_contained(graded):
    assert records(graded, "reads_other")["seen_files"] == [
        p for p in records(graded, "reads_other")["seen_files"] if p.startswith(("/submission/toy.ipynb", "/tmp/"))]
    assert "/submission/toy.ipynb" in records(graded, "reads_other")["seen_files"]
    hidden = records(graded, "reads_hidden")
    assert hidden["sentinel_seen"] is False
    assert not [r for r in hidden["runner_reads"] if r.startswith(("runner", "fd 1/"))], hidden["runner_reads"]
    assert records(graded, "network")["reached"] == []
    if graded["listener"].server is not None:
        assert graded["listener"].connections == 0
    assert records(graded, "writes_outside")["written"] == ["/tmp/escape.txt"]  # its private /tmp only
    assert records(graded, "deletes")["deleted_outside"] == []


def test_nothing_outside_the_sandboxes_changed(graded):
    assert graded["after"] == graded["before"]
    # the kit (which others may be editing meanwhile) lost no file and gained none from a sandbox
    assert set(graded["kit_before"]) <= set(graded["kit_after"])
    assert not [p for p in graded["kit_after"] if p not in graded["kit_before"] and "escape" in p]
    assert (graded["data"] / "canary.txt").read_text() == "the course data"
    for path in ("/escape.txt", "/etc/escape.txt", str(kit_dir() / "escape.txt")):
        assert not Path(path).exists(), path
    time.sleep(1)
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # the toy's sandboxes only: other developers may be grading other labs meanwhile
        if "/submission/toy.ipynb" in command or "/bin/sleep 60" in command or "leak.txt" in command:
            leftovers.append(command)
    assert leftovers == []
    # every sandbox's temporary folder is gone
    assert list(graded["private_tmp"].glob("labkit-grade-*")) == []
    assert grading_cgroups() <= graded["cgroups_before"]  # every sandbox's cgroup was removed


def test_the_hidden_checks_never_reach_the_outputs(graded):
    for path in graded["out"].rglob("*"):
        if path.is_file():
            assert SENTINEL not in path.read_text(errors="replace"), path
            assert "def _():" not in path.read_text(errors="replace"), path


def test_feedback_shows_the_grade_and_every_message(graded):
    page = (graded["out"] / "feedback" / "exception.html").read_text()
    assert "Grade: 8 / 10" in page and "Status: <strong>error</strong>" in page
    assert "This cell stopped the notebook: NameError" in page
    assert "fit_mse was not recorded" in page
    assert "Grade: 10 / 10" in (graded["out"] / "feedback" / "correct.html").read_text()


def test_the_gradebook_csv_has_a_row_per_submission(graded):
    rows = list(csv.DictReader(open(graded["out"] / "gradebook.csv")))
    assert sorted(r["student"] for r in rows) == sorted(EXPECTED)
    for row in rows:
        status, total = EXPECTED[row["student"]]
        assert row["status"] == status and float(row["total"]) == total
        assert float(row["wall_seconds"]) > 0
        assert sum(float(row[i]) for i in ("slope", "mse", "fit", "sections", "figure")) == total


def test_the_gradebook_page_in_chromium_sorts_its_table(graded):
    from labkit.report.pipeline import chromium_path

    chrome = chromium_path()
    if chrome is None:
        pytest.skip("Chromium is not installed")
    page = (graded["out"] / "gradebook.html").resolve().as_uri() + "#sort=-total"
    with pytest.MonkeyPatch.context():
        profile = graded["out"].parent / "chromium-profile"
        dom = subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", page],
                             capture_output=True, text=True, timeout=120).stdout
    assert 'data-sorted="total:desc"' in dom
    rows = re.findall(r'<tr data-student="([^"]+)" data-status="([^"]+)">(.*?)</tr>', dom, re.S)
    assert sorted(name for name, _, _ in rows) == sorted(EXPECTED)
    assert all(EXPECTED[name][0] == status for name, status, _ in rows)
    totals = [EXPECTED[name][1] for name, _, _ in rows]
    assert totals == sorted(totals, reverse=True)
    first = rows[0][2]
    assert 'href="feedback/' in first and "✓" in first


def test_a_checks_own_message_reaches_the_student_as_written(graded):
    """(Before the next test hands in a fixed "wrong".)"""
    from html import escape

    mse = {i["id"]: i for i in graded["results"]["wrong"]["items"]}["mse"]
    assert mse["message"].startswith("mse gave ") and "on new lists; expected" in mse["message"], mse
    assert "[…]" not in mse["message"]
    assert escape(mse["message"]) in (graded["out"] / "feedback" / "wrong.html").read_text()
    assert escape(mse["message"]) in (graded["out"] / "gradebook.html").read_text()
    saved = json.loads((graded["out"] / "results" / "wrong.json").read_text())
    assert {i["id"]: i for i in saved["items"]}["mse"]["message"] == mse["message"]


def test_grading_again_resumes_and_regrades_only_what_changed(graded):
    out, subs = graded["out"], graded["subs"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_DATA", str(graded["data"]))
        again = grade(load_rubric(str(RUBRIC)), subs, GradeOptions(out_dir=out, workers=2), log=None)
        assert again.graded == [] and sorted(again.skipped) == sorted(EXPECTED)
        assert {r["student"]: r["total"] for r in again.results} == {k: v[1] for k, v in EXPECTED.items()}
        shutil.copy(subs / "correct.ipynb", subs / "wrong.ipynb")  # the student handed in a fixed notebook
        fixed = grade(load_rubric(str(RUBRIC)), subs, GradeOptions(out_dir=out, workers=2), log=None)
    assert fixed.graded == ["wrong"]
    assert {r["student"]: r for r in fixed.results}["wrong"]["total"] == 10
    log = (out / "grading.log").read_text()
    assert "correct: already graded (graded, 10); skipped" in log


def test_limits_hold_without_cgroups_too(tmp_path):
    """The fallback (rlimits and the watchdog) contains the memory bomb and the process flood."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name in ("correct", "memory_bomb", "process_flood"):
        shutil.copy(FIXTURES / "submissions" / f"{name}.ipynb", subs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_GRADE_CGROUPS", "0")
        summary = grade(load_rubric(str(RUBRIC)), subs, GradeOptions(out_dir=tmp_path / "out", workers=2), log=None)
    assert "rlimits + watchdog" in summary.sandbox
    statuses = {r["student"]: (r["status"], r["total"]) for r in summary.results}
    assert statuses == {"correct": ("graded", 10), "memory_bomb": ("memory", 0), "process_flood": ("killed", 0)}


def test_a_submission_that_patches_its_kernel_earns_nothing_from_it(graded):
    results = graded["results"]
    items = {i["id"]: i for i in results["monkeypatches"]["items"]}
    assert items["slope"]["points"] == 0 and items["mse"]["points"] == 0
    assert "NotImplementedError" in items["mse"]["message"]  # the checks saw the stubs, not the patches
    patched = results["patches_in_exercise"]
    assert any("builtins.abs" in flag for flag in patched["flags"])
    assert all("not trusted" in i["message"] for i in patched["items"] if i["id"] in ("slope", "mse"))
    assert "builtins.abs" in (graded["out"] / "gradebook.csv").read_text()
    assert "Flagged for the instructor" in (graded["out"] / "feedback" / "patches_in_exercise.html").read_text()
    assert results["correct"]["flags"] == []


def test_a_submission_cannot_forge_its_hidden_check_results(graded):
    results = graded["results"]
    tester = results["forges_verdicts"]  # finds nothing to write to: its wrong answers are graded as such
    items = {i["id"]: i for i in tester["items"]}
    assert items["mse"]["points"] == 0 and items["mse"]["message"].startswith("mse gave "), items["mse"]
    assert items["slope"]["points"] == 0 and items["slope"]["value"] > 1
    assert any("sys.argv" in flag for flag in tester["flags"]), tester["flags"]
    assert any("os.write (as _o.write)" in flag for flag in tester["flags"]), tester["flags"]
    writer = results["writes_channel"]  # found the channel: every verdict void, and flagged as tampering
    items = {i["id"]: i for i in writer["items"]}
    assert items["mse"]["points"] == 0 and items["slope"]["points"] == 0
    assert items["mse"]["message"].startswith("not trusted"), items["mse"]
    assert any("results channel" in flag for flag in writer["flags"]), writer["flags"]
    assert "results channel" in (graded["out"] / "gradebook.csv").read_text()
    assert "Flagged for the instructor" in (graded["out"] / "feedback" / "writes_channel.html").read_text()
    closer = results["closes_channel"]
    assert any("died" in flag for flag in closer["flags"]), closer["flags"]


def test_what_student_code_raises_under_a_check_leaks_nothing(graded):
    result = graded["results"]["leaks_check"]
    items = {i["id"]: i for i in result["items"]}
    mse = items["mse"]
    assert mse["message"].startswith("not trusted: while this check ran") and "sys._getframe" in mse["message"]
    assert items["slope"]["points"] == 0 and "not trusted: " in items["slope"]["message"], items["slope"]
    assert "mse gave" not in mse["message"] and "_random.Random(11)" not in mse["message"]
    assert any("_getframe" in flag and "line" in flag for flag in result["flags"])  # the static flag
    assert any("saw the submission's code reading the interpreter's frames" in flag for flag in result["flags"])


def test_a_process_killed_under_the_checks_says_so(graded):
    result = graded["results"]["exits_in_check"]
    assert "died" in result["message"] and "os._exit" in result["message"]
    assert any("died" in flag for flag in result["flags"])


def test_stored_outputs_are_capped_per_cell(graded):
    executed = graded["out"] / "executed" / "big_output.ipynb"
    assert executed.stat().st_size < 2_500_000
    assert "output truncated — this cell produced more than 2 MB" in executed.read_text()


def test_a_disk_hog_gets_its_own_status(graded):
    result = graded["results"]["disk_hog"]
    assert "disk limit" in result["message"]
    assert graded["results"]["correct"]["total"] == 10  # graded beside it, untouched


def test_the_data_source_is_said_everywhere(graded):
    assert "data: embedded samples only" in (graded["out"] / "grading.log").read_text()
    assert "Data: embedded samples only" in (graded["out"] / "gradebook.html").read_text()
    assert "Data: embedded samples only" in (graded["out"] / "feedback" / "correct.html").read_text()


def test_a_students_script_does_not_run_in_the_feedback_page(graded):
    from labkit.report.pipeline import chromium_path

    chrome = chromium_path()
    if chrome is None:
        pytest.skip("Chromium is not installed")
    page = graded["out"] / "feedback" / "script_output.html"
    assert "document.title" in page.read_text()  # the output is in the page...
    dom = subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={graded['out'].parent / 'chromium-feedback'}",
                          "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "Grade: 10 / 10</h2>" in dom  # ...and did not run: the page was not rewritten
    assert "HACKED" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)


def test_workers_die_with_a_killed_grader(tmp_path):
    """SIGKILL the grader while a sandbox runs: its workers and their sandboxes go with it."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    shutil.copy(FIXTURES / "submissions" / "infinite_loop.ipynb", subs / "loop.ipynb")
    grader = subprocess.Popen([sys.executable, "-m", "labkit.cli", "grade", str(RUBRIC), str(subs),
                               "--out", str(tmp_path / "out"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def descendants(root: int) -> dict[int, bytes]:
        parents = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = {}, [root]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            for pid in frontier:
                try:
                    found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    pass
        return found

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 120
    family: dict[int, bytes] = {}
    while time.monotonic() < deadline and not any(b"labkit.grade.inside" in c for c in family.values()):
        time.sleep(0.5)
        family = descendants(grader.pid)
    assert any(b"labkit.grade.inside" in c for c in family.values()), "no sandbox started"
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(pid) for pid in family):
        time.sleep(0.5)
    assert [family[pid] for pid in family if alive(pid)] == []
