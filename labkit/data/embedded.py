"""Reading the embedded samples shipped with labkit (building them: :mod:`labkit.data.samples`).

The loaders (:mod:`labkit.data.images`, :mod:`labkit.data.text`) fall back to
these when the full data is missing; each read checks the sample's content
hash. This module imports neither loader, so there is no import cycle:
``images``/``text`` -> ``embedded`` <- ``samples`` (which builds from the loaders).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from labkit.data.files import ChecksumError, DatasetUnavailable, data_dir

SAMPLE_DIR = Path(__file__).resolve().parent / "samples"

#: (train, test) sizes of each image sample. CIFAR-10 is smaller to keep its file under 8 MB.
IMAGE_SAMPLE_SIZES: dict[str, tuple[int, int]] = {
    "mnist": (5000, 1000),
    "fashion_mnist": (5000, 1000),
    "cifar10": (2000, 800),
}
#: Lines in the eng-fra sample, and the share of them drawn from pairs whose
#: English side starts with one of :data:`labkit.data.text.ENG_PREFIXES`.
TEXT_SAMPLE_LINES = 8000
TEXT_PREFIX_SHARE = 0.5

SAMPLE_NAMES: tuple[str, ...] = (*IMAGE_SAMPLE_SIZES, "eng-fra")
_ARRAYS = ("train_x", "train_y", "test_x", "test_y", "train_index", "test_index")
_CACHE: dict[tuple, tuple] = {}


def sample_path(name: str) -> Path:
    """Where the embedded sample of ``name`` lives inside the installed package."""
    if name == "eng-fra":
        return SAMPLE_DIR / "eng-fra.txt.gz"
    if name not in IMAGE_SAMPLE_SIZES:
        raise ValueError(f"no embedded sample {name!r}; the samples are: {', '.join(SAMPLE_NAMES)}")
    return SAMPLE_DIR / f"{name}.npz"


def rebuild_hint(name: str) -> str:
    return f"reinstall labkit, or rebuild it with: python -m labkit.data.samples build {name} --from DIR"


def _missing_sample(name: str, path: Path) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{name}: the full data is not in {data_dir()} (set LABKIT_DATA to the folder that holds it, "
        f"or allow the download) and the embedded sample {path} is missing; {rebuild_hint(name)}"
    )


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()



# ---------------------------------------------------------------- images


def read_image_sample(name: str) -> tuple[tuple, tuple[torch.Tensor, torch.Tensor], Path]:
    """The embedded sample of image dataset ``name``, checked against its content hash.

    Returns ``((train_x, train_y, test_x, test_y, classes), (train_index,
    test_index), path)`` with CPU tensors (labels int64). Raises
    :class:`DatasetUnavailable` if the file is missing and
    :class:`ChecksumError` if it is damaged.
    """
    path = sample_path(name)
    if not path.is_file():
        raise _missing_sample(name, path)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in _ARRAYS}
                meta = json.loads(str(z["meta"]))
                expected = str(z["content_sha256"])
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
            raise ChecksumError(f"the embedded sample {path} cannot be read ({error}); {rebuild_hint(name)}") from None
        actual = content_sha256(arrays)
        if actual != expected:
            raise ChecksumError(
                f"the embedded sample {path} is damaged: expected content sha256 {expected}, "
                f"got {actual}; {rebuild_hint(name)}"
            )
        data = (
            torch.from_numpy(arrays["train_x"]),
            torch.from_numpy(arrays["train_y"].astype(np.int64)),
            torch.from_numpy(arrays["test_x"]),
            torch.from_numpy(arrays["test_y"].astype(np.int64)),
            list(meta["classes"]),
        )
        indices = (
            torch.from_numpy(arrays["train_index"].astype(np.int64)),
            torch.from_numpy(arrays["test_index"].astype(np.int64)),
        )
        _CACHE[key] = (data, indices)
    data, indices = _CACHE[key]
    return data, indices, path



# ------------------------------------------------------------------ text


def read_text_sample(name: str = "eng-fra") -> tuple[list[str], dict[str, str], Path]:
    """The lines of the embedded text sample (header removed), its header fields, and its path.

    Raises :class:`DatasetUnavailable` if missing, :class:`ChecksumError` if damaged.
    """
    path = sample_path(name)
    if not path.is_file():
        raise _missing_sample(name, path)
    try:
        content = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ChecksumError(f"the embedded sample {path} cannot be read ({error}); {rebuild_hint(name)}") from None
    header, _, body = content.partition("\n")
    fields = dict(item.split("=", 1) for item in header.split()[2:] if "=" in item)
    actual = hashlib.sha256(body.encode("utf-8")).hexdigest()
    if not header.startswith("# labkit-sample ") or fields.get("content_sha256") != actual:
        raise ChecksumError(
            f"the embedded sample {path} is damaged: expected content sha256 "
            f"{fields.get('content_sha256')}, got {actual}; {rebuild_hint(name)}"
        )
    return body.splitlines(), fields, path
