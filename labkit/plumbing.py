"""Small pieces every wing of labkit uses, said once: atomic file writes, file hashes, one-line errors.

* :func:`atomic_path` / :func:`atomic_write` — a file appears complete or not at all
  (written under a temporary name in the same folder, then moved into place
  with :func:`os.replace`, which is atomic on POSIX and Windows);
* :func:`file_hash` — the hex digest of a file, read in 1 MiB blocks;
* :func:`short_error` — ``"TypeError: message"`` on one line, cut to a length.

Only the standard library: the command-line tool imports this without torch.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

__all__ = ["atomic_path", "atomic_write", "file_hash", "short_error"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    Write the file at the yielded path (any writer that takes a file name:
    ``torch.save``, ``np.savez``, ``nbformat.write``...). When the block
    raises, or the writer wrote nothing, ``path`` is left as it was and the
    temporary file is removed. The parent folder is created; the file gets
    permission bits ``mode`` (``mkstemp`` alone would give 0600). The temporary
    name ends with ``path``'s suffix, for writers that add one (``np.savez``). Concurrent
    writers of one path each use their own temporary name; the last to finish wins.

    >>> with atomic_path("out/table.csv") as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {path}")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, content: bytes | str, *, encoding: str = "utf-8",
                 mode: int = 0o644) -> Path:
    """Write ``content`` (bytes, or text in ``encoding``) to ``path`` atomically; returns ``path``."""
    data = content.encode(encoding) if isinstance(content, str) else content
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def file_hash(path: str | os.PathLike, algorithm: str = "sha256", *, chunk: int = 1 << 20) -> str:
    """The hex digest of the file at ``path`` (``algorithm``: any :func:`hashlib.new` name: sha256, md5...).

    Raises ``OSError`` if the file cannot be read, ``ValueError`` for an unknown algorithm.
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def short_error(error: BaseException, limit: int = 160) -> str:
    """A one-line summary of an exception: ``"Type: message"`` (whitespace folded), at most ``limit`` characters."""
    text = " ".join(str(error).split())
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def script_hash_source(script: str) -> str:
    """The Content-Security-Policy source (``'sha256-…'``) that allows the inline ``<script>`` whose text is
    ``script``, hashed as browsers do: over its UTF-8 text with newlines normalised to ``\n`` (CSP Level 2)."""
    text = script.replace("\r\n", "\n").replace("\r", "\n")
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """PEP 562 ``__getattr__`` and ``__dir__`` for ``package``: each name of ``exports`` (name -> the module that
    defines it) is imported on first use and then kept in the package's namespace. Importing the package
    imports none of them, so the command-line tools, the report's process and the grader start without
    torch (about 2 s). Raises AttributeError for any other name, as a module does.

    >>> __getattr__, __dir__ = lazy_exports(__name__, {"load": "labkit.data.images"})
    """
    import importlib
    import sys

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
