"""The notebook edits of the report pipeline: before it runs, and before it is rendered.

Before running (:func:`load_notebook`, :func:`run_copy`): read the file
(a one-line :class:`BadNotebook` when it is not a notebook), drop what must
not run or show (``hidden-check`` cells, error cells and parameters left by
an earlier papermill or labkit run), clear old outputs, and inject the
parameter overrides after the ``parameters`` cell as readable Python
(``label = '早上好'``, not ``"\\u65e9..."``), keeping a
:class:`~labkit.report.cells.CellMap` so failures name the student's cell.

Before rendering (:func:`for_render`): strip the ``### BEGIN/END SOLUTION``
marker lines, replace widget outputs by HTML drawn from the run's saved
widget state (a ``tqdm.auto`` bar shows its final text) or their text
fallback, and embed every ``attachment:`` reference of a markdown cell
(``![](attachment:x.png)``, ``<img src="attachment:x.png">``, reference links)
as a data URI. :func:`stub_dialogs` makes ``alert``/``confirm``/``prompt``
harmless in the HTML that Chromium prints.
"""
from __future__ import annotations

import copy
import html as html_lib
import json
import re
from pathlib import Path
from typing import Any

import nbformat

from labkit.plumbing import short_error
from labkit.report.cells import INJECTED_TAG, CellMap

HIDDEN_TAG = "hidden-check"  # labkit.grade.hidden.HIDDEN_TAG (not imported: the report needs no grader)
PARAMETERS_TAG = "parameters"
#: Cells a previous papermill or labkit run added: never part of the student's own notebook.
STALE_TAGS = frozenset({"papermill-error-cell-tag", INJECTED_TAG, "labkit-error", "labkit-provenance"})

_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: Hard limit on the size of a notebook file labkit reads.
MAX_NOTEBOOK_BYTES = 512 * 1024 * 1024


class BadNotebook(ValueError):
    """The file is not a Jupyter notebook labkit can run (the message says why, in one line)."""


def load_notebook(path: Path) -> Any:
    """The notebook at ``path`` (nbformat 4), or :class:`BadNotebook` saying why it is not one."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise BadNotebook(f"{path.name} is empty, not a notebook")
        if size > MAX_NOTEBOOK_BYTES:
            raise BadNotebook(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BadNotebook(f"{path.name} is not a notebook (not UTF-8 text)") from None
    except OSError as exc:
        raise BadNotebook(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds for non-notebooks
        raise BadNotebook(f"{path.name} is not a Jupyter notebook ({short_error(exc)})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c for c in cells):
        raise BadNotebook(f"{path.name} is not a Jupyter notebook (it has no list of cells)")
    for cell in cells:
        cell.setdefault("metadata", {})
        if not isinstance(cell.get("source", ""), str):
            cell["source"] = "".join(cell.get("source") or [])
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return nb


def _tags(cell: Any) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def parameters_source(overrides: dict[str, Any]) -> str:
    """The injected cell's source: one ``name = value`` line per override, as Python literals.

    ``repr`` keeps non-ASCII text as it is (``'早上好'``); the values are
    the parsed, validated overrides (numbers, strings, bools, None, lists,
    dicts), whose ``repr`` is valid Python.
    """
    lines = ["# Parameters (injected by labkit report)"]
    lines += [f"{name} = {value!r}" for name, value in overrides.items()]
    return "\n".join(lines) + "\n"


def run_copy(nb: Any, overrides: dict[str, Any]) -> tuple[Any, CellMap]:
    """The copy of ``nb`` that runs, and the map of its cells to ``nb``'s.

    Dropped: ``hidden-check`` cells and :data:`STALE_TAGS` cells. Code cells
    lose their old outputs. With ``overrides``, a cell tagged
    ``injected-parameters`` follows the first ``parameters`` cell (at the top
    when there is none, as papermill does).
    """
    run = copy.deepcopy(nb)
    run.cells = []
    cells = CellMap()
    injected = None
    if overrides:
        injected = nbformat.v4.new_code_cell(parameters_source(overrides))
        injected.metadata["tags"] = [INJECTED_TAG]
    has_parameters = any(PARAMETERS_TAG in _tags(c) for c in nb.cells)
    if injected is not None and not has_parameters:
        run.cells.append(injected)
        cells.added()
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if HIDDEN_TAG in tags or STALE_TAGS.intersection(tags):
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
            cell.metadata.pop("papermill", None)
        run.cells.append(cell)
        cells.keep(index)
        if injected is not None and PARAMETERS_TAG in tags:
            run.cells.append(injected)
            cells.added()
            injected = None
    run.metadata.pop("widgets", None)
    return run, cells


# --------------------------------------------------------------------------- before rendering

def strip_solution_markers(source: str) -> str:
    """``source`` without its ``### BEGIN SOLUTION[: hint]`` and ``### END SOLUTION`` lines."""
    kept = [line for line in source.splitlines(keepends=True)
            if not (line.strip().startswith(_BEGIN) or line.strip() == _END)]
    return "".join(kept)


def _widget_html(model_id: str, state: dict[str, Any], depth: int = 0) -> str | None:
    """HTML drawn from a widget's saved state, or None when the model is not saved."""
    model = state.get(model_id)
    if model is None or depth > 20:
        return None
    name, values = model.get("model_name", ""), model.get("state", {})
    children = [c[len("IPY_MODEL_"):] for c in values.get("children", []) if isinstance(c, str)
                and c.startswith("IPY_MODEL_")]
    if children:
        direction = "column" if name.startswith("VBox") else "row"
        inner = "".join(_widget_html(c, state, depth + 1) or "" for c in children)
        return f'<div class="labkit-widget" style="display:flex;flex-direction:{direction};gap:0.5em;' \
               f'align-items:center">{inner}</div>'
    description = html_lib.escape(str(values.get("description", "")))
    label = f"<span>{description}</span> " if description else ""
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{label}{values.get('value', '')}</span>"
    if "Progress" in name:
        low, high = float(values.get("min", 0) or 0), float(values.get("max", 100) or 100)
        value = float(values.get("value", 0) or 0)
        share = 0.0 if high <= low else max(0.0, min(1.0, (value - low) / (high - low)))
        colour = {"danger": "#d9534f", "success": "#5cb85c"}.get(values.get("bar_style", ""), "#337ab7")
        return (f'<span>{label}<span style="display:inline-block;width:12em;height:0.9em;border:1px solid #999;'
                f'vertical-align:middle"><span style="display:block;height:100%;width:{share * 100:.1f}%;'
                f'background:{colour}"></span></span></span>')
    if name == "OutputModel":
        texts = [o.get("text", "") for o in values.get("outputs", []) if o.get("output_type") == "stream"]
        return f"<pre>{html_lib.escape(''.join(texts))}</pre>" if texts else ""
    if "value" in values:
        return f"<span>{label}{html_lib.escape(str(values['value']))}</span>"
    return label or None


def _render_widgets(nb: Any) -> None:
    state = ((nb.metadata.get("widgets") or {}).get(WIDGET_STATE) or {}).get("state") or {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data")
            if not data or WIDGET_VIEW not in data:
                continue
            view = data.pop(WIDGET_VIEW)
            model_id = view.get("model_id", "") if isinstance(view, dict) else ""
            drawn = _widget_html(model_id, state)
            if drawn is not None and "text/html" not in data:
                data["text/html"] = drawn
            elif "text/plain" not in data and "text/html" not in data:
                data["text/plain"] = "[widget]"


_ATTACHMENT = re.compile(r"attachment:([^\s\"')>\]]+)")


def _embed_attachments(cell: Any) -> None:
    attachments = cell.get("attachments") or {}
    if not attachments:
        return

    def data_uri(match: re.Match) -> str:
        name = match.group(1)
        bundle = attachments.get(name) or attachments.get(_unquote(name))
        if not bundle:
            return match.group(0)
        mime, payload = next(iter(bundle.items()))
        if isinstance(payload, list):
            payload = "".join(payload)
        if mime == "image/svg+xml":
            import base64
            payload = base64.b64encode(payload.encode("utf-8")).decode("ascii")
        return f"data:{mime};base64,{str(payload).strip()}"

    cell.source = _ATTACHMENT.sub(data_uri, cell.source)
    cell.pop("attachments", None)


def _unquote(name: str) -> str:
    from urllib.parse import unquote

    return unquote(name)


def for_render(nb: Any) -> Any:
    """Edit the executed ``nb`` in place for the HTML/PDF (and the executed ``.ipynb``); returns it."""
    _render_widgets(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and (_BEGIN in cell.source or _END in cell.source):
            cell.source = strip_solution_markers(cell.source)
        elif cell.cell_type in ("markdown", "raw"):
            _embed_attachments(cell)
    return nb


_DIALOG_STUB = ('<script>/* labkit: dialogs would stop the PDF printer */'
                'window.alert=function(){};window.confirm=function(){return true};'
                'window.prompt=function(){return null};window.print=function(){};'
                'window.onbeforeunload=null;</script>')


def stub_dialogs(page: str) -> str:
    """``page`` with ``alert``/``confirm``/``prompt``/``print`` replaced before any other script runs."""
    match = re.search(r"<head[^>]*>", page, flags=re.IGNORECASE)
    if match is None:
        return _DIALOG_STUB + page
    return page[:match.end()] + _DIALOG_STUB + page[match.end():]


def dumps(value: Any) -> str:
    """Strict JSON (no ``NaN``/``Infinity``: they become null), non-ASCII kept."""
    return json.dumps(_finite(value), ensure_ascii=False, indent=2, allow_nan=False)


def _finite(value: Any) -> Any:
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
