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
import json
import math
from pathlib import Path
from typing import Any, Iterable

from labkit.plumbing import atomic_write, atomic_path, script_hash_source

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


def _rows(rubric: Any, students: Iterable[str], entries: dict[tuple[str, str], tuple[float | None, str]]
          ) -> list[tuple[str, str, float | None, str]]:
    """Every entry, and a blank one for each student and manual item without one, sorted by (student, item)."""
    items = [item.id for item in rubric.items if item.kind == "manual"]
    rows = dict(entries)
    for student in students:
        for item in items:
            rows.setdefault((student, item), (None, ""))
    return [(student, item, points, comment) for (student, item), (points, comment) in sorted(rows.items())]


def write_entries(out_dir: Path, rubric: Any, students: Iterable[str],
                  entries: dict[tuple[str, str], tuple[float | None, str]]) -> Path:
    """Rewrite ``manual.csv``: every entry kept, a blank row added for each student and manual item without one."""
    path = out_dir / MANUAL_CSV
    with atomic_path(path) as partial, open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_FIELDS)
        for student, item, points, comment in _rows(rubric, students, entries):
            writer.writerow([student, item, "" if points is None else f"{points:g}", comment])
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
        if points is None:  # not graded yet: shown blank, kept out of "not earned", the total provisional
            new = (0.0, False, f"{text}not graded yet: awaiting the instructor's points (manual.csv)", True)
        else:
            new = (float(points), points >= item.points,
                   f"{text}{points:g} / {item.points:g} from the instructor" + (f": {comment}" if comment else ""),
                   False)
        old = (entry["points"], entry["passed"], entry["message"], bool(entry.get("pending")), entry.get("comment", ""))
        if old != (*new, comment):
            entry["points"], entry["passed"], entry["message"], entry["pending"] = new
            entry["comment"] = comment  # the instructor's words, exported to lms.csv
            changed = True
    total = round(sum(entry["points"] for entry in result.items), 4)
    if total != result.total:
        result.total, changed = total, True
    return changed


#: The manual-grading page's script: the entry form builds ``manual.csv`` (every row of the file as the last
#: ``labkit grade`` wrote it, or as a loaded ``manual.csv`` has it; this item's rows from the form) and offers it
#: as a download. No server, no alert().
_FORM_JS = r"""
(function () {
  var data = JSON.parse(document.getElementById("manual-data").textContent);
  var status = document.getElementById("save-status");
  function field(text) {  // as Python's csv writer quotes (QUOTE_MINIMAL)
    text = String(text);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function entries() {  // this item's points and comments from the form; null (and marks) when one is invalid
    var found = {}, bad = [];
    document.querySelectorAll("section.student").forEach(function (section) {
      var input = section.querySelector("input.points-input"), comment = section.querySelector("textarea");
      var text = input.value.trim(), points = Number(text);
      var ok = text === "" || (isFinite(points) && points >= 0 && points <= data.max);
      input.setAttribute("aria-invalid", ok ? "false" : "true");
      if (!ok) bad.push(section.dataset.student);
      found[section.dataset.student] = [text === "" ? "" : String(points), comment.value.trim()];
    });
    if (bad.length) {
      status.textContent = "Not saved: points must be a number from 0 to " + data.max + " (or empty) for " +
        bad.join(", ") + ".";
      status.className = "error";
      return null;
    }
    return found;
  }
  function csv() {
    var form = entries();
    if (form === null) return null;
    var rows = data.rows.map(function (row) {
      return row[1] === data.item && form.hasOwnProperty(row[0]) ? [row[0], row[1]].concat(form[row[0]]) : row;
    });
    return ["student,item,points,comment"].concat(rows.map(function (row) {
      return row.map(field).join(",");
    })).join("\r\n") + "\r\n";
  }
  function save() {
    var text = csv();
    if (text === null) return;
    var link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], {type: "text/csv;charset=utf-8"}));
    link.download = "manual.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    var n = Object.values(entries()).filter(function (e) { return e[0] !== ""; }).length;
    status.textContent = "manual.csv downloaded (" + n + " of " + data.students + " student(s) with points for " +
      data.item + "): put it in the output folder in place of manual.csv, then run labkit grade.";
    status.className = "saved";
  }
  function parse(text) {  // RFC 4180 CSV, as Python's csv module and spreadsheets write it
    var rows = [], row = [], value = "", quoted = false;
    text = text.replace(/^\ufeff/, "");
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c !== '"') value += c;
        else if (text[i + 1] === '"') { value += '"'; i++; }
        else quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === ",") { row.push(value); value = ""; }
      else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        row.push(value); rows.push(row); row = []; value = "";
      } else value += c;
    }
    if (value !== "" || row.length) { row.push(value); rows.push(row); }
    return rows.filter(function (r) { return r.join("").trim() !== ""; });
  }
  function load(file) {  // the current manual.csv: its rows replace the page's, and fill the fields not edited here
    file.text().then(function (text) {
      var table = parse(text), header = (table.shift() || []).map(function (h) { return h.trim(); });
      var at = ["student", "item", "points", "comment"].map(function (name) { return header.indexOf(name); });
      if (at.indexOf(-1) >= 0) {
        status.textContent = "Not loaded: " + file.name + " has no student,item,points,comment header.";
        status.className = "error";
        return;
      }
      var rows = table.map(function (r) { return at.map(function (i) { return (r[i] || "").trim(); }); });
      var have = {}, kept = [];
      rows.forEach(function (r) { have[r[0] + "\u0000" + r[1]] = true; });
      data.rows.forEach(function (r) { if (!have[r[0] + "\u0000" + r[1]]) rows.push(r); });
      rows.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0; });
      data.rows = rows;
      document.querySelectorAll("section.student").forEach(function (section) {
        var row = rows.filter(function (r) { return r[0] === section.dataset.student && r[1] === data.item; })[0];
        var input = section.querySelector("input.points-input"), box = section.querySelector("textarea");
        if (!row) return;
        if (input.dataset.edited || box.dataset.edited) { kept.push(section.dataset.student); return; }
        input.value = row[2];
        box.value = row[3];
      });
      status.textContent = "Loaded " + file.name + " (" + rows.length + " rows)" +
        (kept.length ? "; kept what you typed for " + kept.join(", ") : "") + ".";
      status.className = "";
    });
  }
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("load").addEventListener("change", function (event) {
    if (event.target.files.length) load(event.target.files[0]);
  });
  document.querySelectorAll("input.points-input, textarea").forEach(function (el) {
    el.addEventListener("input", function () {
      el.dataset.edited = "1";
      if (csv() !== null) { status.textContent = "unsaved changes"; status.className = ""; }
    });
  });
})();
"""


def _json_in_html(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>`` can end it)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_pages(out_dir: Path, rubric: Any, results: list[Any], notebooks: dict[str, Any],
                entries: dict[tuple[str, str], tuple[float | None, str]]) -> list[Path]:
    """``manual/<item>.html`` for each manual item: every student's answer and figures, and an entry form.

    The form has, for each student, a points field (0 to the item's points) and a comment box, prefilled
    from ``entries`` (``manual.csv`` as read by this run); its *Save* button downloads a complete
    ``manual.csv`` (:data:`_FORM_JS`: every row of the file, this item's from the form) that the next
    ``labkit grade`` merges. The page's only script is that one, allowed by its hash in the page's
    Content-Security-Policy; the students' text is shown as text.
    """
    esc = html.escape
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {script_hash_source(_FORM_JS)}"
    students = [result.student for result in sorted(results, key=lambda r: r.student)]
    rows = [[student, item, "" if points is None else f"{points:g}", comment]
            for student, item, points, comment in _rows(rubric, students, entries)]
    manual_items = [item for item in rubric.items if item.kind == "manual"]
    pages = []
    for item in manual_items:
        blocks = []
        for result in sorted(results, key=lambda r: r.student):
            text, figures = analysis(notebooks.get(result.student), item.target)
            points, comment = entries.get((result.student, item.id), (None, ""))
            answer = (f'<pre class="answer">{esc(text)}</pre>' if text
                      else '<p class="empty">(empty: the student wrote nothing here)</p>')
            images = "".join(f'<img alt="figure" src="data:{mime};base64,{esc(data)}">' for mime, data in figures)
            given = "—" if points is None else f"{points:g}"
            student = esc(result.student)
            blocks.append(f'<section class="student" data-student="{student}">'
                          f"<h2>{student}</h2>{answer}<div class=\"figures\">{images}</div>"
                          f'<p class="grade">points: <strong class="points">{given}</strong> / {item.points:g}'
                          f'{" — " + esc(comment) if comment else ""}</p>'
                          f'<div class="entry"><label>points <input type="number" class="points-input" '
                          f'name="points:{student}" min="0" max="{item.points:g}" step="any" inputmode="decimal" '
                          f'value="{"" if points is None else f"{points:g}"}"></label> / {item.points:g} '
                          f'<label>comment <textarea name="comment:{student}" rows="2">{esc(comment)}</textarea>'
                          f"</label></div></section>")
        data = {"item": item.id, "max": item.points, "students": len(students), "rows": rows}
        others = [other.id for other in manual_items if other.id != item.id]
        caution = (f"<p class=\"caution\">The file holds the other manual items' entries ({esc(', '.join(others))}) as the "
                   f"last <code>labkit grade</code> wrote them. If you saved another item's page since, load that "
                   f"<code>{MANUAL_CSV}</code> here first (next to <em>Save</em>), or run <code>labkit grade</code> "
                   f"again to refresh this page.</p>" if others else "")
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{esc(item.title)} — manual grading</title>
<style>
body {{ font-family: "Noto Sans", "Noto Sans CJK SC", Arial, sans-serif; margin: 2em; max-width: 60em; }}
section.student {{ border-top: 1px solid #ccc; padding: 0.5em 0; }}
pre.answer {{ white-space: pre-wrap; font-family: inherit; background: #f7f7f7; padding: 0.7em; }}
p.empty {{ color: #c62828; font-style: italic; }}
.figures img {{ max-width: 45%; margin: 0.3em; border: 1px solid #ddd; }}
.entry {{ display: flex; gap: 1.5em; align-items: flex-start; }}
.entry input {{ width: 5em; }} .entry textarea {{ width: 32em; vertical-align: top; }}
input[aria-invalid="true"] {{ outline: 2px solid #c62828; }}
#save-bar {{ position: sticky; bottom: 0; background: #fff; border-top: 1px solid #ccc; padding: 0.6em 0; }}
#save-status.error {{ color: #c62828; }} #save-status.saved {{ color: #1a7f37; }}
@media print {{ .entry, #save-bar {{ display: none; }} }}
</style></head><body>
<h1>{esc(item.title)}</h1>
<p>Item <code>{esc(item.id)}</code>, {item.points:g} points, answers in the cells tagged
<code>analysis:{esc(item.target)}</code>; {len(results)} student(s). Enter each student's points (0 to
{item.points:g}, empty: not graded yet) and a comment below and press <em>Save manual.csv</em>: the browser downloads
<code>{MANUAL_CSV}</code> (every row of the file, this item's from this form); put it in the output folder in
place of the old one and run <code>labkit grade</code> again: nothing is re-run, the totals, the gradebook and the
feedback pages take the entries in. The file can also be edited by hand (one row per student and item); load it
here (next to <em>Save</em>) to continue from it.</p>
{caution}
{"".join(blocks)}
<div id="save-bar"><button type="button" id="save">Save manual.csv</button>
<label>or load the current one first: <input type="file" id="load" accept=".csv,text/csv"></label>
<span id="save-status" role="status"></span></div>
<script type="application/json" id="manual-data">{_json_in_html(data)}</script>
<script>{_FORM_JS}</script>
</body></html>
"""
        path = out_dir / "manual" / f"{item.id}.html"
        atomic_write(path, page)
        pages.append(path)
    return pages
