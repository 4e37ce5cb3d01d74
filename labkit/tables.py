"""Tables that look right in the notebook, the HTML report and the PDF."""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from labkit.i18n import t

_COLUMN_KEYS = {
    "setting": "table.setting", "model": "table.model", "epoch": "table.epoch",
    "train_loss": "table.train_loss", "test_loss": "table.test_loss",
    "train_acc": "table.train_acc", "test_acc": "table.test_acc",
    "seconds": "table.seconds", "rank": "table.rank",
}


def localize(df: pd.DataFrame) -> pd.DataFrame:
    """Column and index names translated into the report language where the kit knows them."""
    rename = {c: t(_COLUMN_KEYS[c]) for c in df.columns if c in _COLUMN_KEYS}
    out = df.rename(columns=rename)
    if out.index.name in _COLUMN_KEYS:
        out.index.name = t(_COLUMN_KEYS[out.index.name])
    return out


def show_table(df: pd.DataFrame, caption: str | None = None, digits: int = 4,
               highlight_max: Iterable[str] = (), highlight_min: Iterable[str] = ()) -> pd.DataFrame:
    """Display ``df`` with a caption, numbers rounded to ``digits`` significant digits.

    Columns named in ``highlight_max`` / ``highlight_min`` have their best value
    in bold. Returns ``df`` unchanged (display is a side effect).
    """
    named_index = df.index.name is not None
    shown = localize(df.reset_index() if named_index else df)
    styler = shown.style.format(lambda v: f"{v:.{digits}g}" if isinstance(v, float) else v)
    if named_index:
        styler = styler.hide(axis="index")
    styled_cols = {c: t(_COLUMN_KEYS.get(c, c)) if c in _COLUMN_KEYS else c for c in df.columns}
    for col in highlight_max:
        styler = styler.highlight_max(subset=[styled_cols[col]], props="font-weight: bold")
    for col in highlight_min:
        styler = styler.highlight_min(subset=[styled_cols[col]], props="font-weight: bold")
    if caption:
        styler = styler.set_caption(caption)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(HTML(styler.to_html(table_attributes='class="labkit-table"')))
    else:  # a plain script: print the table
        print(f"{caption}\n" if caption else "", shown.to_string(index=not named_index), sep="")
    return df
