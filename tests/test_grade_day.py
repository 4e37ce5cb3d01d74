"""The instructor's grading day on the toy lab: manual items, statistics, --only, --roster, the LMS export.

Graded as submitted (--no-execute: no sandbox, seconds), so the test is about the bookkeeping: a
manual entry changes totals without re-running anybody, and the pages render in headless Chromium.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from labkit.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
RUBRIC = str(FIXTURES / "lab" / "toy_manual.yaml")
ANSWERS = {"alice": "斜率接近 3，因为噪声很小。The fit is close to 3.", "bob": "拟合得不错。", "carol": ""}


@pytest.fixture
def subs(tmp_path: Path) -> Path:
    folder = tmp_path / "subs"
    folder.mkdir()
    correct = nbformat.read(FIXTURES / "submissions" / "correct.ipynb", as_version=4)
    for student, text in ANSWERS.items():
        nb = nbformat.from_dict(nbformat.reads(nbformat.writes(correct), as_version=4))
        cell = nbformat.v4.new_markdown_cell(text)
        cell.metadata["tags"] = ["analysis", "analysis:discussion"]
        nb.cells.append(cell)
        nbformat.write(nb, folder / f"{student}.ipynb")
    return folder


def rows(path: Path) -> dict[str, dict]:
    return {row.get("student") or row.get("student_id"): row for row in csv.DictReader(open(path, encoding="utf-8"))}


def grade(subs: Path, out: Path, *extra: str) -> None:
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--no-execute", *extra]) == 0


def chromium_dom(page: Path, profile: Path) -> str:
    from labkit.report.pipeline import chromium_path

    chrome = chromium_path()
    if chrome is None:
        pytest.skip("Chromium is not installed")
    return subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout


def test_manual_points_are_merged_without_running_anything(subs, tmp_path, capsys):
    out = tmp_path / "out"
    grade(subs, out)
    table = list(csv.DictReader(open(out / "manual.csv", encoding="utf-8")))
    assert sorted((r["student"], r["item"], r["points"]) for r in table) == [
        ("alice", "discussion", ""), ("bob", "discussion", ""), ("carol", "discussion", "")]
    before = rows(out / "gradebook.csv")["alice"]
    assert before["discussion"] == "" and before["message"].startswith("provisional: not graded yet: discussion")
    lms = rows(out / "lms.csv")["alice"]["comment"]
    assert "discussion" not in lms.split("provisional")[0] and "provisional: not graded yet: discussion" in lms, lms
    assert "not graded yet" in (out / "gradebook.html").read_text()
    page = (out / "feedback" / "alice.html").read_text()
    assert "(provisional)</h2>" in page and "not graded yet" in page
    carol = {i["id"]: i for i in __import__("json").loads((out / "results" / "carol.json").read_text())["items"]}
    assert "is empty" in carol["discussion"]["message"]
    page = (out / "manual" / "discussion.html").read_text()
    assert ANSWERS["alice"] in page and "(empty: the student wrote nothing here)" in page

    # the instructor enters points for two students, in the plain CSV
    with open(out / "manual.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "item", "points", "comment"])
        writer.writerow(["alice", "discussion", "3.5", "清楚，但没有讨论噪声的大小"])
        writer.writerow(["bob", "discussion", "1", "too short"])
    capsys.readouterr()
    grade(subs, out, "--only", "alice", "bob")  # the entries merge without running anybody, --only too
    printed = capsys.readouterr().out
    assert printed.count("already graded") == 2
    assert not re.search(r"^labkit: (alice|bob|carol): (graded|error)", printed, re.M)
    lms = rows(out / "lms.csv")
    assert "partly earned: discussion 3.5/4" in lms["alice"]["comment"], lms["alice"]
    assert "not earned: discussion" not in lms["alice"]["comment"]
    assert "discussion: 清楚，但没有讨论噪声的大小" in lms["alice"]["comment"]
    grade(subs, out)
    printed = capsys.readouterr().out
    assert printed.count("already graded") == 3
    assert not re.search(r"^labkit: (alice|bob|carol): (graded|error)", printed, re.M)
    table = rows(out / "gradebook.csv")
    assert float(table["alice"]["discussion"]) == 3.5 and float(table["bob"]["discussion"]) == 1
    assert float(table["alice"]["total"]) == float(table["carol"]["total"]) + 3.5
    assert "provisional" not in table["alice"]["message"] and table["carol"]["discussion"] == ""
    assert "provisional: not graded yet: discussion" in table["carol"]["message"]
    assert "(provisional)</h2>" not in (out / "feedback" / "alice.html").read_text()
    feedback = (out / "feedback" / "alice.html").read_text()
    assert "3.5 / 4 from the instructor: 清楚，但没有讨论噪声的大小" in feedback
    assert "carol" in (out / "manual.csv").read_text()  # her blank row is back, to be filled in
    dom = chromium_dom(out / "manual" / "discussion.html", tmp_path / "chromium-manual")
    sections = re.findall(r'<section class="student" data-student="([^"]+)">(.*?)</section>', dom, re.S)
    assert [name for name, _ in sections] == ["alice", "bob", "carol"]
    assert '<strong class="points">3.5</strong>' in sections[0][1]

    bad = out / "manual.csv"
    bad.write_text("student,item,points,comment\nalice,discussion,9,too many\n", encoding="utf-8")
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--no-execute"]) == 2
    assert "from 0 to 4" in capsys.readouterr().err


def test_statistics_only_roster_and_the_lms_export(subs, tmp_path, capsys):
    out = tmp_path / "out"
    grade(subs, out)
    dom = chromium_dom(out / "gradebook.html", tmp_path / "chromium-gradebook")
    assert 'id="statistics-figure"' in dom and "data:image/png;base64," in dom
    assert re.search(r'id="stat-mean">[0-9.]+<', dom) and "Missed most:" in dom
    assert (out / "statistics.png").stat().st_size > 1000

    capsys.readouterr()
    shutil.copy(subs / "carol.ipynb", subs / "bob.ipynb")  # bob hands in again; only he is regraded
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--no-execute", "--only", "bob"]) == 0
    printed = capsys.readouterr().out
    assert "bob: graded" in printed and "alice: graded" not in printed and "carol: graded" not in printed
    assert "2 not selected (--only" in printed and " skipped;" not in printed.splitlines()[-1], printed
    assert main(["grade", RUBRIC, str(subs), "--out", str(out), "--no-execute", "--only", "zed"]) == 2

    roster = tmp_path / "roster.csv"
    roster.write_text("学号,姓名,班级\nalice,李雷,计科1班\nbob,韩梅梅,计科1班\ncarol,张三,计科2班\ndave,王五,计科2班\n",
                      encoding="utf-8")
    grade(subs, out, "--roster", str(roster))
    table = rows(out / "gradebook.csv")
    assert table["alice"]["name"] == "李雷" and table["dave"]["status"] == "missing"
    lms = rows(out / "lms.csv")
    assert sorted(lms) == ["alice", "bob", "carol", "dave"]
    assert lms["dave"]["total"] == "0" and lms["dave"]["comment"].startswith("missing")


class DevTools:
    """Headless Chromium driven over the Chrome DevTools Protocol on a pipe (``--remote-debugging-pipe``:
    JSON messages ending in a NUL byte, commands on the browser's fd 3, answers on its fd 4). No client
    library: a few commands are all the manual-grading page test needs."""

    def __init__(self, chrome: str, profile: Path):
        import os

        self._commands_r, self._commands = os.pipe()
        self._answers, self._answers_w = os.pipe()
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
                "--remote-debugging-pipe", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{self._commands_r} 4>&{self._answers_w}', chrome, *args],
            pass_fds=(self._commands_r, self._answers_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(self._commands_r)
        os.close(self._answers_w)
        self._next, self._buffer = 0, b""

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params) -> dict:
        import json
        import os
        import select
        import time

        self._next += 1
        message = {"id": self._next, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next:
                    assert "error" not in answer, (method, answer["error"])
                    return answer["result"]
            ready, _, _ = select.select([self._answers], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"Chromium did not answer {method} in {timeout} s"
            chunk = os.read(self._answers, 1 << 16)
            assert chunk, f"Chromium closed its pipe during {method}"
            self._buffer += chunk

    def evaluate(self, session: str, expression: str):
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True,
                           awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self) -> None:
        import os

        for fd in (self._commands, self._answers):
            os.close(fd)
        self.process.kill()
        self.process.wait(timeout=30)


def test_the_manual_grading_page_form_saves_a_manual_csv_that_the_next_grade_merges(subs, tmp_path, capsys):
    """The entry form of manual/<item>.html, in headless Chromium: points out of range refused on the page, a
    hand-edited manual.csv loaded, two students' points and comments typed in, Save pressed, the downloaded
    manual.csv put in place, and the next `labkit grade` merges it (nothing re-run)."""
    import time

    from labkit.report.pipeline import chromium_path

    chrome = chromium_path()
    if chrome is None:
        pytest.skip("Chromium is not installed")
    out = tmp_path / "out"
    grade(subs, out)
    capsys.readouterr()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser = DevTools(chrome, tmp_path / "chromium-form")
    try:
        browser.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        target = browser.call("Target.createTarget", url=(out / "manual" / "discussion.html").resolve().as_uri())
        session = browser.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        for _ in range(100):
            if browser.evaluate(session, 'document.readyState === "complete" && !!document.getElementById("save")'):
                break
            time.sleep(0.1)
        fill = """(function (entries) {
            for (var student in entries) {
              var section = document.querySelector('section.student[data-student="' + student + '"]');
              var input = section.querySelector("input.points-input"), box = section.querySelector("textarea");
              input.value = entries[student][0]; input.dispatchEvent(new Event("input"));
              box.value = entries[student][1]; box.dispatchEvent(new Event("input"));
            }
            document.getElementById("save").click();
            return [document.getElementById("save-status").textContent,
                    document.querySelector('input[name="points:alice"]').max];
          })(%s)"""
        # out of range first: nothing is downloaded, the page says why (no alert() blocks it)
        status, bound = browser.evaluate(session, fill % '{"bob": ["9", ""]}')
        assert status.startswith("Not saved") and "from 0 to 4" in status and "bob" in status and bound == "4"
        # the current manual.csv, edited by hand meanwhile, loaded into the page: it fills the fields not typed in
        by_hand = tmp_path / "by-hand.csv"
        by_hand.write_text("student,item,points,comment\nbob,discussion,0,x\ncarol,discussion,2,\"by hand, late\"\n",
                           encoding="utf-8")
        root = browser.call("DOM.getDocument", session)["root"]["nodeId"]
        picker = browser.call("DOM.querySelector", session, nodeId=root, selector="#load")["nodeId"]
        browser.call("DOM.setFileInputFiles", session, nodeId=picker, files=[str(by_hand)])
        for _ in range(100):
            status = browser.evaluate(session, 'document.getElementById("save-status").textContent')
            if status.startswith("Loaded"):
                break
            time.sleep(0.1)
        assert status == "Loaded by-hand.csv (3 rows); kept what you typed for bob.", status
        assert browser.evaluate(session, '[document.querySelector(\'input[name="points:carol"]\').value, '
                                         'document.querySelector(\'input[name="points:bob"]\').value]') == ["2", "9"]
        status, _ = browser.evaluate(session, fill % '{"alice": ["3.5", "清楚，但没有讨论噪声的大小, \\"噪声\\""], '
                                                      '"bob": ["1", "too short"]}')
        assert status.startswith("manual.csv downloaded (3 of 3"), status
        saved = downloads / "manual.csv"
        for _ in range(200):
            if saved.is_file() and not list(downloads.glob("*.crdownload")):
                break
            time.sleep(0.1)
    finally:
        browser.close()
    text = saved.read_text(encoding="utf-8")
    table = list(csv.DictReader(text.splitlines()))
    assert [(r["student"], r["item"], r["points"]) for r in table] == [
        ("alice", "discussion", "3.5"), ("bob", "discussion", "1"), ("carol", "discussion", "2")]
    assert table[0]["comment"] == '清楚，但没有讨论噪声的大小, "噪声"' and table[2]["comment"] == "by hand, late"

    shutil.copy(saved, out / "manual.csv")
    grade(subs, out)
    printed = capsys.readouterr().out
    assert printed.count("already graded") == 3  # merged without running anybody
    totals = rows(out / "gradebook.csv")
    assert float(totals["alice"]["discussion"]) == 3.5 and float(totals["bob"]["discussion"]) == 1
    assert float(totals["carol"]["discussion"]) == 2
    assert float(totals["alice"]["total"]) == float(totals["carol"]["total"]) + 1.5
    page = (out / "manual" / "discussion.html").read_text(encoding="utf-8")
    assert 'name="points:alice" min="0" max="4" step="any" inputmode="decimal" value="3.5"' in page  # prefilled


def test_the_feedback_page_typesets_math_and_still_runs_no_student_script(tmp_path):
    """The report template's MathJax is allowed by hash in the page's CSP; a student's <script> or event handler
    in an output is not."""
    from labkit.grade.gradebook import feedback_html

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(r"Softmax: $\hat{y} = Wx + b$, $$E = mc^2$$"),
                                         nbformat.v4.new_code_cell("x")])
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"text/html": (
        "<script>document.body.setAttribute('data-hacked', 'script')</script>"
        "<img src=x onerror=\"document.body.setAttribute('data-hacked', 'handler')\">")})]
    result = {"student": "s", "status": "graded", "total": 1.0, "max_total": 1.0, "items": []}
    page = tmp_path / "feedback.html"
    page.write_text(feedback_html(result, nb), encoding="utf-8")
    head = page.read_text(encoding="utf-8").split("</head>")[0]
    assert "script-src 'sha256-" in head and "'unsafe-inline'" not in head.split("script-src")[1].split(";")[0]
    dom = chromium_dom(page, tmp_path / "profile")
    assert dom.count("<mjx-container") == 2, dom[:2000]
    assert "data-hacked" not in dom.split("<body")[1].split(">")[0]
