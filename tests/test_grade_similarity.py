"""`labkit similarity` on planted copies (tests/fixtures/grading/similarity/README.md)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from labkit.cli import main
from labkit.grade.rubric import load_rubric
from labkit.grade.similarity import collect, compare, released_code

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
RUBRIC = str(FIXTURES / "lab" / "toy.yaml")
SUBS = FIXTURES / "similarity"


def test_a_renamed_and_reordered_copy_ranks_first_and_independent_work_low():
    rubric = load_rubric(RUBRIC)
    works, skipped = collect(rubric, SUBS)
    assert sorted(w.student for w in works) == ["alice", "bob", "carol", "dave"]
    assert [line.split(":")[0] for line in skipped] == ["README.md"]
    pairs = compare(works, released_code(rubric))
    by_code = sorted(pairs, key=lambda p: -p.code)
    assert {by_code[0].a, by_code[0].b} == {"alice", "dave"} and by_code[0].code > 0.8
    assert all(p.code < 0.4 for p in by_code[1:]), [(p.a, p.b, p.code) for p in by_code]
    by_text = sorted(pairs, key=lambda p: -p.text)
    assert {by_text[0].a, by_text[0].b} == {"alice", "carol"} and by_text[0].text > 0.8  # Chinese text
    assert all(p.text < 0.3 for p in by_text[1:])
    assert "<mark>" in by_code[0].code_html[0] and "<mark>" in by_text[0].text_html[1]


def test_the_stubs_are_not_a_match():
    """Two students who wrote nothing share only the released stubs: that is no similarity."""
    rubric = load_rubric(RUBRIC)
    works, _ = collect(rubric, SUBS)
    from labkit.grade.similarity import Work

    stub = released_code(rubric)
    pairs = compare([Work("x", stub), Work("y", stub)], stub)
    assert pairs[0].code == 0


def test_the_command_writes_the_report(tmp_path, capsys):
    subs = tmp_path / "subs"
    shutil.copytree(SUBS, subs, ignore=shutil.ignore_patterns("*.md"))
    assert main(["similarity", RUBRIC, str(subs), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"1\. alice — (carol|dave)", printed)
    page = (tmp_path / "out" / "similarity.html").read_text()
    assert page.count("<tr data-a=") == 6 and "<mark>" in page
    assert main(["similarity", RUBRIC, str(tmp_path / "nowhere")]) == 2
