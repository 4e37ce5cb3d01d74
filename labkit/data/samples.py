"""The embedded samples: small, stratified subsets of the real data shipped with labkit.

They let every lab run (and the test suite pass) on a machine with neither
the data nor internet. :func:`labkit.data.load` uses them only as a last
resort, and says so. Each sample records which files it was cut from.

Build (or rebuild) them from a folder with the full data::

    python -m labkit.data.samples build [NAMES...] --from DIR [--out DIR]

NAMES default to all of: mnist fashion_mnist cifar10 eng-fra. The result is
the same for the same source files and seed (``--seed``, default 0).

Formats:

* image samples, ``samples/<name>.npz`` (``np.savez_compressed``): uint8
  ``train_x``/``test_x`` (N×C×H×W), uint8 ``train_y``/``test_y``, int32
  ``train_index``/``test_index`` (positions in the official split), ``meta``
  (a JSON string: source files and their md5 sums, seed, classes, ...) and
  ``content_sha256`` (a hash of the arrays, checked on every read);
* ``samples/eng-fra.txt.gz``: one header line ``# labkit-sample key=value ...``
  (source sha256, seed, counts, ``content_sha256`` of the rest), then a subset
  of the original lines of ``eng-fra.txt``, unchanged, in their original order.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from labkit.data import images, text
from labkit.data.files import ChecksumError, DatasetUnavailable, data_dir, file_digest
from labkit.data.subset import stratified_indices

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
    return SAMPLE_DIR / f"{images.spec(name).name}.npz"


def _rebuild_hint(name: str) -> str:
    return f"reinstall labkit, or rebuild it with: python -m labkit.data.samples build {name} --from DIR"


def _missing_sample(name: str, path: Path) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{name}: the full data is not in {data_dir()} (set LABKIT_DATA to the folder that holds it, "
        f"or allow the download) and the embedded sample {path} is missing; {_rebuild_hint(name)}"
    )


def _content_sha256(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _write_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; samples are package data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- images


def build_image_sample(name: str, source_root: Path, out_dir: Path = SAMPLE_DIR, *, seed: int = 0) -> Path:
    """Cut the stratified sample of image dataset ``name`` from the full data in ``source_root``.

    Sizes come from :data:`IMAGE_SAMPLE_SIZES`; the draw uses ``seed``.
    Returns the path of the written ``.npz``.
    """
    sp = images.spec(name)
    (train_x, train_y, test_x, test_y, classes), folder = images.read_full(name, Path(source_root))
    n_train, n_test = IMAGE_SAMPLE_SIZES[sp.name]
    train_index = stratified_indices(train_y.numpy(), n_train, seed, 0)
    test_index = stratified_indices(test_y.numpy(), n_test, seed, 1)
    arrays = {
        "train_x": train_x.numpy()[train_index],
        "train_y": train_y.numpy()[train_index].astype(np.uint8),
        "test_x": test_x.numpy()[test_index],
        "test_y": test_y.numpy()[test_index].astype(np.uint8),
        "train_index": train_index.astype(np.int32),
        "test_index": test_index.astype(np.int32),
    }
    layout = next(lay for lay in sp.layouts if (Path(source_root) / lay.folder) == folder)
    meta = {
        "name": sp.name,
        "title": sp.title,
        "classes": list(classes),
        "seed": seed,
        "stratified": "per class, proportional to the full split",
        "full_sizes": sp.full_sizes,
        "source_folder": layout.folder,
        "source_md5": layout.files,
    }
    out = Path(out_dir) / f"{sp.name}.npz"

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays, meta=np.array(json.dumps(meta)),
                                content_sha256=np.array(_content_sha256(arrays)))

    _write_atomically(out, write)
    return out


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
            raise ChecksumError(f"the embedded sample {path} cannot be read ({error}); {_rebuild_hint(name)}") from None
        actual = _content_sha256(arrays)
        if actual != expected:
            raise ChecksumError(
                f"the embedded sample {path} is damaged: expected content sha256 {expected}, "
                f"got {actual}; {_rebuild_hint(name)}"
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


def build_text_sample(source_root: Path, out_dir: Path = SAMPLE_DIR, *, seed: int = 0) -> Path:
    """Cut the eng-fra sample from ``<source_root>/eng-fra/eng-fra.txt``.

    It holds :data:`TEXT_SAMPLE_LINES` original lines: a share
    :data:`TEXT_PREFIX_SHARE` drawn (with ``seed``) from the pairs whose
    normalised English side starts with one of the tutorial's prefixes
    (:data:`labkit.data.text.ENG_PREFIXES`), the rest from all other pairs.
    Returns the path of the written ``.txt.gz``.
    """
    source = text.full_path(Path(source_root))
    if not source.is_file():
        raise DatasetUnavailable(f"{source} does not exist")
    text.verify_full(source)
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    prefixed = np.array([text.has_prefix(text.normalize(line.split("\t", 1)[0])) for line in lines])
    rng = np.random.default_rng(seed)
    with_prefix, others = np.flatnonzero(prefixed), np.flatnonzero(~prefixed)
    n_prefixed = min(len(with_prefix), round(TEXT_SAMPLE_LINES * TEXT_PREFIX_SHARE))
    chosen = np.sort(np.concatenate([
        rng.choice(with_prefix, size=n_prefixed, replace=False),
        rng.choice(others, size=TEXT_SAMPLE_LINES - n_prefixed, replace=False),
    ]))
    body = "".join(lines[i] for i in chosen)
    fields = {
        "name": "eng-fra",
        "lines": len(chosen),
        "of": len(lines),
        "seed": seed,
        "prefixed": n_prefixed,
        "source_sha256": file_digest(source, "sha256"),
        "content_sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
    }
    header = "# labkit-sample " + " ".join(f"{k}={v}" for k, v in fields.items()) + "\n"
    out = Path(out_dir) / "eng-fra.txt.gz"
    _write_atomically(out, lambda tmp: Path(tmp).write_bytes(gzip.compress((header + body).encode("utf-8"), mtime=0)))
    return out


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
        raise ChecksumError(f"the embedded sample {path} cannot be read ({error}); {_rebuild_hint(name)}") from None
    header, _, body = content.partition("\n")
    fields = dict(item.split("=", 1) for item in header.split()[2:] if "=" in item)
    actual = hashlib.sha256(body.encode("utf-8")).hexdigest()
    if not header.startswith("# labkit-sample ") or fields.get("content_sha256") != actual:
        raise ChecksumError(
            f"the embedded sample {path} is damaged: expected content sha256 "
            f"{fields.get('content_sha256')}, got {actual}; {_rebuild_hint(name)}"
        )
    return body.splitlines(), fields, path


# ------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m labkit.data.samples build [NAMES...] --from DIR``."""
    parser = argparse.ArgumentParser(prog="python -m labkit.data.samples", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="(re)build embedded samples from the full data")
    build.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {' '.join(SAMPLE_NAMES)}")
    build.add_argument("--from", dest="source", required=True, type=Path, metavar="DIR",
                       help="folder with the full data (the layout of LABKIT_DATA)")
    build.add_argument("--out", type=Path, default=SAMPLE_DIR, metavar="DIR", help=f"where to write (default: {SAMPLE_DIR})")
    build.add_argument("--seed", type=int, default=0, help="seed of the random draw (default: 0)")
    args = parser.parse_args(argv)

    unknown = [n for n in args.names if n not in SAMPLE_NAMES]
    if unknown:
        parser.error(f"unknown sample {', '.join(unknown)}; choose from: {' '.join(SAMPLE_NAMES)}")
    for name in args.names or SAMPLE_NAMES:
        if name == "eng-fra":
            path = build_text_sample(args.source, args.out, seed=args.seed)
        else:
            path = build_image_sample(name, args.source, args.out, seed=args.seed)
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
