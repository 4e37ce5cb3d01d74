"""Text progress bars that render the same in JupyterLab, reports and terminals.

``tqdm.auto`` turns into an ipywidgets widget when ipywidgets is installed;
widgets render blank in HTML/PDF reports. labkit always uses the text bar and
writes it to stdout; the report pipeline keeps only each bar's final line.
"""
from __future__ import annotations

import sys

from tqdm.std import tqdm


def progress(total: int, desc: str = "", enabled: bool = True) -> tqdm:
    """A text progress bar over ``total`` steps (disabled when ``enabled`` is False), 92 characters
    wide: the width of a printed report's log box (at 100 its last characters wrapped onto a line of
    their own)."""
    return tqdm(total=total, desc=desc, file=sys.stdout, disable=not enabled,
                ncols=92, mininterval=0.5, leave=True, dynamic_ncols=False)
