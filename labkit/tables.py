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


def styled(df: pd.DataFrame, caption: str | None = None, digits: int = 4,
           highlight_max: Iterable[str] = (), highlight_min: Iterable[str] = ()):
    """The pandas ``Styler`` :func:`show_table` displays: localized names, ``digits`` significant
    digits, the best value of each ``highlight_max``/``highlight_min`` column in bold, the caption.

    Raises KeyError naming a highlight column that ``df`` does not have.
    """
    named_index = df.index.name is not None
    shown = localize(df.reset_index() if named_index else df)
    styler = shown.style.format(lambda v: f"{v:.{digits}g}" if isinstance(v, float) else v)
    if named_index:
        styler = styler.hide(axis="index")
    for columns, highlight in ((highlight_max, styler.highlight_max), (highlight_min, styler.highlight_min)):
        for col in columns:
            if col not in df.columns:
                raise KeyError(f"cannot highlight column {col!r}: the table has {', '.join(map(str, df.columns))}")
            styler = highlight(subset=[t(_COLUMN_KEYS[col]) if col in _COLUMN_KEYS else col],
                               props="font-weight: bold")
    if caption:
        styler = styler.set_caption(caption)
    return styler


def show_table(df: pd.DataFrame, caption: str | None = None, digits: int = 4,
               highlight_max: Iterable[str] = (), highlight_min: Iterable[str] = ()) -> pd.DataFrame:
    """Display ``df`` with a caption, numbers rounded to ``digits`` significant digits.

    Columns named in ``highlight_max`` / ``highlight_min`` have their best value
    in bold (see :func:`styled`). In a kernel the table is displayed as HTML;
    in a plain script it is printed. Returns ``df`` unchanged (display is a side effect).
    """
    styler = styled(df, caption, digits, highlight_max, highlight_min)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(HTML(styler.to_html(table_attributes='class="labkit-table"')))
    else:  # a plain script: print the table
        shown = localize(df.reset_index() if df.index.name is not None else df)
        print(f"{caption}\n" if caption else "", shown.to_string(index=df.index.name is None), sep="")
    return df
