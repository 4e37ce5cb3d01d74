"""The printed report prints each figure at the size it was drawn: a PNG output gets an HTML width of
its pixel width x 96 / its resolution (matplotlib writes the figure's dpi into the PNG)."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from nbformat.v4 import new_code_cell, new_notebook, new_output  # noqa: E402

from labkit.report import document  # noqa: E402


def _png(width_in: float, dpi: float) -> str:
    fig = plt.figure(figsize=(width_in, 1.0), dpi=dpi)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_png_print_width_is_the_drawn_size():
    assert document.png_print_width(_png(4.6, 110)) == round(4.6 * 96)
    assert document.png_print_width(_png(2.0, 200)) == 192
    assert document.png_print_width("not a png") is None
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (50, 10)).save(buffer, format="PNG")  # no pHYs chunk: left as it is
    assert document.png_print_width(base64.b64encode(buffer.getvalue()).decode()) is None


def test_prepare_sets_the_width_for_html_only_and_keeps_a_given_one():
    drawn = new_output("display_data", data={"image/png": _png(4.6, 110), "text/plain": "<Figure>"})
    given = new_output("display_data", data={"image/png": _png(4.6, 110)}, metadata={"image/png": {"width": 300}})
    nb = new_notebook(cells=[new_code_cell("plot", outputs=[drawn, given])])
    html = document.prepare(nb, lang="en")
    widths = [o.get("metadata", {}).get("image/png", {}).get("width") for o in html.cells[-1].outputs]
    assert widths == [442, 300]
    assert "width" not in (nb.cells[0].outputs[0].get("metadata", {}).get("image/png") or {})  # nb unchanged
    docx = document.prepare(nb, lang="en", target="docx")
    assert "width" not in (docx.cells[-1].outputs[0].get("metadata", {}).get("image/png") or {})
