"""Where labkit keeps what it computes once and reuses (decoded data, trained score classifiers).

``LABKIT_CACHE`` if set; otherwise ``<LABKIT_DATA>/cache`` when the data
folder is writable; otherwise ``~/.cache/labkit``. (The course's shared data
folder is read-only, so there the cache falls back to the home folder.)
"""
from __future__ import annotations

import os
import stat
from pathlib import Path


def _writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    # os.access says yes to root for any folder; a folder without write permission bits (like the
    # course's shared data) is read-only by intent, so nothing is written into it, even by root.
    return os.access(probe, os.W_OK) and bool(stat.S_IMODE(probe.stat().st_mode) & 0o222)


def cache_dir() -> Path:
    """The cache folder (created on first use)."""
    env = os.environ.get("LABKIT_CACHE")
    if env:
        folder = Path(env).expanduser().resolve()
    else:
        data = Path(os.environ.get("LABKIT_DATA", "data")).expanduser().resolve()
        folder = data / "cache" if _writable(data) else Path.home() / ".cache" / "labkit"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
