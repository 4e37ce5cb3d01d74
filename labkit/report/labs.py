"""Where the lab notebooks are, and which labs exist."""
from __future__ import annotations

import os
from pathlib import Path


class UnknownLab(ValueError):
    """A lab name that has no notebook."""


def notebooks_dir() -> Path:
    """The folder of the lab notebooks: ``LABKIT_NOTEBOOKS``, else the repository's ``notebooks/``."""
    env = os.environ.get("LABKIT_NOTEBOOKS")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2] / "notebooks"


def lab_names() -> list[str]:
    """The labs, one per ``notebooks/<lab>.ipynb``, sorted."""
    folder = notebooks_dir()
    return sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []


def resolve_notebook(lab_or_path: str) -> tuple[str, Path]:
    """``(name, path)`` for a lab name or a path to any ``.ipynb``.

    Raises :class:`UnknownLab` listing the labs when neither matches.
    """
    try:
        lab_or_path.encode("utf-8")
    except UnicodeEncodeError:
        shown = lab_or_path.encode("utf-8", "surrogateescape")
        raise UnknownLab(f"the path {shown!r} is not valid UTF-8: rename the file (letters, digits, Chinese are "
                         "fine)") from None
    if lab_or_path.endswith(".ipynb") or os.sep in lab_or_path or "/" in lab_or_path:
        path = Path(lab_or_path).expanduser().resolve()
        if path.is_dir():
            raise UnknownLab(f"{lab_or_path!r} is a folder; give the path to a .ipynb file")
        if not path.is_file():
            raise UnknownLab(f"notebook {lab_or_path!r} does not exist")
        if path.suffix != ".ipynb":
            raise UnknownLab(f"{lab_or_path!r} is not a notebook (.ipynb)")
        return path.stem, path
    labs = lab_names()
    if lab_or_path not in labs:
        raise UnknownLab(f"unknown lab {lab_or_path!r}; the labs are: {', '.join(labs) or '(none found in ' + str(notebooks_dir()) + ')'}"
                         " — or give the path to a .ipynb file")
    return lab_or_path, notebooks_dir() / f"{lab_or_path}.ipynb"
