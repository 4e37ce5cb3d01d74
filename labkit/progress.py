"""Text progress bars that render the same in JupyterLab, reports and terminals.

``tqdm.auto`` turns into an ipywidgets widget when ipywidgets is installed;
widgets render blank in HTML/PDF reports. labkit always uses the text bar and
writes it to stdout; the report pipeline keeps only each bar's final line.
"""
from __future__ import annotations

import sys

from tqdm.std import tqdm


#: Characters of a bar line: the width of a printed report's log box (at 100 a bar's last characters
#: wrapped onto a line of their own).
WIDTH = 92
#: Characters of the label in front of a bar; a longer one is cut with "…".
LABEL_WIDTH = 26
#: The percentage, elapsed time and time left, then the fit's summary of the last epoch (no step count
#: and no rate: at 92 characters a sweep run's label, those and the summary did not fit, and tqdm cut
#: the summary off).
BAR_FORMAT = "{l_bar}{bar}| [{elapsed}<{remaining}{postfix}]"


def short_label(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` in at most ``width`` characters: a sweep run's ``"optimizer=sgd, rate=customary"`` that
    is too long by its values alone (``"sgd, customary"``), then cut with a final "…"."""
    if len(text) > width and "=" in text:
        text = ", ".join(part.partition("=")[2] or part for part in text.split(", "))
    return text if len(text) <= width else text[:width - 1].rstrip(" ,=") + "…"


def progress(total: int, desc: str = "", enabled: bool = True) -> tqdm:
    """A text progress bar over ``total`` steps (disabled when ``enabled`` is False), at most
    :data:`WIDTH` characters wide with its label cut to :data:`LABEL_WIDTH`; the bar itself takes the
    room the rest leaves."""
    return tqdm(total=total, desc=short_label(desc), file=sys.stdout, disable=not enabled, bar_format=BAR_FORMAT,
                ncols=WIDTH, mininterval=0.5, leave=True, dynamic_ncols=False)
