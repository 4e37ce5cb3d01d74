"""The tables an executed lab notebook displayed (shared by the lab tests)."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path


def html_tables(notebook: Path):
    """The labkit tables an executed notebook displayed: ``(caption, rows)``, rows as lists of cell texts
    (header first)."""
    nb = json.loads(Path(notebook).read_text())
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            html = "".join(output.get("data", {}).get("text/html", []))
            if "labkit-table" in html:
                caption = re.search(r"<caption>(.*?)</caption>", html, re.S)
                rows = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
                        for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)]
                yield (caption.group(1) if caption else ""), rows


def unmarked_collapses(tables, entropy_header: str, note_header: str, marks: tuple[str, ...]) -> list:
    """The rows of every table with an ``entropy_header`` column whose class entropy is below ln 3 (mode
    collapse, labkit.image_scores.COLLAPSE_ENTROPY) but whose ``note_header`` cell is not one of ``marks``;
    also returns how many such tables were seen, as ``(bad_rows, tables_seen)``."""
    bad, seen = [], 0
    for caption, rows in tables:
        if not rows:
            continue
        header = rows[0]
        column = next((i for i, name in enumerate(header) if name.startswith(entropy_header)), None)
        if column is None:
            continue
        seen += 1
        note = header.index(note_header) if note_header in header else None
        for row in rows[1:]:
            try:
                value = float(row[column])
            except ValueError:
                continue
            if math.isfinite(value) and value < math.log(3) and (note is None or row[note] not in marks):
                bad.append((caption, row))
    return bad, seen
