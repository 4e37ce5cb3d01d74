"""Files on disk: where the data lives, checksums, the IDX format, downloads.

Nothing here ever deletes or rewrites a data file: a file that fails its
checksum raises :class:`ChecksumError` and stays where it is.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

#: Environment variables that change where and how data is found.
DATA_ENV = "LABKIT_DATA"
OFFLINE_ENV = "LABKIT_OFFLINE"

_DIGESTS: dict[tuple[str, str, int, int], str] = {}


class ChecksumError(RuntimeError):
    """A data file exists but its content is not the published one."""


class DatasetUnavailable(RuntimeError):
    """Neither the full data, a download, nor the embedded sample could be used."""


def data_dir() -> Path:
    """The folder labkit reads datasets from (and downloads into).

    It is ``$LABKIT_DATA`` when set, else ``./data``, made absolute. The
    layout inside is torchvision's: ``MNIST/raw/``, ``FashionMNIST/raw/``,
    ``cifar-10-batches-bin/`` or ``cifar-10-batches-py/``, plus ``eng-fra/``.
    """
    return Path(os.environ.get(DATA_ENV, "data")).expanduser().resolve()


def offline() -> bool:
    """True when ``LABKIT_OFFLINE`` is set to 1/true/yes: never try a download."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """The hex digest of a file, cached per process by path, size and mtime."""
    stat = path.stat()
    key = (str(path.resolve()), algorithm, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.new(algorithm)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def verify(path: Path, expected: str, algorithm: str = "md5") -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the ``expected`` digest.

    The message names the file, both digests and the fix; the file is left
    untouched.
    """
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} is corrupt or not the published file: expected {algorithm} {expected}, "
            f"got {actual}. Delete or replace it and run again; labkit never deletes data itself."
        )


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file (the MNIST format) into a uint8 array.

    IDX: two zero bytes, a type byte (0x08 = unsigned byte), the number of
    dimensions, then each dimension as a big-endian int32, then the data.
    """
    raw = gzip.decompress(Path(path).read_bytes())
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {dims} but the data has {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims).copy()  # writable


def download(url: str, dest: Path, *, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` (via a temporary file, so no partial file is left)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as tmp:
            try:
                shutil.copyfileobj(response, tmp)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
    os.replace(tmp.name, dest)
    return dest


def short_error(error: BaseException, limit: int = 160) -> str:
    """A one-line summary of an exception (type and message), for messages."""
    text = " ".join(str(error).split())
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
