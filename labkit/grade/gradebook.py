"""The grader's outputs: ``gradebook.csv``, the sortable ``gradebook.html``, and each student's feedback page.

* ``gradebook.csv`` — one row per submission: ``student``, ``status``, the
  points of every rubric item (one column each, named by the item's id),
  ``total``, ``wall_seconds``, ``message`` (why the status is not
  ``graded``, or why the total is provisional) and ``flags``. A manual item
  the instructor has not graded yet is blank (not 0); the total then counts
  it as 0 and ``message`` says so (``provisional: not graded yet: discussion
  (counted as 0 until graded)``).
* ``gradebook.html`` — the same table, self-contained: click a column
  header to sort by it (again to reverse); ``gradebook.html#sort=-total``
  opens it sorted. Each item cell shows pass/fail and its message on hover;
  each student links to their feedback page.
* ``feedback/<student>.html`` — the student's executed notebook as a labkit
  report, with their grade, every item's result and message, and the
  failing cell marked at the top. Hidden checks' code never appears in it.
"""
from __future__ import annotations

import copy
import csv
import html
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import nbformat

from labkit.grade.result import pending_items, provisional_note
from labkit.grade.rubric import Rubric
from labkit.plumbing import script_hash_source
from labkit.report.cells import CellFailure, CellMap

_STATUS_NOTE = {
    "graded": "ran to the end; every item scored",
    "error": "a cell raised an exception; the items were scored on what ran",
    "timeout": "ran out of time; not scored",
    "memory": "ran out of memory; not scored",
    "disk": "wrote more than its disk limit; not scored",
    "missing": "on the roster, but handed nothing in",
    "killed": "the kernel or the sandbox died (or hit the process limit); not scored",
    "invalid": "not a readable notebook; not scored",
}


def _csv_safe(value: Any) -> Any:
    """Keep spreadsheet programs from reading a cell as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _points(value: float) -> str:
    return f"{value:g}"


def write_csv(results: Iterable[dict[str, Any]], rubric: Rubric, path: Path) -> Path:
    """Write ``gradebook.csv`` (see the module docstring)."""
    ids = [item.id for item in rubric.items]
    results = sorted(results, key=lambda r: r["student"])
    roster = any(r.get("name") or r.get("group") for r in results)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *(["name", "class"] if roster else []), "status", *ids, "total", "wall_seconds",
                         "message", "flags"])
        for result in results:
            earned = {item["id"]: item["points"] for item in result.get("items", [])}
            pending = set(pending_items(result))
            names = [_csv_safe(result.get("name", "")), _csv_safe(result.get("group", ""))] if roster else []
            writer.writerow([_csv_safe(result["student"]), *names, result["status"],
                             *["" if i in pending else _points(earned.get(i, 0.0)) for i in ids],
                             _points(result.get("total", 0.0)),
                             f"{result.get('wall_seconds', 0.0):.1f}",
                             _csv_safe("; ".join(m for m in (result.get("message", ""), provisional_note(result)) if m)),
                             _csv_safe("; ".join(result.get("flags", [])))])
    return path


_PAGE_CSS = """
body { font-family: "Noto Sans", "Noto Sans CJK SC", Arial, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pass { background: #e6f4e6; } td.fail { background: #fbe3e3; } td.flagged { background: #fff3cd; }
td.pending { background: #eef2f8; color: #555; font-style: italic; }
.status-graded { color: #1a7f37; } .status-error { color: #b35900; }
.status-timeout, .status-memory, .status-killed, .status-invalid { color: #c62828; font-weight: bold; }
.summary span { margin-right: 1.5em; }
#gradebook { max-width: 100%; }
#gradebook td.message { max-width: 24em; overflow-wrap: anywhere; }
#gradebook td.message details summary { cursor: pointer; }
#gradebook th.item { white-space: normal; max-width: 8em; overflow-wrap: anywhere; }
td.num { white-space: nowrap; }
"""

#: Messages longer than this (characters) show their start, the rest behind a details/expand.
SHORT_MESSAGE = 60


def _message_cell(message: str) -> str:
    """The gradebook's message cell: short messages as they are, long ones folded (the table fits the page)."""
    esc = html.escape
    if len(message) <= SHORT_MESSAGE:
        return f'<td class="message" data-value="{esc(message)}">{esc(message)}</td>'
    return (f'<td class="message" data-value="{esc(message)}"><details><summary>{esc(message[:SHORT_MESSAGE])}…'
            f'</summary>{esc(message)}</details></td>')

_PAGE_JS = """
(function () {
  var table = document.getElementById("gradebook");
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortBy(key, descending) {
    var column = headers.findIndex(function (h) { return h.dataset.key === key; });
    if (column < 0) return;
    var numeric = headers[column].dataset.type === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      if (order === 0) order = a.dataset.student.localeCompare(b.dataset.student);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    headers[column].setAttribute("aria-sort", descending ? "descending" : "ascending");
    table.dataset.sorted = key + ":" + (descending ? "desc" : "asc");
  }
  headers.forEach(function (h) {
    h.addEventListener("click", function () {
      sortBy(h.dataset.key, h.getAttribute("aria-sort") === "ascending");
    });
  });
  var match = /sort=(-?)([^&]+)/.exec(window.location.hash);
  if (match) sortBy(decodeURIComponent(match[2]), match[1] === "-");
})();
"""


def write_html(results: Iterable[dict[str, Any]], rubric: Rubric, path: Path, *,
               feedback_dir: str = "feedback", executed_dir: str = "executed", data: str = "") -> Path:
    """Write the sortable ``gradebook.html`` (see the module docstring)."""
    results = sorted(results, key=lambda r: r["student"])
    esc = html.escape
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    totals = [r.get("total", 0.0) for r in results]
    mean = sum(totals) / len(totals) if totals else 0.0
    head = ['<th data-key="student" data-type="text">student</th>',
            '<th data-key="status" data-type="text">status</th>']
    head += [f'<th class="item" data-key="{esc(item.id)}" data-type="num" title="{esc(item.title)}">{esc(item.id).replace("_", "_<wbr>")} '
             f'({_points(item.points)})</th>' for item in rubric.items]
    head += [f'<th data-key="total" data-type="num">total ({_points(rubric.max_points)})</th>',
             '<th data-key="wall_seconds" data-type="num">wall time (s)</th>',
             '<th data-key="message" data-type="text">message</th>',
             '<th data-key="flags" data-type="num" title="suspicious exercise code: read it">flags</th>']
    rows = []
    for result in results:
        student = result["student"]
        by_id = {item["id"]: item for item in result.get("items", [])}
        links = []
        if result.get("feedback"):
            links.append(f'<a href="{esc(quote(result["feedback"]))}">{esc(student)}</a>')
        else:
            links.append(esc(student))
        if result.get("name") or result.get("group"):
            links.append(f' <span class="name">{esc(result.get("name", ""))} {esc(result.get("group", ""))}</span>')
        if result.get("executed_path"):
            links.append(f' <a class="nb" href="{esc(quote(result["executed_path"]))}">ipynb</a>')
        cells = [f'<td data-value="{esc(student)}">{"".join(links)}</td>',
                 f'<td data-value="{esc(result["status"])}" class="status-{esc(result["status"])}" '
                 f'title="{esc(_STATUS_NOTE.get(result["status"], ""))}">{esc(result["status"])}</td>']
        for item in rubric.items:
            got = by_id.get(item.id)
            if got and got.get("pending"):
                cells.append(f'<td class="num pending" data-value="" data-passed="pending" '
                             f'title="{esc(got["message"])}">not graded yet</td>')
                continue
            points = got["points"] if got else 0.0
            verdict = "pass" if got and got["passed"] else "fail"
            message = got["message"] if got else "not scored"
            cells.append(f'<td class="num {verdict}" data-value="{points}" data-passed="{verdict}" '
                         f'title="{esc(message)}">{_points(points)} {"✓" if verdict == "pass" else "✗"}</td>')
        note = provisional_note(result)
        cells += [f'<td class="num{" provisional" if note else ""}" data-value="{result.get("total", 0.0)}"'
                  f'{f" title={chr(34)}{esc(note)}{chr(34)}" if note else ""}>{_points(result.get("total", 0.0))}'
                  f'{" (provisional)" if note else ""}</td>',
                  f'<td class="num" data-value="{result.get("wall_seconds", 0.0)}">'
                  f'{result.get("wall_seconds", 0.0):.1f}</td>',
                  _message_cell(str(result.get("message", "")))]
        flags = result.get("flags", [])
        cells.append(f'<td class="num{" flagged" if flags else ""}" data-value="{len(flags)}" '
                     f'title="{esc(chr(10).join(flags))}">{len(flags) or ""}{" ⚑" if flags else ""}</td>')
        rows.append(f'<tr data-student="{esc(student)}" data-status="{esc(result["status"])}">{"".join(cells)}</tr>')
    summary = "".join(f"<span>{esc(status)}: {count}</span>" for status, count in sorted(counts.items()))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Gradebook — {esc(rubric.title)}</title>
<style>{_PAGE_CSS}</style></head>
<body>
<h1>Gradebook — {esc(rubric.title)}</h1>
<p>{len(results)} submission(s), graded against <code>{esc(rubric.path.name)}</code>
({_points(rubric.max_points)} points); written {datetime.now().astimezone().isoformat(timespec="seconds")}.
Click a column header to sort.</p>
<p class="summary">{summary}<span>mean total: {mean:.2f}</span></p>
<p class="data">Data: {esc(data or "not recorded")}</p>
{statistics_html(results, rubric, path.parent)}
{'<p id="similarity-link">Similarity between submissions: <a href="similarity.html">similarity.html</a> '
 '(labkit similarity)</p>' if (path.parent / "similarity.html").is_file() else
 '<p id="similarity-link">Similarity: run <code>labkit similarity LAB SUBMISSIONS_DIR --out</code> this folder.</p>'}
<table id="gradebook" data-sorted="">
<thead><tr>{"".join(head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<script>{_PAGE_JS}</script>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def statistics(results: list[Any], rubric: Rubric) -> dict[str, Any]:
    """Totals' mean and median, each item's points (one per student), mean, median and pass rate, the status
    counts, the items most students missed (missing students left out of the numbers, counted in the statuses;
    manual items not graded yet left out of their item's numbers)."""
    import statistics as stats

    scored = [r for r in results if r["status"] not in ("missing",)]
    totals = [float(r.get("total", 0.0)) for r in scored]
    items = []
    for item in rubric.items:
        got = [next((i for i in r.get("items", []) if i["id"] == item.id), None) for r in scored]
        got = [g for g in got if not (g and g.get("pending"))]  # not graded yet: left out of the item's numbers
        points = [float(g["points"]) if g else 0.0 for g in got]
        passed = [bool(g and g["passed"]) for g in got]
        items.append({"id": item.id, "title": item.title, "max": item.points, "points": points,
                      "mean": stats.fmean(points) if points else 0.0,
                      "median": stats.median(points) if points else 0.0,
                      "pass_rate": sum(passed) / len(passed) if passed else 0.0})
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"totals": totals, "mean": stats.fmean(totals) if totals else 0.0,
            "median": stats.median(totals) if totals else 0.0, "items": items, "counts": counts,
            "hardest": sorted((i for i in items if i["points"]), key=lambda i: i["pass_rate"])[:3]}


def _histogram(axes: Any, values: list[float], maximum: float, mean: float, median: float, title: str,
               bins: int, title_size: float = 9) -> None:
    """One histogram of points on ``axes``: ``bins`` bins over [0, maximum], the mean and median marked."""
    from matplotlib.ticker import MaxNLocator

    axes.hist(values, bins=bins, range=(0, maximum or 1), color="#4c72b0", edgecolor="white")
    axes.axvline(mean, color="#c44e52", label=f"mean {mean:.2f}")
    axes.axvline(median, color="#55a868", linestyle="--", label=f"median {median:.2f}")
    axes.set_title(title, fontsize=title_size)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # students are counted in whole numbers
    axes.legend(fontsize=7)


def statistics_figure(summary: dict[str, Any], rubric: Rubric, path: Path) -> Path:
    """``statistics.png``: the histogram of totals, each item's mean points (share of its maximum), and the
    histogram of every item's points (mean and median marked), four items a row."""
    import math

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    items = summary["items"]
    columns = min(4, max(1, len(items)))
    rows = math.ceil(len(items) / columns)
    figure = Figure(figsize=(10, 3.6 + 2.4 * rows), dpi=110, layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[3.6, 2.4 * rows]) if rows else (figure, None)
    left, right = top.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    _histogram(left, summary["totals"], rubric.max_points, summary["mean"], summary["median"],
               f"Totals (out of {rubric.max_points:g})", max(5, min(20, int(rubric.max_points) + 1)), title_size=12)
    left.set(xlabel="points", ylabel="students")
    names = [i["id"] for i in items]
    shares = [i["mean"] / i["max"] if i["max"] else 0.0 for i in items]
    right.barh(names[::-1], shares[::-1], color="#8172b2")
    right.set(title="Mean points per item (share of its maximum)", xlim=(0, 1))
    if bottom is not None:
        grid = bottom.subplots(rows, columns, squeeze=False)
        for axes, item in zip(grid.flat, items):
            _histogram(axes, item["points"], item["max"], item["mean"], item["median"],
                       f"{item['id']} (of {item['max']:g})", max(2, min(10, int(item["max"]) + 1)))
        for axes in list(grid.flat)[len(items):]:
            axes.set_visible(False)
        bottom.supylabel("students", fontsize=9)
    figure.savefig(path)
    return path


def statistics_html(results: Iterable[dict[str, Any]], rubric: Rubric, out_dir: Path) -> str:
    """The statistics section of the gradebook page (and ``statistics.png`` beside it, to paste elsewhere)."""
    import base64

    results = list(results)
    if not results:
        return ""
    summary = statistics(results, rubric)
    figure = statistics_figure(summary, rubric, out_dir / "statistics.png")
    image = base64.b64encode(figure.read_bytes()).decode()
    esc = html.escape
    rows = "".join(f"<tr data-item=\"{esc(i['id'])}\"><td>{esc(i['id'])}</td><td>{esc(i['title'])}</td>"
                   f"<td class=\"num mean\">{i['mean']:.2f} / {_points(i['max'])}</td>"
                   f"<td class=\"num median\">{_points(i['median'])}</td>"
                   f"<td class=\"num\">{i['pass_rate']:.0%}</td></tr>" for i in summary["items"])
    hardest = ", ".join(f"{esc(i['id'])} ({i['pass_rate']:.0%} earned it)" for i in summary["hardest"])
    counts = ", ".join(f"{esc(k)} {v}" for k, v in sorted(summary["counts"].items()))
    return (f'<section id="statistics"><h2>Statistics</h2>'
            f'<p>Totals: mean <span id="stat-mean">{summary["mean"]:.2f}</span>, median '
            f'<span id="stat-median">{summary["median"]:.2f}</span> (of {_points(rubric.max_points)}); statuses: '
            f'{counts}. Missed most: {hardest}.</p>'
            f'<img id="statistics-figure" alt="histograms of the totals and of each item\'s points, mean points per item" '
            f'src="data:image/png;base64,{image}" style="max-width: 100%">'
            f'<table class="stats"><thead><tr><th>item</th><th>title</th><th>mean</th><th>median</th><th>earned by</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section>')


# --------------------------------------------------------------------------- feedback


def _summary_cell(result: dict[str, Any]) -> Any:
    esc = html.escape
    rows = "".join(
        f"<tr class=\"pending\"><td>{esc(item['title'])}</td><td>— / {_points(item['max_points'])}</td>"
        f"<td></td><td>not graded yet — {esc(item['message'])}</td></tr>" if item.get("pending") else
        f"<tr class=\"{'pass' if item['passed'] else 'fail'}\"><td>{esc(item['title'])}</td>"
        f"<td>{_points(item['points'])} / {_points(item['max_points'])}</td>"
        f"<td>{'✓' if item['passed'] else '✗'}</td><td>{esc(item['message'])}</td></tr>"
        for item in result.get("items", []))
    provisional = provisional_note(result)
    status = result["status"]
    note = _STATUS_NOTE.get(status, "")
    message = f"<p><strong>{esc(result.get('message', ''))}</strong></p>" if result.get("message") else ""
    if result.get("data"):
        message += f"<p>Data: {esc(result['data'])}</p>"
    for note in result.get("notes", []):
        message += f"<p>Note: {esc(note)}</p>"
    if result.get("flags"):
        message += ("<p><strong>Flagged for the instructor</strong> (code that could interfere with grading):</p><ul>"
                    + "".join(f"<li>{esc(flag)}</li>" for flag in result["flags"]) + "</ul>")
    link = ('<p><a href="#labkit-grade-failure">Go to the cell that failed</a></p>'
            if result.get("failure") else "")
    source = (f'<div class="labkit-grade labkit-nomath" id="labkit-grade">'
              f"<h2>Grade: {_points(result.get('total', 0.0))} / {_points(result.get('max_total', 0.0))}"
              f"{' (provisional)' if provisional else ''}</h2>"
              f"{f'<p>{esc(provisional.capitalize())}.</p>' if provisional else ''}"
              f"<p>Status: <strong>{esc(status)}</strong> — {esc(note)}</p>{message}{link}"
              f"<table><thead><tr><th>Item</th><th>Points</th><th></th><th>Result</th></tr></thead>"
              f"<tbody>{rows}</tbody></table></div>")
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = ["labkit-grade"]
    return cell


def _failure_marker(failure: CellFailure) -> Any:
    text = html.escape(f"This cell stopped the notebook: {failure.ename}: {failure.evalue}")
    cell = nbformat.v4.new_markdown_cell(
        f'<div class="labkit-error-anchor labkit-nomath" id="labkit-grade-failure">{text}</div>')
    cell.metadata["tags"] = ["labkit-grade"]
    return cell


#: What a feedback page shows of a notebook at most: outputs per cell, outputs, characters per text output, bytes.
MAX_CELL_OUTPUTS, MAX_OUTPUTS, MAX_TEXT, MAX_SHOWN_BYTES = 100, 2000, 100_000, 32 << 20
#: No script runs in a feedback page (a student's <script> or event handler included), nothing loads from elsewhere;
#: :func:`feedback_csp` then allows the report template's own head scripts (MathJax) by their sha256 hashes.
FEEDBACK_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                "script-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'")


def bounded(nb: Any) -> Any:
    """``nb`` (changed in place) with at most :data:`MAX_CELL_OUTPUTS` outputs a cell, :data:`MAX_OUTPUTS`
    in all, text outputs cut at :data:`MAX_TEXT` characters and images dropped past :data:`MAX_SHOWN_BYTES`,
    each cut said in a note: rendering stays quick whatever the notebook printed."""
    total = size = 0
    note = {"output_type": "stream", "name": "stderr", "text": ""}
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for position, output in enumerate(cell.get("outputs", [])):
            if position >= MAX_CELL_OUTPUTS or total >= MAX_OUTPUTS:
                left = len(cell.outputs) - position
                kept.append(nbformat.from_dict({**note, "text": f"[labkit grade: {left} more output(s) not shown]\n"}))
                break
            total += 1
            text = output.get("text")
            if isinstance(text, list):
                text = output["text"] = "".join(text)
            if isinstance(text, str) and len(text) > MAX_TEXT:
                output["text"] = text[:MAX_TEXT] + f"\n[labkit grade: {len(text) - MAX_TEXT} more characters not shown]\n"
            data = output.get("data", {})
            weight = sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values()) + len(output.get("text") or "")
            if size + weight > MAX_SHOWN_BYTES:
                kept.append(nbformat.from_dict({**note, "text": "[labkit grade: output not shown: the page is full]\n"}))
                continue
            size += weight
            kept.append(output)
        cell.outputs = kept
    return nb


def _head_script_hashes(page: str) -> list[str]:
    """CSP sources (``'sha256-…'``) of the inline scripts in the page's ``<head>``: labkit's report template's own
    (MathJax's configuration, MathJax itself, the print-layout script). The notebook's cells render in the body,
    so no student's script is among them; hashed as the browser does, over the UTF-8 text, newlines normalised."""
    end = re.search(r"</head\s*>", page, re.I)
    head = page[:end.start()] if end else ""
    sources = []
    for match in re.finditer(r"<script\b([^>]*)>(.*?)</script\s*>", head, re.I | re.S):
        if re.search(r"\bsrc\s*=", match.group(1), re.I):
            continue  # an external script: not allowed by hash (and nothing loads from elsewhere)
        source = script_hash_source(match.group(2))
        if source not in sources:
            sources.append(source)
    return sources


def feedback_csp(page: str) -> str:
    """:data:`FEEDBACK_CSP` for ``page``, with ``script-src`` allowing exactly the report template's head scripts
    by hash (MathJax typesets the page's math); every other script — a student's ``<script>`` in an output, an
    event handler, a ``javascript:`` link — stays blocked."""
    hashes = _head_script_hashes(page)
    return FEEDBACK_CSP.replace("script-src 'none'", "script-src " + " ".join(hashes)) if hashes else FEEDBACK_CSP


def _with_csp(page: str) -> str:
    meta = f'<meta http-equiv="Content-Security-Policy" content="{feedback_csp(page)}">'
    match = re.search(r"<head[^>]*>", page, re.I)
    return page[:match.end()] + meta + page[match.end():] if match else meta + page


def feedback_html(result: dict[str, Any], nb: Any | None, *, lang: str | None = None) -> str:
    """The feedback page of one submission: grade and item messages on top of its notebook.

    Only the cells of ``lang`` (default: the run's, ``result["lang"]``) are shown: cells tagged for the
    other language are left out (:func:`labkit.report.document.filter_language`).

    Bounded (:func:`bounded`) and free of the student's scripts (:func:`feedback_csp`, a
    Content-Security-Policy as the page's first element: what the student's
    outputs hold is shown, never run); the math is typeset by the inlined MathJax, allowed by hash.
    """
    from labkit.report.document import filter_language
    from labkit.report.pipeline import to_html

    lang = lang or str(result.get("lang") or "en")
    shown = bounded(copy.deepcopy(nb)) if nb is not None else nbformat.v4.new_notebook()
    failure = result.get("failure")
    if isinstance(failure, dict):  # a result given as a plain dict
        failure = CellFailure.from_dict(failure)
    if failure is not None and nb is not None:  # the marker goes just before the student's failed cell
        position = CellMap.skipping_injected(shown.cells).run_index(failure.cell_index)
        shown.cells.insert(position, _failure_marker(failure))
    shown.cells.insert(0, _summary_cell(result))
    shown.cells = filter_language(shown.cells, lang)  # the run's language only (cells tagged lang-en / lang-zh)
    with tempfile.TemporaryDirectory(prefix="labkit-feedback-") as folder:
        page = Path(folder) / "feedback.html"
        to_html(shown, page, lang=lang)
        return _with_csp(page.read_text(encoding="utf-8"))
