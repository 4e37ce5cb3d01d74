"""Tables that look right in the notebook, the HTML report and the PDF."""
from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np
import pandas as pd

from labkit.i18n import label, setting_label, t
from labkit.records import format_distinct, format_number

#: The column that marks the degenerate runs of a table: True for a run that diverged (a sweep's table,
#: :meth:`labkit.Sweep.table`, :func:`labkit.sweeps.rank`; the rule: :meth:`labkit.train.History.diverged`),
#: or the key of another reason, ``"collapsed"`` (mode collapse: :func:`labkit.image_scores.rank_scores`).
#: :func:`show_table` prints it as a visible "diverged / 发散" or "mode collapse / 模式崩溃" under "note /
#: 备注" (nothing for the runs that trained normally) and never highlights a marked run's value as the best.
DIVERGED = "diverged"
#: The reasons a :data:`DIVERGED` cell may name besides True (each an i18n key ``table.<reason>``).
REASONS = ("diverged", "collapsed")


def diverged_rows(df: pd.DataFrame) -> pd.Series:
    """The rows of ``df`` marked in its :data:`DIVERGED` column, for any reason (a bool Series on its
    index; all False without the column)."""
    if DIVERGED not in df.columns:
        return pd.Series(False, index=df.index)
    return df[DIVERGED].map(lambda flag: bool(flag) if isinstance(flag, str) or not pd.isna(flag) else False)


def marker_text(flag: object) -> str:
    """A :data:`DIVERGED` cell as printed: ``True`` -> "diverged" / "发散", ``"collapsed"`` -> "mode collapse" /
    "模式崩溃", nothing for a run that trained normally. Raises ValueError for an unknown reason."""
    if isinstance(flag, str):
        if flag and flag not in REASONS:
            raise ValueError(f"{DIVERGED!r} column: unknown reason {flag!r}; use True or one of {', '.join(REASONS)}")
        return t(f"table.{flag}") if flag else ""
    return t("table.diverged") if flag is not None and not pd.isna(flag) and bool(flag) else ""


def _with_marker(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its :data:`DIVERGED` column as printed text (:func:`marker_text`) under "note" / "备注"."""
    if DIVERGED not in df.columns:
        return df
    marked = df.copy()
    marked[DIVERGED] = [marker_text(flag) for flag in df[DIVERGED]]
    return marked.rename(columns={DIVERGED: t("table.note")})


def cell_text(value: object, digits: int = 4) -> str:
    """A table cell as printed: a boolean as the report language's yes/no (``True`` -> "yes" / "是",
    :func:`labkit.i18n.t` keys ``table.yes`` / ``table.no``; NumPy booleans too), a number with
    ``digits`` significant digits (:func:`labkit.records.format_number`: never ``-0``), anything else
    as ``str``."""
    if isinstance(value, (bool, np.bool_)):
        return t("table.yes") if value else t("table.no")
    return format_number(value, digits)


def _decimals(value: float, digits: int) -> int:
    """The decimals ``value`` needs to show ``digits`` significant digits, its trailing zeros dropped."""
    if value == 0:
        return 0
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{places}f}"
    return len(text.partition(".")[2].rstrip("0"))


def _is_float(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, bool, np.bool_))


def column_texts(values: Iterable[object], digits: int = 4, most: int = 6) -> list[str]:
    """A table column's cells as printed: its numbers with ONE number of decimals, so that a column reads
    alike (a column of 4 significant digits each printed 0.288 beside 0.5227): the most any of its values
    needs for ``digits`` significant digits (at most ``most``), raised by
    :func:`labkit.records.format_distinct` until values that differ print differently and no non-zero
    value prints as 0 (a column whose values lie too many orders of magnitude apart for that, a check's
    1e-7 beside 0.3, prints ``digits`` significant digits each instead). Integers stay whole; booleans
    and other cells as :func:`cell_text`; NaN as ``nan``.
    Returns one string per value, in order."""
    values = list(values)
    numeric = [float(v) for v in values if _is_float(v)]
    finite = [v for v in numeric if math.isfinite(v)]
    if not finite:
        return [cell_text(v, digits) for v in values]
    places = min(most, max(_decimals(v, digits) for v in finite))
    shown = format_distinct(numeric, decimals=places, most=max(places, most))
    if any(v != 0 and math.isfinite(v) and float(text) == 0 for v, text in zip(numeric, shown)):
        # orders of magnitude apart (1e-7 beside 0.3): significant digits each
        shown = [format_number(v, digits) for v in numeric]
    numbers_shown = iter(shown)
    return [next(numbers_shown) if _is_float(v) else cell_text(v, digits) for v in values]


def formatted(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """``df``'s cells as :func:`show_table` prints them (strings; same index and column names, not
    translated), each column by :func:`column_texts`. A sentence that quotes a table's value takes it
    from here, so that the text and the table beside it round alike: ``formatted(df).loc[row, "bleu"]``."""
    return pd.DataFrame({column: column_texts(df[column].tolist(), digits) for column in df.columns},
                        index=df.index, columns=df.columns)


def localize(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the names the kit knows in the report's language (:func:`labkit.i18n.label`):
    column names, the index name, and index values that are metric names or setting labels
    (``lr=0.01`` -> ``学习率=0.01``). Unknown names (a notebook's own ``tr(...)`` text) stay as they are."""
    out = _with_marker(df).rename(columns=label, index=setting_label)
    out.index = out.index.set_names([label(name) for name in out.index.names])
    return out


def _key(value: object) -> object:
    """A cell as a dictionary key (NaN is not equal to itself)."""
    return "nan" if _is_float(value) and math.isnan(float(value)) else value


def styled(df: pd.DataFrame, caption: str | None = None, digits: int = 4,
           highlight_max: Iterable[str] = (), highlight_min: Iterable[str] = ()):
    """The pandas ``Styler`` :func:`show_table` displays: localized names, each numeric column with one
    number of decimals, enough for ``digits`` significant digits (:func:`column_texts`: never ``-0``), booleans as yes/no in the report's
    language (:func:`cell_text`: 是/否 in Chinese), columns of text left-aligned, the best value of each
    ``highlight_max``/``highlight_min`` column in bold (among the runs that trained: a row marked
    :data:`DIVERGED` is never the best; its marker is printed in bold red), the caption.

    Raises KeyError naming a highlight column that ``df`` does not have.
    """
    named_index = df.index.name is not None
    shown = localize(df).reset_index() if named_index else localize(df)
    styler = shown.style
    for column in shown.columns:  # one number of decimals a column (column_texts)
        texts = dict(zip(map(_key, shown[column]), column_texts(shown[column].tolist(), digits)))
        styler = styler.format(lambda v, texts=texts: texts.get(_key(v)) or cell_text(v, digits), subset=[column])
    text = [i for i, c in enumerate(shown.columns) if len(shown) and shown[c].map(lambda v: isinstance(v, str)).all()]
    if text:  # words read from the left (names, translations), under a header aligned with them; numbers stay right
        styler = styler.set_table_styles([{"selector": f"td.col{i}, th.col{i}", "props": "text-align: left"} for i in text],
                                         overwrite=False)
    if named_index:
        styler = styler.hide(axis="index")
    trained = ~diverged_rows(df).to_numpy()
    rows = shown.index[trained]
    for columns, highlight in ((highlight_max, styler.highlight_max), (highlight_min, styler.highlight_min)):
        for col in columns:
            if col not in df.columns:
                raise KeyError(f"cannot highlight column {col!r}: the table has {', '.join(map(str, df.columns))}")
            styler = highlight(subset=(rows, [label(col)]), props="font-weight: bold")
    if not trained.all():
        marker = label(t("table.note"))
        styler = styler.map(lambda v: "font-weight: bold; color: #b00020" if v else "", subset=[marker])
    if caption:
        styler = styler.set_caption(caption)
    return styler


def show_table(df: pd.DataFrame, caption: str | None = None, digits: int = 4,
               highlight_max: Iterable[str] = (), highlight_min: Iterable[str] = ()) -> None:
    """Display ``df`` with a caption, each numeric column with one number of decimals (:func:`column_texts`;
    a sentence quoting a value takes its text from :func:`formatted`).

    Columns named in ``highlight_max`` / ``highlight_min`` have their best value
    in bold (see :func:`styled`). In a kernel the table is displayed as HTML;
    in a plain script it is printed. Returns None, so a call as a cell's last
    line shows the table once (keep ``df`` for further use).
    """
    styler = styled(df, caption, digits, highlight_max, highlight_min)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(HTML(styler.to_html(table_attributes='class="labkit-table"')))
    else:  # a plain script: print the table, formatted as in the notebook
        shown = localize(df).reset_index() if df.index.name is not None else localize(df)
        text = formatted(shown, digits).to_string(index=df.index.name is None)
        print(f"{caption}\n" if caption else "", text, sep="")


def show_text(markdown: str) -> None:
    """Show prose the notebook wrote from the run's numbers (a summary, a measured finding) as report text.

    ``markdown`` is displayed as Markdown, so it is part of the report's prose: a report printed
    without logs (``labkit report --no-logs``) keeps it, where a ``print`` would be dropped as a log.
    In a plain script it is printed.
    """
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(markdown))
    else:
        print(markdown)
