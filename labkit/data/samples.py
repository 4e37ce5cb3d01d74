"""Building the embedded samples: small, stratified subsets of the real data shipped with labkit.

They let every lab run (and the test suite pass) on a machine with neither
the data nor internet. :func:`labkit.data.load` uses them only as a last
resort, and says so (reading them: :mod:`labkit.data.embedded`). Each sample
records which files it was cut from.

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
import sys
from pathlib import Path

import numpy as np

from labkit.data import images, text
from labkit.data.embedded import (
    IMAGE_SAMPLE_SIZES, SAMPLE_DIR, SAMPLE_NAMES, TEXT_PREFIX_SHARE, TEXT_SAMPLE_LINES, content_sha256,
)
from labkit.data.files import DatasetUnavailable, file_digest
from labkit.data.subset import stratified_indices
from labkit.plumbing import atomic_path, atomic_write

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

    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays, meta=np.array(json.dumps(meta)),
                            content_sha256=np.array(content_sha256(arrays)))
    return out


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
    atomic_write(out, gzip.compress((header + body).encode("utf-8"), mtime=0))
    return out


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
