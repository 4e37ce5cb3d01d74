"""Manual items: the students' written analysis, graded by hand, merged on the next ``labkit grade``.

A rubric item ``manual: NAME`` (see :class:`labkit.grade.kinds.ManualKind`)
refers to the notebook's analysis cells tagged ``analysis:NAME`` (markdown
cells the student writes in). After each run the grader writes:

* ``manual/<item>.html`` — every student's answer to the item, one after
  another, with the figures of the section it closes, and the points and
  comment entered so far;
* ``manual.csv`` — one row per student and manual item: ``student, item,
  points, comment``. The instructor fills in points (0 to the item's
  points) and comments, here or in any spreadsheet; rows already there are
  kept as they are.

The next ``labkit grade`` (nothing is run again: results are reused) reads
``manual.csv`` and merges the entries into every result, the gradebook, the
CSV and each feedback page (:func:`merge`). An empty analysis cell is
reported as such, and an entry out of range is an error naming the row.
"""
from __future__ import annotations

import csv
import html
import math
from pathlib import Path
from typing import Any, Iterable

MANUAL_CSV = "manual.csv"
_FIELDS = ["student", "item", "points", "comment"]
_IMAGES = ("image/png", "image/jpeg")


class ManualError(ValueError):
    """A manual.csv that cannot be used (the message names the row and the fix)."""


def analysis(nb: Any, name: str) -> tuple[str, list[tuple[str, str]]]:
    """The student's text in the cells tagged ``analysis:NAME``, and the figures of the section they close.

    ``(text, [(mime, base64)])``: the figures are the images output by the
    code cells between the analysis cell and the heading before it.
    """
    if nb is None:
        return "", []
    cells = nb.get("cells", [])
    texts, figures = [], []
    for index, cell in enumerate(cells):
        if f"analysis:{name}" not in cell.get("metadata", {}).get("tags", []):
            continue
        texts.append(str(cell.get("source", "")).strip())
        for earlier in reversed(cells[:index]):
            if earlier.get("cell_type") == "markdown" and str(earlier.get("source", "")).lstrip().startswith("#"):
                break
            for output in earlier.get("outputs", []) if earlier.get("cell_type") == "code" else []:
                for mime in _IMAGES:
                    data = output.get("data", {}).get(mime)
                    if isinstance(data, str):
                        figures.insert(0, (mime, data.replace("\n", "")))
                        break
    return "\n\n".join(t for t in texts if t), figures[:8]


def read_entries(out_dir: Path, rubric: Any) -> dict[tuple[str, str], tuple[float | None, str]]:
    """``{(student, item): (points or None, comment)}`` from ``out_dir/manual.csv`` (empty when absent).

    Raises :class:`ManualError` for an unknown manual item or points that are
    not a number between 0 and the item's points.
    """
    path = out_dir / MANUAL_CSV
    if not path.is_file():
        return {}
    maxima = {item.id: item.points for item in rubric.items if item.kind == "manual"}
    entries = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), 2):
            student, item = (row.get("student") or "").strip(), (row.get("item") or "").strip()
            if not student and not item:
                continue
            if item not in maxima:
                raise ManualError(f"{path}, line {number}: {item!r} is not a manual item of the rubric "
                                  f"({', '.join(maxima) or 'none'})")
            text = (row.get("points") or "").strip()
            points = None
            if text:
                try:
                    points = float(text)
                except ValueError:
                    points = math.nan
                if not math.isfinite(points) or not 0 <= points <= maxima[item]:
                    raise ManualError(f"{path}, line {number}: points {text!r} for {student}/{item}: give a number "
                                      f"from 0 to {maxima[item]:g}, or leave it empty")
            entries[(student, item)] = (points, (row.get("comment") or "").strip())
    return entries


def write_entries(out_dir: Path, rubric: Any, students: Iterable[str],
                  entries: dict[tuple[str, str], tuple[float | None, str]]) -> Path:
    """Rewrite ``manual.csv``: every entry kept, a blank row added for each student and manual item without one."""
    items = [item.id for item in rubric.items if item.kind == "manual"]
    rows = dict(entries)
    for student in students:
        for item in items:
            rows.setdefault((student, item), (None, ""))
    path = out_dir / MANUAL_CSV
    partial = path.with_name(path.name + ".part")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_FIELDS)
        for (student, item), (points, comment) in sorted(rows.items()):
            writer.writerow([student, item, "" if points is None else f"{points:g}", comment])
    partial.replace(path)
    return path


def merge(result: Any, rubric: Any, entries: dict[tuple[str, str], tuple[float | None, str]]) -> bool:
    """Put the manual entries into ``result``'s items and total; True when anything changed."""
    changed = False
    manual = {item.id: item for item in rubric.items if item.kind == "manual"}
    for entry in result.items:
        item = manual.get(entry["id"])
        if item is None or result.status not in ("graded", "error"):
            continue
        points, comment = entries.get((result.student, item.id), (None, ""))
        text = "" if entry.get("value") else f"the analysis cell (analysis:{item.target}) is empty; "
        if points is None:
            new = (0.0, False, f"{text}awaiting the instructor's points (manual.csv)")
        else:
            new = (float(points), points >= item.points,
                   f"{text}{points:g} / {item.points:g} from the instructor" + (f": {comment}" if comment else ""))
        if (entry["points"], entry["passed"], entry["message"], entry.get("comment", "")) != (*new, comment):
            entry["points"], entry["passed"], entry["message"] = new
            entry["comment"] = comment  # the instructor's words, exported to lms.csv
            changed = True
    total = round(sum(entry["points"] for entry in result.items), 4)
    if total != result.total:
        result.total, changed = total, True
    return changed


def write_pages(out_dir: Path, rubric: Any, results: list[Any], notebooks: dict[str, Any],
                entries: dict[tuple[str, str], tuple[float | None, str]]) -> list[Path]:
    """``manual/<item>.html`` for each manual item: every student's answer, figures, points and comment."""
    esc = html.escape
    pages = []
    for item in (item for item in rubric.items if item.kind == "manual"):
        blocks = []
        for result in sorted(results, key=lambda r: r.student):
            text, figures = analysis(notebooks.get(result.student), item.target)
            points, comment = entries.get((result.student, item.id), (None, ""))
            answer = (f'<pre class="answer">{esc(text)}</pre>' if text
                      else '<p class="empty">(empty: the student wrote nothing here)</p>')
            images = "".join(f'<img alt="figure" src="data:{mime};base64,{esc(data)}">' for mime, data in figures)
            given = "—" if points is None else f"{points:g}"
            blocks.append(f'<section class="student" data-student="{esc(result.student)}">'
                          f"<h2>{esc(result.student)}</h2>{answer}<div class=\"figures\">{images}</div>"
                          f'<p class="grade">points: <strong class="points">{given}</strong> / {item.points:g}'
                          f'{" — " + esc(comment) if comment else ""}</p></section>')
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{esc(item.title)} — manual grading</title>
<style>
body {{ font-family: "Noto Sans", "Noto Sans CJK SC", Arial, sans-serif; margin: 2em; max-width: 60em; }}
section.student {{ border-top: 1px solid #ccc; padding: 0.5em 0; }}
pre.answer {{ white-space: pre-wrap; font-family: inherit; background: #f7f7f7; padding: 0.7em; }}
p.empty {{ color: #c62828; font-style: italic; }}
.figures img {{ max-width: 45%; margin: 0.3em; border: 1px solid #ddd; }}
</style></head><body>
<h1>{esc(item.title)}</h1>
<p>Item <code>{esc(item.id)}</code>, {item.points:g} points, answers in the cells tagged
<code>analysis:{esc(item.target)}</code>; {len(results)} student(s). Enter each student's points and a comment in
<code>{MANUAL_CSV}</code> (in the output folder, one row per student and item), then run <code>labkit grade</code>
again: nothing is re-run, the totals, the gradebook and the feedback pages take them in.</p>
{"".join(blocks)}
</body></html>
"""
        path = out_dir / "manual" / f"{item.id}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        pages.append(path)
    return pages
