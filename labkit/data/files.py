"""Files on disk: where the data lives, checksums, the IDX format, downloads.

Nothing here ever deletes or rewrites a data file: a file that fails its
checksum raises :class:`ChecksumError` and stays where it is. A download is
written under a temporary name and moved into place only once its checksum
is verified, so a failed one leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import tempfile
import os
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from labkit.plumbing import atomic_path, file_hash, short_error

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
        _DIGESTS[key] = file_hash(path, algorithm)
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


def data_dir_typo() -> str | None:
    """Why not to download into :func:`data_dir`: ``$LABKIT_DATA`` names a folder that does not exist.

    A mistyped path is the likely cause; downloading there would silently
    create it. Returns the message, or None when downloading there is fine
    (the variable is unset, so ``./data`` is created as needed, or the folder exists).
    """
    value = os.environ.get(DATA_ENV)
    if not value or data_dir().is_dir():
        return None
    return (f"{DATA_ENV}={value} is not an existing folder (a typo?), so nothing was downloaded there; "
            f"fix the path, or create the folder to download into it")


@contextlib.contextmanager
def staging_folder(root: Path) -> Iterator[Path]:
    """A temporary folder inside ``root`` for a download, removed afterwards whatever happens.

    ``root`` is created if needed; when the block fails and ``root`` was
    created here and is still empty, it is removed too, so a failed download
    leaves the file system as it was.
    """
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=root, prefix=".labkit-download-") as tmp:
            yield Path(tmp)
    except BaseException:
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        raise


def download(url: str, dest: Path, *, md5: str | None = None, sha256: str | None = None,
             timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``, verified before it appears.

    The body goes to a temporary file beside ``dest``; with ``md5`` or
    ``sha256`` its digest is checked, and only a file that matches is moved
    onto ``dest``. On any failure (network, :class:`ChecksumError`) nothing is
    left behind and ``dest`` is unchanged. Returns ``dest``.
    """
    expected = {name: value.lower() for name, value in (("md5", md5), ("sha256", sha256)) if value}
    with atomic_path(dest) as tmp:
        digests = {name: hashlib.new(name) for name in expected}
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                for digest in digests.values():
                    digest.update(block)
        for name, value in expected.items():
            actual = digests[name].hexdigest()
            if actual != value:
                raise ChecksumError(f"{name} {actual} is not the published {value} ({url}); nothing was kept")
    return dest


def full_or_download(present: Callable[[], bool], fetch: Callable[[], None], missing: str
                     ) -> tuple[str | None, str | None]:
    """Find the full data, or download it: ``("full" | "downloaded", None)``, or ``(None, reason)``.

    ``present()`` says whether the full, verified files are in place;
    ``fetch()`` downloads them (raising on failure, leaving nothing behind);
    ``missing`` says what is missing, for the reason. No download is tried
    when ``LABKIT_OFFLINE=1`` or when ``$LABKIT_DATA`` names a folder that
    does not exist (see :func:`data_dir_typo`); the reason then says so,
    and the caller falls back to the embedded sample.
    """
    if present():
        return "full", None
    if offline():
        return None, f"{missing} and {OFFLINE_ENV}=1, so no download was tried"
    typo = data_dir_typo()
    if typo is not None:
        return None, f"{missing}; {typo}"
    try:
        fetch()
    except Exception as error:  # any failure means: use the sample, and say why
        return None, f"{missing} and the download failed: {short_error(error)}"
    if present():
        return "downloaded", None
    return None, f"{missing} even after a download"

