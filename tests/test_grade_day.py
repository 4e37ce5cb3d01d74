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
    assert rows(out / "gradebook.csv")["alice"]["discussion"] == "0"
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
