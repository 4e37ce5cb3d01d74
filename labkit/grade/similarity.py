"""Similarity between submissions (``labkit similarity LAB SUBMISSIONS_DIR``), by winnowed fingerprints.

For each student: the code of their exercise cells (the cells that match the
lab's exercise cells, as the grader finds them) and the text of their
analysis cells. Every pair is compared with copydetect
(https://github.com/blingenf/copydetect), a winnowing fingerprinter in the
spirit of MOSS (Schleimer, Wilkerson and Aiken, *Winnowing: local algorithms
for document fingerprinting*, SIGMOD 2003):

* code is tokenized and filtered first (names, strings and numbers become
  placeholders), so renamed variables and reordered functions still match;
  the released stubs' fingerprints are boilerplate (never a match);
* analysis text is compared as characters (k-grams of characters, whitespace
  collapsed), which works for Chinese without a segmenter.

The report (``similarity.html``) lists the most similar pairs with the
matching passages highlighted side by side. A high score is a reason to
read both notebooks, not a verdict.
"""
from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: k-gram length (filtered tokens for code, characters for text) and winnowing window.
CODE_K, CODE_WINDOW = 12, 4
TEXT_K, TEXT_WINDOW = 10, 3


@dataclass
class Pair:
    """Two students and how much of each one's code and text the other shares (0..1)."""

    a: str
    b: str
    code: float
    text: float
    code_html: tuple[str, str] = ("", "")
    text_html: tuple[str, str] = ("", "")

    @property
    def score(self) -> float:
        return max(self.code, self.text)


@dataclass
class Work:
    """What one student wrote: exercise code and analysis text."""

    student: str
    code: str = ""
    text: str = ""
    notes: list[str] = field(default_factory=list)


def collect(rubric: Any, submissions: Path) -> tuple[list[Work], list[str]]:
    """Each submission's exercise code and analysis text; and the lines of what could not be read."""
    from labkit.grade.execute import match_exercises, read_notebook
    from labkit.grade.runner import MAX_READ_BYTES, find_submissions, read_submission

    skipped: list[str] = []
    works = []
    for submission in find_submissions(Path(submissions), rubric.lab, skipped):
        if submission.path is None:
            skipped.append(f"{submission.student}: {submission.problem}")
            continue
        try:
            nb = read_notebook(read_submission(submission.path, MAX_READ_BYTES))
        except (OSError, ValueError) as exc:
            skipped.append(f"{submission.student}: {exc}")
            continue
        code = "\n\n".join(cell.source for _, cell, _ in match_exercises(rubric, nb) if cell is not None)
        text = "\n\n".join(str(cell.source) for cell in nb.cells if cell.cell_type == "markdown"
                           and any(t.startswith("analysis") for t in cell.metadata.get("tags", [])))
        works.append(Work(submission.student, code, text))
    return works, skipped


def _fingerprint(text: str, *, code: bool, boilerplate: Any = None) -> Any:
    from copydetect import CodeFingerprint

    if code:
        return CodeFingerprint("exercise.py", CODE_K, CODE_WINDOW, boilerplate=boilerplate, filter=True,
                               language="python", fp=io.StringIO(text))
    flat = re.sub(r"\s+", " ", text).strip()
    return CodeFingerprint("analysis.txt", TEXT_K, TEXT_WINDOW, boilerplate=boilerplate, filter=False,
                           fp=io.StringIO(flat))


def _side_by_side(first: Any, second: Any, slices: Any) -> tuple[str, str]:
    from copydetect.utils import highlight_overlap

    left, _ = highlight_overlap(first.raw_code, slices[0], '<mark>', '</mark>', truncate=8, escape_html=True)
    right, _ = highlight_overlap(second.raw_code, slices[1], '<mark>', '</mark>', truncate=8, escape_html=True)
    return left, right


def compare(works: list[Work], released_code: str = "") -> list[Pair]:
    """Every pair, most similar first (by the larger of its code and text scores)."""
    from copydetect import compare_files

    boilerplate = sorted(_fingerprint(released_code, code=True).hashes) if released_code.strip() else []
    codes = {w.student: _fingerprint(w.code, code=True, boilerplate=boilerplate) if w.code.strip() else None
             for w in works}
    texts = {w.student: _fingerprint(w.text, code=False) if len(w.text.strip()) >= TEXT_K else None for w in works}
    pairs = []
    for i, first in enumerate(works):
        for second in works[i + 1:]:
            pair = Pair(first.student, second.student, 0.0, 0.0)
            for kind, prints in (("code", codes), ("text", texts)):
                a, b = prints[first.student], prints[second.student]
                if a is None or b is None or not a.hashes or not b.hashes:
                    continue
                _, (share_a, share_b), slices = compare_files(a, b)
                setattr(pair, kind, float(max(share_a, share_b)))
                if max(share_a, share_b) > 0:
                    setattr(pair, f"{kind}_html", _side_by_side(a, b, slices))
            pairs.append(pair)
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def released_code(rubric: Any) -> str:
    """The code of the lab's exercise cells as students receive them (the stubs and what surrounds them)."""
    return "\n\n".join(cell.released for cell in rubric.plan if cell.origin == "exercise")


def write_report(pairs: list[Pair], rubric: Any, path: Path, *, top: int = 20, skipped: list[str] = ()) -> Path:
    """``similarity.html``: the ``top`` most similar pairs, scores and the shared passages side by side."""
    esc = html.escape
    rows, details = [], []
    for rank, pair in enumerate(pairs[:top], 1):
        rows.append(f'<tr data-a="{esc(pair.a)}" data-b="{esc(pair.b)}"><td>{rank}</td><td>{esc(pair.a)}</td>'
                    f'<td>{esc(pair.b)}</td><td class="num">{pair.code:.0%}</td><td class="num">{pair.text:.0%}</td>'
                    f'<td><a href="#pair-{rank}">passages</a></td></tr>')
        blocks = []
        for label, (left, right) in (("exercise code", pair.code_html), ("analysis", pair.text_html)):
            if left or right:
                blocks.append(f"<h4>{label}</h4><div class=\"side\"><pre>{left}</pre><pre>{right}</pre></div>")
        details.append(f'<section id="pair-{rank}"><h3>{rank}. {esc(pair.a)} — {esc(pair.b)}: code {pair.code:.0%}, '
                       f'analysis {pair.text:.0%}</h3>{"".join(blocks) or "<p>nothing shared</p>"}</section>')
    notes = "".join(f"<li>{esc(line)}</li>" for line in skipped)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Similarity — {esc(rubric.title)}</title>
<style>
body {{ font-family: "Noto Sans", "Noto Sans CJK SC", Arial, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
td.num {{ text-align: right; }} mark {{ background: #ffe08a; }}
.side {{ display: flex; gap: 1em; }} .side pre {{ flex: 1; white-space: pre-wrap; background: #f7f7f7; padding: 0.5em;
  font-size: 12px; overflow-x: auto; }}
</style></head><body>
<h1>Similarity — {esc(rubric.title)}</h1>
<p>Each pair's score is the larger share of one student's exercise code (names and literals ignored, the released
stubs left out) or analysis text (character {TEXT_K}-grams) found in the other's, by winnowed fingerprints
(copydetect). A high score is a reason to read both notebooks, not a verdict.</p>
<table id="pairs"><thead><tr><th>#</th><th>student</th><th>student</th><th>code</th><th>analysis</th><th></th></tr>
</thead><tbody>{"".join(rows)}</tbody></table>
{"<h2>Not compared</h2><ul>" + notes + "</ul>" if notes else ""}
{"".join(details)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
