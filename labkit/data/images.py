"""Image datasets: MNIST, Fashion-MNIST and CIFAR-10 as uint8 tensors.

:func:`load` is the one entry point. It reads the original files from
:func:`~labkit.data.files.data_dir` (torchvision's folder layout), checks
every file against its published md5 sum, and keeps the decoded arrays in
memory so a second ``load`` in the same process is instant. When the files
are missing it asks torchvision to download them; when that fails (or
``LABKIT_OFFLINE=1``) it falls back to the small embedded sample shipped
with labkit, and says so loudly.
"""
from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from labkit.data.embedded import read_image_sample
from labkit.data.files import (
    ChecksumError,
    DatasetUnavailable,
    data_dir,
    download,
    file_digest,
    full_or_download,
    staging_folder,
    read_idx,
    verify,
)
from labkit.plumbing import short_error
from labkit.data.subset import ALL, check_size, fit_size, stratified_indices
from labkit.i18n import check_language, dataset_title, language, t
from labkit.records import DATASET_MIME, emit

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "list[str] | None"]


@dataclass(frozen=True)
class Layout:
    """One on-disk format of a dataset: a folder, its files with md5 sums, a reader."""

    folder: str
    files: dict[str, str]
    read: Callable[[Path], Arrays]


@dataclass(frozen=True)
class ImageSpec:
    """What labkit knows about one image dataset."""

    name: str
    title: str
    classes: tuple[str, ...]
    full_sizes: dict[str, int]
    layouts: tuple[Layout, ...]
    citation: str
    licence: str
    #: the class names in Chinese, in the order of ``classes`` (empty: the names are the same, e.g. digits)
    classes_zh: tuple[str, ...] = ()


@dataclass
class Split:
    """One split of a dataset: images ``x`` (uint8, N×C×H×W) and labels ``y`` (int64, N).

    ``indices`` (int64, N, on the CPU) are the positions of these examples in
    the dataset's official split, also when they come from the embedded sample.
    """

    x: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return f"Split(x={tuple(self.x.shape)} {self.x.dtype} on {self.x.device}, y={tuple(self.y.shape)})"


@dataclass
class ImageData:
    """A loaded image dataset: ``train`` and ``test`` splits, ``classes`` and ``info``.

    ``info`` is the provenance record (name, title, source, path, checksum,
    sizes, full_sizes, citation, licence, sample_reason) that :func:`load`
    also emits into the notebook for the report.
    """

    name: str
    classes: list[str]
    train: Split
    test: Split
    info: dict = field(repr=False)

    def class_names(self, lang: str | None = None) -> list[str]:
        """``classes`` as the report shows them, in ``lang`` (default: the report's language):
        :func:`class_names`."""
        return class_names(self.name, self.classes, lang)

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
            f"classes={len(self.classes)}, source={self.info['source']!r})"
        )


# ---------------------------------------------------------------- readers


def _read_mnist_family(folder: Path) -> Arrays:
    def pair(prefix: str) -> tuple[np.ndarray, np.ndarray]:
        x = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        y = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{folder}: {prefix} images {x.shape} do not match labels {y.shape}")
        return x[:, None, :, :], y.astype(np.int64)

    return (*pair("train"), *pair("t10k"), None)


def read_cifar_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary-version batch file: ``(x uint8 N×3×32×32, y int64 N)``.

    Each record is 1 label byte then 3,072 pixel bytes: the red, green and
    blue 32×32 planes, each row-major.
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise ValueError(f"{path} is not a CIFAR-10 binary batch ({raw.size} bytes is not a multiple of 3073)")
    records = raw.reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)


def read_cifar_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python-version batch (a pickled dict): ``(x uint8 N×3×32×32, y int64 N)``.

    The dict holds ``data`` (N×3072 uint8, red/green/blue planes) and
    ``labels``. Only call this on files whose checksum was verified:
    unpickling runs code from the file.
    """
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    y = np.asarray(batch["labels"], dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels")
    return x, y


def read_cifar_python_meta(path: Path) -> list[str]:
    """The class names in a CIFAR-10 python-version ``batches.meta`` pickle."""
    with open(path, "rb") as f:
        return [str(name) for name in pickle.load(f, encoding="latin1")["label_names"]]


def _read_cifar_bin(folder: Path) -> Arrays:
    train = [read_cifar_binary(folder / f"data_batch_{i}.bin") for i in range(1, 6)]
    test_x, test_y = read_cifar_binary(folder / "test_batch.bin")
    meta = folder / "batches.meta.txt"
    classes = [line.strip() for line in meta.read_text().splitlines() if line.strip()] if meta.is_file() else None
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        np.ascontiguousarray(test_x),
        test_y,
        classes,
    )


def _read_cifar_py(folder: Path) -> Arrays:
    train = [read_cifar_python_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = read_cifar_python_batch(folder / "test_batch")
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        test_x,
        test_y,
        read_cifar_python_meta(folder / "batches.meta"),
    )


# ------------------------------------------------------------------ specs

_MNIST_CITATION = (
    'Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of handwritten digits" '
    "(derived from NIST Special Databases 1 and 3)"
)
_FASHION_CITATION = (
    'H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking '
    'Machine Learning Algorithms", arXiv:1708.07747, 2017 (Zalando Research)'
)
_CIFAR_CITATION = (
    'A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", technical report, '
    "University of Toronto, 2009 (CIFAR-10 by A. Krizhevsky, V. Nair and G. Hinton)"
)

SPECS: dict[str, ImageSpec] = {
    "mnist": ImageSpec(
        name="mnist",
        title="MNIST",
        classes=tuple(str(d) for d in range(10)),
        full_sizes={"train": 60000, "test": 10000},
        layouts=(
            Layout(
                "MNIST/raw",
                {  # the md5 sums torchvision's MNIST class checks
                    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
                },
                _read_mnist_family,
            ),
        ),
        citation=_MNIST_CITATION,
        licence="CC BY-SA 3.0 (as stated by the Keras/TensorFlow documentation; the original page states none)",
    ),
    "fashion_mnist": ImageSpec(
        name="fashion_mnist",
        title="Fashion-MNIST",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        full_sizes={"train": 60000, "test": 10000},
        layouts=(
            Layout(
                "FashionMNIST/raw",
                {  # the md5 sums torchvision's FashionMNIST class checks
                    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
                },
                _read_mnist_family,
            ),
        ),
        citation=_FASHION_CITATION,
        licence="MIT License, Copyright (c) 2017 Zalando SE",
        classes_zh=("T恤/上衣", "裤子", "套头衫", "连衣裙", "外套", "凉鞋", "衬衫", "运动鞋", "包", "短靴"),
    ),
    "cifar10": ImageSpec(
        name="cifar10",
        title="CIFAR-10",
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        full_sizes={"train": 50000, "test": 10000},
        layouts=(
            Layout(
                "cifar-10-batches-bin",
                {  # the md5 sums published with the official binary version
                    "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
                    "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
                    "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
                    "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
                    "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
                    "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
                },
                _read_cifar_bin,
            ),
            Layout(
                "cifar-10-batches-py",
                {  # the md5 sums torchvision's CIFAR10 class checks
                    "data_batch_1": "c99cafc152244af753f735de768cd75f",
                    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                    "data_batch_4": "634d18415352ddfa80567beed471001a",
                    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
                    "test_batch": "40351d587109b95175f43aff81a1287e",
                    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
                },
                _read_cifar_py,
            ),
        ),
        citation=_CIFAR_CITATION,
        licence="no explicit licence on the dataset's page; cite the technical report",
        classes_zh=("飞机", "汽车", "鸟", "猫", "鹿", "狗", "青蛙", "马", "船", "卡车"),
    ),
}

#: The names :func:`load` accepts.
DATASETS: tuple[str, ...] = tuple(SPECS)

_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]] = {}


def spec(name: str) -> ImageSpec:
    """The :class:`ImageSpec` of ``name``, or a ValueError listing the valid names."""
    if name in SPECS:
        return SPECS[name]
    hint = " (a text dataset: use data.load_pairs)" if name == "eng-fra" else ""
    raise ValueError(f"unknown image dataset {name!r}{hint}; choose one of: {', '.join(DATASETS)}")


def class_names(dataset: str, classes: Sequence[str] | None = None, lang: str | None = None) -> list[str]:
    """The class names of image dataset ``dataset`` in ``lang`` (default: the report's language, see
    :mod:`labkit.i18n`): ``classes`` (default: the dataset's own list, in label order) with each name the
    kit knows translated (Fashion-MNIST's ``"Ankle boot"`` -> "短靴", CIFAR-10's ``"cat"`` -> "猫"); the
    one place the labs take class names for tables, figures and sentences. Unknown names stay as they
    are; an unknown dataset raises the ValueError of :func:`spec`."""
    sp = spec(dataset)
    names = [str(c) for c in (sp.classes if classes is None else classes)]
    if check_language(lang or language()) == "en" or not sp.classes_zh:
        return names
    zh = dict(zip(sp.classes, sp.classes_zh))
    return [zh.get(name, name) for name in names]


# ---------------------------------------------------------- finding files


def _complete_layout(sp: ImageSpec, root: Path) -> Layout | None:
    for layout in sp.layouts:
        if all((root / layout.folder / f).is_file() for f in layout.files):
            return layout
    return None


def _verify_present(sp: ImageSpec, root: Path, layouts: tuple[Layout, ...]) -> None:
    for layout in layouts:
        for filename, md5 in layout.files.items():
            path = root / layout.folder / filename
            if path.is_file():
                verify(path, md5)


def _read_layout(sp: ImageSpec, root: Path, layout: Layout) -> tuple:
    folder = root / layout.folder
    _verify_present(sp, root, (layout,))
    stats = tuple((f, (folder / f).stat().st_size, (folder / f).stat().st_mtime_ns) for f in layout.files)
    key = (sp.name, str(folder), stats)
    if key not in _CACHE:
        train_x, train_y, test_x, test_y, classes = layout.read(folder)
        for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
            if len(x) != sp.full_sizes[split] or len(y) != len(x):
                raise ValueError(f"{folder}: expected {sp.full_sizes[split]} {split} examples, found {len(x)}")
        _CACHE[key] = (
            torch.from_numpy(np.ascontiguousarray(train_x)),
            torch.from_numpy(np.ascontiguousarray(train_y, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(test_x)),
            torch.from_numpy(np.ascontiguousarray(test_y, dtype=np.int64)),
            list(classes) if classes else list(sp.classes),
        )
    return _CACHE[key]


def read_full(name: str, root: Path) -> tuple[tuple, Path]:
    """The decoded, md5-verified full data of ``name`` under ``root`` and the folder it came from.

    Returns ``((train_x, train_y, test_x, test_y, classes), folder)`` with
    CPU tensors; raises :class:`DatasetUnavailable` when the files are not
    all there (it never downloads).
    """
    sp = spec(name)
    layout = _complete_layout(sp, root)
    if layout is None:
        raise DatasetUnavailable(f"{_missing(sp, root)}; see labkit.data.load for the layout")
    return _read_layout(sp, root, layout), root / layout.folder


def _download(sp: ImageSpec, root: Path) -> None:
    """Download ``sp``'s files (the URLs and md5 sums torchvision knows) and put them in place.

    Everything is fetched and checked in a temporary folder inside ``root``
    first (MNIST-style ``.gz`` files are kept compressed, as labkit reads
    them); each file is moved into place only after every one has matched its
    md5 sum, so a failed or interrupted download leaves nothing behind.
    """
    import tarfile

    import torchvision.datasets as tvd  # heavy import, only when downloading

    with staging_folder(root) as staging:
        if sp.name == "cifar10":
            layout = next(lay for lay in sp.layouts if lay.folder == tvd.CIFAR10.base_folder)
            archive = download(tvd.CIFAR10.url, staging / tvd.CIFAR10.filename, md5=tvd.CIFAR10.tgz_md5)
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
            source = staging / layout.folder
        else:
            layout = sp.layouts[0]
            mirrors = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST}[sp.name].mirrors
            for filename, md5 in layout.files.items():
                errors = []
                for mirror in mirrors:
                    try:
                        download(mirror + filename, staging / filename, md5=md5)
                        break
                    except Exception as error:
                        errors.append(short_error(error))
                else:
                    raise DatasetUnavailable(f"{filename}: {'; '.join(errors)}")
            source = staging
        for filename, md5 in layout.files.items():
            actual = file_digest(source / filename) if (source / filename).is_file() else "missing"
            if actual != md5:
                raise ChecksumError(f"the downloaded {filename} has md5 {actual}, not the published {md5}; "
                                    "nothing was kept")
        target = root / layout.folder
        target.mkdir(parents=True, exist_ok=True)
        for filename in layout.files:
            if not (target / filename).exists():
                os.replace(source / filename, target / filename)


def _missing(sp: ImageSpec, root: Path) -> str:
    folders = " or ".join(str(root / layout.folder) for layout in sp.layouts)
    return f"no complete {sp.title} files in {folders}"


#: What the ``checksum`` field of a dataset's info says was verified.
CHECKSUM_MD5, CHECKSUM_SAMPLE = "md5", "sample-sha256"


def _full_or_sample(sp: ImageSpec, root: Path) -> tuple[tuple, dict]:
    """The decoded data and the provenance fields (source, path, checksum, sample_reason)."""
    # A present but corrupt file is an error (never a reason to download or to use the sample).
    _verify_present(sp, root, sp.layouts)
    source, reason = full_or_download(lambda: _complete_layout(sp, root) is not None,
                                      lambda: _download(sp, root), _missing(sp, root))
    if source is not None:
        layout = _complete_layout(sp, root)
        data = _read_layout(sp, root, layout)
        return data, {"source": source, "path": str(root / layout.folder), "checksum": CHECKSUM_MD5,
                      "sample_reason": None}
    data, indices, path = read_image_sample(sp.name)
    print(t("data.sample_warning", name=sp.title, reason=reason), file=sys.stderr)
    return data, {"source": "sample", "path": str(path), "checksum": CHECKSUM_SAMPLE, "sample_reason": reason,
                  "indices": indices}


# -------------------------------------------------------------- load()


def _subset(x, y, origin, size, seed, stream, what, where, device, sample: bool = False) -> Split:
    size = fit_size(size, len(y), what, where, sample)
    if size is None:
        return Split(x.to(device, copy=True), y.to(device, copy=True), origin.clone())
    positions = torch.from_numpy(stratified_indices(y.numpy(), size, seed, stream))
    return Split(x[positions].to(device), y[positions].to(device), origin[positions])


def load(
    name: str,
    *,
    train_size: int | str | None = ALL,
    test_size: int | str | None = ALL,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> ImageData:
    """Load an image dataset as uint8 tensors, with its provenance.

    ``name`` is ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
    Returns an :class:`ImageData` whose ``train.x``/``test.x`` are uint8
    tensors (N, C, H, W) and ``train.y``/``test.y`` int64 labels, on ``device``.

    ``train_size`` / ``test_size`` take a class-stratified random subset
    (``"all"``, :data:`labkit.data.ALL`, the default: everything available;
    None means the same); the same ``seed`` gives the same subset.
    A size larger than the dataset raises ValueError; a size larger than the
    embedded sample, when the sample is used, takes all of the sample (and
    says so), so every profile runs offline.

    Where the data comes from (``info["source"]``):

    * ``"full"``: the original files under :func:`data_dir` (``$LABKIT_DATA``,
      torchvision's layout: ``MNIST/raw/*.gz``, ``FashionMNIST/raw/*.gz``,
      ``cifar-10-batches-bin/*.bin`` or ``cifar-10-batches-py/``), each checked
      against its published md5 sum. A file with the wrong sum raises
      :class:`ChecksumError` and is left alone (nothing is downloaded then).
    * ``"downloaded"``: the files were missing and were downloaded (from the
      URLs torchvision knows), md5-verified in a temporary folder, then moved
      into place; a failed download leaves nothing behind. No download is
      tried when ``$LABKIT_DATA`` names a folder that does not exist (a typo).
    * ``"sample"``: the files were missing and the download failed or was
      skipped; labkit uses its embedded stratified sample (MNIST and
      Fashion-MNIST 5,000 train + 1,000 test, CIFAR-10 2,000 + 800), prints
      a warning and gives the reason in ``info["sample_reason"]``.

    Set the environment variable ``LABKIT_OFFLINE=1`` to skip the download
    attempt (offline machines, tests). ``info["checksum"]`` says what was
    verified: ``"md5"`` (every file against its published md5 sum) or
    ``"sample-sha256"`` (the embedded sample's content hash).

    The info is emitted into the notebook (MIME ``DATASET_MIME``) so the
    report can show it. Decoded files are cached in memory per process.
    """
    sp = spec(name)
    # sizes are checked against the full dataset before anything is read or downloaded
    train_size = fit_size(check_size(train_size, "train_size"), sp.full_sizes["train"], "train_size",
                          f"the train split of {sp.title}", sample=False)
    test_size = fit_size(check_size(test_size, "test_size"), sp.full_sizes["test"], "test_size",
                         f"the test split of {sp.title}", sample=False)
    device = torch.device(device)

    (train_x, train_y, test_x, test_y, classes), provenance = _full_or_sample(sp, data_dir())
    where = sp.title
    sample = provenance["source"] == "sample"
    if sample:
        where = (f"the embedded {sp.title} sample (the full data was not found, see the "
                 f"warning above; put it in {data_dir()} to use more)")
    train_origin, test_origin = provenance.pop("indices", (None, None))
    train = _subset(train_x, train_y, _origin(train_x, train_origin), train_size, seed, 0,
                    "train_size", f"the train split of {where}", device, sample)
    test = _subset(test_x, test_y, _origin(test_x, test_origin), test_size, seed, 1,
                   "test_size", f"the test split of {where}", device, sample)

    info = {
        "name": sp.name,
        "title": sp.title,
        "source": provenance["source"],
        "path": provenance["path"],
        "checksum": provenance["checksum"],
        "sizes": {"train": len(train), "test": len(test)},
        "full_sizes": dict(sp.full_sizes),
        "citation": sp.citation,
        "licence": sp.licence,
        "sample_reason": provenance["sample_reason"],
    }
    emit(DATASET_MIME, info, loaded_text(info, "data.loaded", train=len(train), test=len(test)))
    return ImageData(name=sp.name, classes=list(classes), train=train, test=test, info=info)


def _origin(x: torch.Tensor, origin: torch.Tensor | None) -> torch.Tensor:
    return torch.arange(len(x)) if origin is None else origin


def loaded_text(info: dict, key: str, **counts: int) -> str:
    """The one-line visible summary of a loaded dataset (in the current language)."""
    checksum = t("data.checksum_part", checksum=t("checksum." + info["checksum"]))
    return t(key, name=dataset_title(info), source=t("source." + info["source"]), checksum=checksum, **counts)
