"""Tests of labkit.data: real files, checksums, samples, subsets, CIFAR formats, eng-fra."""
from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import full_data_dir
from labkit import data
from labkit.data import embedded, images, samples, text
from labkit.data.subset import stratified_indices

REAL = full_data_dir() or Path("/nonexistent-labkit-data")
SHIPPED = embedded.SAMPLE_DIR
needs_real = pytest.mark.skipif(full_data_dir() is None, reason="the full course data is not on this machine")


@pytest.fixture
def real_data(monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(REAL))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    return REAL


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("LABKIT_DATA", str(empty))
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    return empty


def _flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))


# ------------------------------------------------------------ data_dir


def test_data_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "x" / ".." / "d"))
    assert data.data_dir() == (tmp_path / "d").resolve()
    monkeypatch.delenv("LABKIT_DATA")
    monkeypatch.chdir(tmp_path)
    assert data.data_dir() == (tmp_path / "data").resolve()


def test_unknown_name_and_bad_sizes(real_data):
    with pytest.raises(ValueError, match="fashion_mnist"):
        data.load("fashion")
    with pytest.raises(ValueError, match="load_pairs"):
        data.load("eng-fra")
    with pytest.raises(ValueError, match="train_size"):
        data.load("mnist", train_size=0)
    with pytest.raises(ValueError, match="60000"):
        data.load("mnist", train_size=60001)


# ---------------------------------------------------------- full MNIST


@needs_real
def test_full_mnist(real_data, capsys):
    d = data.load("mnist")
    assert d.train.x.shape == (60000, 1, 28, 28) and d.train.x.dtype == torch.uint8
    assert d.test.x.shape == (10000, 1, 28, 28)
    assert d.train.y.dtype == torch.int64 and d.train.y.shape == (60000,)
    assert int(d.train.y.min()) == 0 and int(d.train.y.max()) == 9
    assert d.classes == [str(i) for i in range(10)]
    assert len(d.train) == 60000
    assert Path(d.info["path"]).resolve() == (REAL / "MNIST" / "raw").resolve()  # LABKIT_DATA may be a link
    assert d.info == {
        "name": "mnist", "title": "MNIST", "source": "full", "path": d.info["path"],
        "checksum": "md5", "sizes": {"train": 60000, "test": 10000},
        "full_sizes": {"train": 60000, "test": 10000}, "citation": d.info["citation"],
        "licence": d.info["licence"], "sample_reason": None,
    }
    assert "Dataset MNIST: 60000 train / 10000 test images, full data" in capsys.readouterr().out
    # Cached: a second load gives equal data, but its own tensors.
    again = data.load("mnist")
    assert torch.equal(again.train.x, d.train.x)
    again.train.x[0] = 255
    assert not torch.equal(data.load("mnist").train.x[0], again.train.x[0])


@needs_real
def test_fashion_mnist_classes(real_data):
    d = data.load("fashion_mnist", train_size=100, test_size=50)
    assert d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"
    assert d.info["source"] == "full" and d.info["sizes"] == {"train": 100, "test": 50}


# ------------------------------------------------------------ checksums


@needs_real
def test_corrupt_file_raises_and_is_kept(monkeypatch, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(REAL / "MNIST" / "raw", raw)
    bad = raw / "t10k-labels-idx1-ubyte.gz"
    _flip_last_byte(bad)
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    with pytest.raises(data.ChecksumError) as caught:
        data.load("mnist")
    message = str(caught.value)
    assert str(bad) in message
    assert "ec29112dd5afa0611ce80d1b7f02629c" in message  # expected md5
    assert hashlib.md5(bad.read_bytes()).hexdigest() in message  # actual md5
    assert "never deletes" in message
    assert bad.exists()


@needs_real
def test_corrupt_file_among_missing_ones_is_an_error_not_a_download(monkeypatch, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(REAL / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", raw)
    _flip_last_byte(raw / "t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    with pytest.raises(data.ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        data.load("mnist")
    assert sorted(p.name for p in raw.iterdir()) == ["t10k-labels-idx1-ubyte.gz"]


# -------------------------------------------------------------- samples


@pytest.mark.parametrize("name, sizes, shape", [
    ("mnist", (5000, 1000), (1, 28, 28)),
    ("fashion_mnist", (5000, 1000), (1, 28, 28)),
    ("cifar10", (2000, 800), (3, 32, 32)),
])
def test_sample_fallback(no_data, capsys, name, sizes, shape):
    d = data.load(name)
    captured = capsys.readouterr()
    assert d.info["source"] == "sample"
    assert "LABKIT_OFFLINE=1" in d.info["sample_reason"] and str(no_data) in d.info["sample_reason"]
    assert f"Using the embedded sample of {d.info['title']}" in captured.err
    assert "embedded sample" in captured.out
    assert d.info["sizes"] == {"train": sizes[0], "test": sizes[1]}
    assert d.train.x.shape == (sizes[0], *shape) and d.train.x.dtype == torch.uint8
    assert d.test.y.dtype == torch.int64 and len(d.classes) == 10
    for split, n in ((d.train, sizes[0]), (d.test, sizes[1])):
        counts = torch.bincount(split.y, minlength=10)
        assert (counts > 0).all()
        assert (counts - n / 10).abs().max() <= 0.15 * n / 10  # stratified: near-equal classes
    assert not list(no_data.iterdir())  # offline: nothing was created


@needs_real
def test_sample_is_a_verbatim_subset_of_the_real_data(no_data):
    sample = data.load("mnist")
    assert sample.info["source"] == "sample"
    full = images.read_full("mnist", REAL)[0]
    assert torch.equal(full[0][sample.train.indices], sample.train.x)
    assert torch.equal(full[3][sample.test.indices], sample.test.y)


def test_size_beyond_the_sample_takes_all_of_it_and_says_so(no_data, capsys):
    """Offline, a profile's subset larger than the embedded sample runs on the whole sample."""
    loaded = data.load("mnist", train_size=20000, test_size=300)
    assert (len(loaded.train), len(loaded.test)) == (5000, 300) and loaded.info["source"] == "sample"
    assert "train_size=20000 is more than the 5000 examples" in capsys.readouterr().out
    with pytest.raises(ValueError, match="60000"):  # beyond the real dataset: still an error
        data.load("mnist", train_size=60001)


def test_damaged_or_missing_sample(no_data, monkeypatch, tmp_path):
    shelf = tmp_path / "samples"
    shelf.mkdir()
    monkeypatch.setattr(embedded, "SAMPLE_DIR", shelf)
    with pytest.raises(data.DatasetUnavailable, match="LABKIT_DATA"):
        data.load("mnist")
    with np.load(SHIPPED / "mnist.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["train_y"] = arrays["train_y"].copy()
    arrays["train_y"][0] = (arrays["train_y"][0] + 1) % 10
    np.savez_compressed(shelf / "mnist.npz", **arrays)
    with pytest.raises(data.ChecksumError, match="damaged"):
        data.load("mnist")


@needs_real
def test_samples_rebuild_identically(tmp_path):
    assert samples.main(["build", "mnist", "eng-fra", "--from", str(REAL), "--out", str(tmp_path)]) == 0
    with np.load(tmp_path / "mnist.npz") as new, np.load(SHIPPED / "mnist.npz") as old:
        assert str(new["content_sha256"]) == str(old["content_sha256"])
    assert (tmp_path / "eng-fra.txt.gz").read_bytes() == (SHIPPED / "eng-fra.txt.gz").read_bytes()


def test_sample_files_are_small():
    for name in ("mnist.npz", "fashion_mnist.npz", "cifar10.npz", "eng-fra.txt.gz"):
        assert (SHIPPED / name).stat().st_size < 8_000_000


# -------------------------------------------------------------- subsets


@needs_real
def test_subsets_are_stratified_and_fixed_by_seed(real_data):
    a = data.load("mnist", train_size=500, test_size=100, seed=0)
    b = data.load("mnist", train_size=500, test_size=100, seed=0)
    c = data.load("mnist", train_size=500, test_size=100, seed=1)
    assert torch.equal(a.train.indices, b.train.indices) and torch.equal(a.train.x, b.train.x)
    assert torch.equal(a.test.indices, b.test.indices)
    assert not torch.equal(a.train.indices, c.train.indices)
    assert not torch.equal(a.test.indices, c.test.indices)
    assert len(set(a.train.indices.tolist())) == 500
    full = data.load("mnist")
    assert torch.equal(full.train.y[a.train.indices], a.train.y)
    expected = torch.bincount(full.train.y) * 500 / 60000
    assert (torch.bincount(a.train.y) - expected).abs().max() < 1


def test_stratified_indices_proportional():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    chosen = stratified_indices(labels, 10, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [7, 2, 1]
    assert np.array_equal(chosen, np.sort(chosen))
    assert np.array_equal(chosen, stratified_indices(labels, 10, seed=3))
    assert not np.array_equal(stratified_indices(labels, 10, seed=3, stream=1), chosen)
    with pytest.raises(ValueError, match="only 100"):
        stratified_indices(labels, 101, seed=0)


# --------------------------------------------------------------- CIFAR-10


@needs_real
def test_cifar_binary(real_data):
    d = data.load("cifar10", train_size=20)
    record = np.fromfile(REAL / "cifar-10-batches-bin" / "test_batch.bin", dtype=np.uint8, count=3073)
    assert int(d.test.y[0]) == record[0]
    assert torch.equal(d.test.x[0], torch.from_numpy(record[1:].reshape(3, 32, 32).copy()))
    assert d.test.x.shape == (10000, 3, 32, 32) and d.train.x.shape == (20, 3, 32, 32)
    assert d.classes == ["airplane", "automobile", "bird", "cat", "deer",
                         "dog", "frog", "horse", "ship", "truck"]
    assert d.info["path"].endswith("cifar-10-batches-bin")


def _write_cifar_py(folder: Path, per_batch: int = 3) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, size=per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": y, "data": x, "filenames": ["a.png"] * per_batch}, f)
        written[name] = (x, y)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list("abcdefghij"), "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return written


def test_cifar_python_version_reader(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    written = _write_cifar_py(folder)
    x, y = images.read_cifar_python_batch(folder / "test_batch")
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.array_equal(x[1, 2].ravel(), written["test_batch"][0][1, 2048:])  # blue plane
    assert y.tolist() == written["test_batch"][1]
    train_x, train_y, test_x, test_y, classes = images.SPECS["cifar10"].layouts[1].read(folder)
    assert train_x.shape == (15, 3, 32, 32) and train_y.tolist()[:3] == written["data_batch_1"][1]
    assert classes == list("abcdefghij")


def test_cifar_python_version_is_found_and_checked(monkeypatch, tmp_path):
    _write_cifar_py(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    with pytest.raises(data.ChecksumError, match="data_batch_1.*c99cafc152244af753f735de768cd75f"):
        data.load("cifar10")


# ---------------------------------------------------------------- eng-fra


def test_normalize():
    assert text.normalize("Ça va ?") == "ca va ?"
    assert text.normalize("I'm cold.") == "i m cold ."
    assert text.normalize("  Wow!!  ") == "wow ! !"
    assert text.normalize("Il a 18 ans, déjà.") == "il a ans deja ."
    assert text.normalize("Courez\u202f!") == "courez !"


def test_prepare_pairs():
    raw = [("I'm cold.", "J'ai froid."), ("He is a very tall man.", "C'est un homme très grand."),
           ("Go.", "Va !"), ("You're right.", "Vous avez raison.")]
    assert text.prepare_pairs(raw, max_length=5) == [
        ("i m cold .", "j ai froid ."), ("go .", "va !"), ("you re right .", "vous avez raison .")]
    assert len(text.prepare_pairs(raw, max_length=4)) == 1  # "go ." only: 4 words is not < 4
    assert text.prepare_pairs(raw, max_length=10, prefixes=text.ENG_PREFIXES) == [
        ("i m cold .", "j ai froid ."), ("he is a very tall man .", "c est un homme tres grand ."),
        ("you re right .", "vous avez raison .")]
    assert text.prepare_pairs(raw[:1], max_length=10, reverse=True) == [("j ai froid .", "i m cold .")]
    assert text.prepare_pairs([("Hear me.", "x")], max_length=10, prefixes=["he"]) == []  # whole words
    with pytest.raises(ValueError, match="max_length"):
        text.prepare_pairs(raw, max_length=0)


def test_split_pairs():
    pairs = [(str(i), str(i)) for i in range(100)]
    train, test = text.split_pairs(pairs, 0.2, seed=0)
    assert len(test) == 20 and len(train) == 80
    assert sorted(train + test) == sorted(pairs)
    assert text.split_pairs(pairs, 0.2, seed=0) == (train, test)
    assert text.split_pairs(pairs, 0.2, seed=1)[1] != test
    assert train == sorted(train, key=lambda p: int(p[0]))  # original order kept
    with pytest.raises(ValueError, match="test_fraction"):
        text.split_pairs(pairs, 1.0, seed=0)


@needs_real
def test_load_pairs_full(real_data, capsys):
    p = data.load_pairs("eng-fra")
    assert len(p) == 135842 and p.pairs[0] == ("Go.", "Va !")
    assert p.info["source"] == "full" and p.info["checksum"] == "sha256"
    assert p.info["sizes"] == {"pairs": 135842} and "CC BY 2.0" in p.info["licence"]
    assert "Tatoeba" in p.info["citation"] and "manythings.org" in p.info["citation"]
    assert "135842 sentence pairs" in capsys.readouterr().out
    few = data.load_pairs(size=50, seed=2)
    assert len(few) == 50 and few.pairs == data.load_pairs(size=50, seed=2).pairs
    assert set(few.pairs) <= set(p.pairs)


def test_load_pairs_sample(no_data, capsys):
    p = data.load_pairs("eng-fra")
    assert p.info["source"] == "sample" and len(p) == 8000
    assert "LABKIT_OFFLINE=1" in p.info["sample_reason"]
    assert "Using the embedded sample" in capsys.readouterr().err
    assert all(isinstance(e, str) and isinstance(f, str) for e, f in p.pairs)
    short = text.prepare_pairs(p.pairs, max_length=10, prefixes=text.ENG_PREFIXES)
    assert len(short) > 2000


@needs_real
def test_load_pairs_corrupt_and_downloaded(monkeypatch, tmp_path):
    # A corrupt file is an error and stays.
    bad = tmp_path / "bad" / "eng-fra" / "eng-fra.txt"
    bad.parent.mkdir(parents=True)
    bad.write_text("Go.\tVa !\n", encoding="utf-8")
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "bad"))
    with pytest.raises(data.ChecksumError, match="eng-fra.txt"):
        data.load_pairs()
    assert bad.exists()
    # The download path, from a real zip served by a file:// URL.
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.write(REAL / "eng-fra" / "eng-fra.txt", "data/eng-fra.txt")
    monkeypatch.setattr(text, "_URL", archive.as_uri())
    (tmp_path / "fresh").mkdir()
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "fresh"))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    p = data.load_pairs()
    assert p.info["source"] == "downloaded" and len(p) == 135842
    assert sorted(x.name for x in (tmp_path / "fresh" / "eng-fra").iterdir()) == ["eng-fra.txt"]
    assert sorted(x.name for x in (tmp_path / "fresh").iterdir()) == ["eng-fra"]  # no temporary left


def test_load_pairs_failed_download_falls_back(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(text, "_URL", (tmp_path / "nowhere.zip").as_uri())
    (tmp_path / "d").mkdir()
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "d"))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    p = data.load_pairs()
    assert p.info["source"] == "sample" and "download failed" in p.info["sample_reason"]
    assert p.info["checksum"] == "sample-sha256"
    assert "download failed" in capsys.readouterr().err
    assert not list((tmp_path / "d").iterdir())
    # LABKIT_DATA unset: the default ./data a failed download would have made is not left behind either
    monkeypatch.delenv("LABKIT_DATA")
    monkeypatch.chdir(tmp_path)
    assert data.load_pairs().info["source"] == "sample" and not (tmp_path / "data").exists()


@pytest.mark.parametrize("load", [lambda: data.load("mnist"), lambda: data.load_pairs()], ids=["images", "text"])
def test_a_data_folder_that_does_not_exist_is_named_as_a_typo_and_nothing_is_downloaded(monkeypatch, tmp_path,
                                                                                         capsys, load):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "dta"))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    monkeypatch.setattr(images, "_download", lambda *a: pytest.fail("a download was tried"))
    monkeypatch.setattr(text, "_download", lambda *a: pytest.fail("a download was tried"))
    loaded = load()
    assert loaded.info["source"] == "sample"
    assert f"LABKIT_DATA={tmp_path / 'dta'} is not an existing folder (a typo?)" in loaded.info["sample_reason"]
    assert "a typo?" in capsys.readouterr().err
    assert not (tmp_path / "dta").exists()


@pytest.mark.parametrize("load, full", [(lambda n: data.load("mnist", train_size=n, test_size=10).train, 60000),
                                        (lambda n: data.load_pairs(size=n), 135842)], ids=["images", "text"])
def test_image_and_text_loaders_treat_sizes_alike(no_data, capsys, load, full):
    loaded = load(9000)  # more than the embedded sample holds: all of it, with a note
    assert "is more than the" in capsys.readouterr().out
    with pytest.raises(ValueError, match=f"more than the {full}"):
        load(full + 1)
    with pytest.raises(ValueError, match="positive whole number or 'all'"):
        load(0)
    assert len(load("all")) == len(load(None)) == len(loaded)


@needs_real
def test_image_download_is_verified_before_anything_is_put_in_place(monkeypatch, tmp_path, capsys):
    import torchvision.datasets as tvd

    mirror = tmp_path / "mirror"
    shutil.copytree(REAL / "MNIST" / "raw", mirror, ignore=shutil.ignore_patterns("*ubyte"))
    _flip_last_byte(mirror / "t10k-labels-idx1-ubyte.gz")  # the last file fails its md5
    monkeypatch.setattr(tvd.MNIST, "mirrors", [mirror.as_uri() + "/"])
    root = tmp_path / "d"
    root.mkdir()
    monkeypatch.setenv("LABKIT_DATA", str(root))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    failed = data.load("mnist", train_size=100, test_size=100)
    assert failed.info["source"] == "sample" and "md5" in failed.info["sample_reason"]
    assert not list(root.iterdir())  # nothing unverified was left behind
    shutil.copy(REAL / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", mirror)
    loaded = data.load("mnist", train_size=100, test_size=100)
    assert loaded.info["source"] == "downloaded" and loaded.info["checksum"] == "md5"
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(images.SPECS["mnist"].layouts[0].files)
    assert sorted(p.name for p in root.iterdir()) == ["MNIST"]


def test_text_sample_header_is_checked(monkeypatch, tmp_path):
    shelf = tmp_path / "samples"
    shelf.mkdir()
    original = gzip.decompress((SHIPPED / "eng-fra.txt.gz").read_bytes())
    (shelf / "eng-fra.txt.gz").write_bytes(gzip.compress(original + b"Extra.\tEn plus.\n"))
    monkeypatch.setattr(embedded, "SAMPLE_DIR", shelf)
    with pytest.raises(data.ChecksumError, match="damaged"):
        embedded.read_text_sample()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_to_cuda(no_data):
    d = data.load("mnist", train_size=100, device="cuda")
    assert d.train.x.is_cuda and d.train.y.is_cuda and d.test.x.is_cuda
    assert not d.train.indices.is_cuda


def test_class_names_in_the_reports_language_one_place_for_every_lab():
    """vae's zh report showed Fashion-MNIST's classes as English stubs ("T-shir", "Ankle "); resnet kept
    CIFAR-10's Chinese names in a dict of its own."""
    from labkit import i18n
    from labkit.data.images import SPECS, class_names

    assert class_names("fashion_mnist", lang="zh")[0] == "T恤/上衣" and class_names("fashion_mnist", lang="zh")[-1] == "短靴"
    assert class_names("cifar10", lang="zh")[:4] == ["飞机", "汽车", "鸟", "猫"]
    assert class_names("mnist", lang="zh") == [str(d) for d in range(10)]
    assert class_names("cifar10", lang="en") == list(SPECS["cifar10"].classes)
    assert class_names("cifar10", ["cat", "unknown"], lang="zh") == ["猫", "unknown"]  # a subset, in any order
    for sp in SPECS.values():  # one Chinese name per class, short enough for class_histograms' 6-character ticks
        assert not sp.classes_zh or (len(sp.classes_zh) == len(sp.classes) and max(map(len, sp.classes_zh)) <= 6)
    i18n.set_language("zh")
    try:
        assert class_names("cifar10")[-1] == "卡车"
    finally:
        i18n.set_language("en")
    with pytest.raises(ValueError, match="unknown image dataset"):
        class_names("imagenet")
