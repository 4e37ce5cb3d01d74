"""English–French sentence pairs for the seq2seq lab, and their preparation.

``load_pairs("eng-fra")`` gives the raw pairs; :func:`normalize`,
:func:`prepare_pairs` and :func:`split_pairs` turn them into the cleaned,
filtered, split data the lab trains on (the steps of the PyTorch tutorial
"NLP From Scratch: Translation with a Sequence to Sequence Network and
Attention", written anew here).
"""
from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from labkit.data.embedded import read_text_sample
from labkit.data.files import ChecksumError, data_dir, download, full_or_download, staging_folder, verify
from labkit.data.images import loaded_text
from labkit.data.subset import ALL, check_size, fit_size
from labkit.plumbing import atomic_write
from labkit.i18n import dataset_title, t
from labkit.records import DATASET_MIME, emit

#: The English beginnings the tutorial keeps (after :func:`normalize`, so "I'm" is "i m").
ENG_PREFIXES: tuple[str, ...] = (
    "i am", "i m", "he is", "he s", "she is", "she s",
    "you are", "you re", "we are", "we re", "they are", "they re",
)

#: The names :func:`load_pairs` accepts.
PAIR_DATASETS: tuple[str, ...] = ("eng-fra",)

_TITLE = "English–French sentence pairs (Tatoeba)"
_FOLDER, _FILE = "eng-fra", "eng-fra.txt"
_SHA256 = "6b0f3decdb78600485b58efb541f5a2ab69ba888742ac04180e013084e40de7c"
_FULL_PAIRS = 135842
_URL = "https://download.pytorch.org/tutorial/data.zip"
_ZIP_MEMBER = "data/eng-fra.txt"
_CITATION = (
    "Sentences from the Tatoeba Project (tatoeba.org), in the 'Tab-delimited Bilingual Sentence "
    "Pairs' export of www.manythings.org/anki (French–English), as shipped with the PyTorch tutorial "
    "'NLP From Scratch: Translation with a Sequence to Sequence Network and Attention'"
)
_LICENCE = "CC BY 2.0 FR (Creative Commons Attribution 2.0 France); attribution: tatoeba.org and www.manythings.org/anki"

_CACHE: dict[tuple, list[tuple[str, str]]] = {}
#: The info of the last :func:`load_pairs` in this process: the dataset a split is recorded against.
_LAST_LOADED: dict | None = None


@dataclass
class TextPairs:
    """Sentence pairs and their provenance.

    ``pairs`` is a list of ``(english, french)`` tuples: the raw lines of
    ``eng-fra.txt`` split on the tab, unchanged (see :func:`prepare_pairs`).
    ``info`` has the same fields as :attr:`labkit.data.ImageData.info`, with
    ``sizes = {"pairs": n}``.
    """

    pairs: list[tuple[str, str]]
    info: dict = field(repr=False)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"TextPairs({self.info['name']!r}, pairs={len(self.pairs)}, source={self.info['source']!r})"


# ------------------------------------------------------------- cleaning


def normalize(sentence: str) -> str:
    """Lower-case ASCII words and ``.!?`` marks separated by single spaces.

    Accents are stripped (Unicode NFD, combining marks dropped: "Ça va ?" ->
    "ca va ?"); ``.``, ``!`` and ``?`` become separate tokens; every other
    non-letter (digits, apostrophes, other punctuation, letters with no ASCII
    base such as "œ") becomes a space: "I'm cold." -> "i m cold .".
    """
    stripped = "".join(c for c in unicodedata.normalize("NFD", sentence) if unicodedata.category(c) != "Mn")
    spaced = re.sub(r"([.!?])", r" \1 ", stripped.lower())
    return re.sub(r"[^a-z.!?]+", " ", spaced).strip()


def has_prefix(english: str, prefixes: Iterable[str] = ENG_PREFIXES) -> bool:
    """True if the normalised ``english`` starts with one of ``prefixes`` as whole words."""
    return any(english == p or english.startswith(p + " ") for p in prefixes)


def prepare_pairs(
    pairs: Iterable[tuple[str, str]],
    *,
    max_length: int,
    prefixes: Sequence[str] | None = None,
    reverse: bool = False,
) -> list[tuple[str, str]]:
    """Normalise raw ``(english, french)`` pairs, filter them, optionally swap them.

    * Both sides go through :func:`normalize`.
    * A pair is kept only if **each** side has fewer than ``max_length``
      words, a word being a space-separated token of the normalised text
      (so ``.``, ``!`` and ``?`` count: "i am cold ." is 4 words and passes
      ``max_length=5`` but not ``max_length=4``).
    * With ``prefixes`` (e.g. :data:`ENG_PREFIXES`), the normalised English
      side must also start with one of them as whole words.
    * ``reverse=True`` returns ``(french, english)`` pairs (to translate
      French to English); filtering is the same either way.

    Order is preserved.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive whole number, got {max_length!r}")
    prefixes = tuple(normalize(p) for p in prefixes) if prefixes is not None else None
    kept = []
    for english, french in pairs:
        english, french = normalize(english), normalize(french)
        if len(english.split()) >= max_length or len(french.split()) >= max_length:
            continue
        if prefixes is not None and not has_prefix(english, prefixes):
            continue
        kept.append((french, english) if reverse else (english, french))
    return kept


def split_pairs(pairs: Sequence, test_fraction: float, seed: int) -> tuple[list, list]:
    """Split ``pairs`` into ``(train, test)`` at random, fixed by ``seed``.

    ``test`` gets ``round(len(pairs) * test_fraction)`` items (at least 1 and
    at most ``len(pairs) - 1``); both lists keep the original order.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    if len(pairs) < 2:
        raise ValueError(f"need at least 2 pairs to split, got {len(pairs)}")
    n_test = min(max(round(len(pairs) * test_fraction), 1), len(pairs) - 1)
    is_test = np.zeros(len(pairs), dtype=bool)
    is_test[np.random.default_rng(seed).permutation(len(pairs))[:n_test]] = True
    train = [p for p, test in zip(pairs, is_test) if not test]
    test = [p for p, test in zip(pairs, is_test) if test]
    return train, test


def record_use(train: int, test: int) -> None:
    """Record in the notebook the pairs an experiment uses of the last dataset :func:`load_pairs` read:
    a dataset output (MIME ``DATASET_MIME``) like the load's, with ``use = {"train": train, "test":
    test}``; the report's provenance appendix prints "8,000 read; used: train 567, test 63" for it.
    :func:`labkit.seq2seq.make_dataset` calls it with the pairs it is given (after any cap such as
    ``train_pairs[:300]``). Does nothing before any load."""
    if _LAST_LOADED is None:
        return
    info = {key: _LAST_LOADED[key] for key in ("name", "title", "source", "path", "checksum")}
    info["use"] = {"train": int(train), "test": int(test)}
    emit(DATASET_MIME, info, t("data.used_pairs", name=dataset_title(_LAST_LOADED), train=train, test=test))


# -------------------------------------------------------------- loading


def full_path(root: Path) -> Path:
    """Where the full ``eng-fra.txt`` is expected under data folder ``root``."""
    return Path(root) / _FOLDER / _FILE


def verify_full(path: Path) -> None:
    """Check ``eng-fra.txt`` against its known sha256 (raises ChecksumError)."""
    verify(path, _SHA256, "sha256")


def _parse(lines: Iterable[str], where: Path) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{where}, line {number}: expected 'English<TAB>French', got {line[:60]!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def _read_full(path: Path) -> list[tuple[str, str]]:
    verify_full(path)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        with open(path, encoding="utf-8") as f:
            _CACHE[key] = _parse(f, path)
    return _CACHE[key]


def _download(root: Path) -> None:
    """Fetch the tutorial's data.zip and put its verified eng-fra.txt in place (nothing else is kept).

    The archive goes to a temporary folder inside ``root``; ``eng-fra.txt``
    appears only after its sha256 matched, and a failure leaves nothing behind.
    """
    dest = full_path(root)
    with staging_folder(root) as tmp:
        archive = download(_URL, tmp / "data.zip")
        with zipfile.ZipFile(archive) as z:
            content = z.read(_ZIP_MEMBER)
    actual = hashlib.sha256(content).hexdigest()
    if actual != _SHA256:
        raise ChecksumError(f"{_URL} holds an {_FILE} with sha256 {actual}, expected {_SHA256}")
    atomic_write(dest, content)


#: What the ``checksum`` field of the pairs' info says was verified.
CHECKSUM_SHA256, CHECKSUM_SAMPLE = "sha256", "sample-sha256"


def load_pairs(name: str = "eng-fra", *, size: int | str | None = ALL, seed: int = 0) -> TextPairs:
    """Load the English–French sentence pairs as :class:`TextPairs`.

    Reads ``<data_dir()>/eng-fra/eng-fra.txt`` (checked against its sha256;
    a mismatch raises ChecksumError and the file is left alone). When it is
    missing, downloads the PyTorch tutorial's ``data.zip`` and puts the
    verified ``eng-fra.txt`` in place (a failed download leaves nothing; none
    is tried when ``$LABKIT_DATA`` names a folder that does not exist); when
    that fails, or ``LABKIT_OFFLINE=1``, uses the embedded sample (8,000 of
    the 135,842 lines, half of them starting with the tutorial's English
    prefixes), prints a warning and says why in ``info["sample_reason"]``.

    ``size`` keeps a random subset of that many pairs, drawn with ``seed``
    (``"all"``, the default, or None: every pair). Like
    :func:`labkit.data.load`: more than the full data holds raises
    ValueError; more than the embedded sample holds, when the sample is used,
    takes all of it and says so. ``info["checksum"]`` says what was verified
    (``"sha256"``: the file; ``"sample-sha256"``: the sample's content). The
    info is emitted into the notebook like :func:`labkit.data.load`'s.
    """
    if name not in PAIR_DATASETS:
        raise ValueError(f"unknown text dataset {name!r}; choose one of: {', '.join(PAIR_DATASETS)}")
    size = fit_size(check_size(size, "size"), _FULL_PAIRS, "size", _TITLE, sample=False)
    root = data_dir()
    path = full_path(root)
    source, reason = full_or_download(path.is_file, lambda: _download(root), f"no {path}")
    if source is not None:
        pairs, checksum = _read_full(path), CHECKSUM_SHA256
    else:
        lines, _, path = read_text_sample(name)
        pairs, source, checksum = _parse(lines, path), "sample", CHECKSUM_SAMPLE
        print(t("data.sample_warning", name=_TITLE, reason=reason), file=sys.stderr)

    size = fit_size(size, len(pairs), "size", f"the {source} {_TITLE}", sample=source == "sample")
    if size is not None:
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs), size=size, replace=False))
        pairs = [pairs[i] for i in keep]
    else:
        pairs = list(pairs)

    info = {
        "name": name,
        "title": _TITLE,
        "source": source,
        "path": str(path),
        "checksum": checksum,
        "sizes": {"pairs": len(pairs)},
        "full_sizes": {"pairs": _FULL_PAIRS},
        "citation": _CITATION,
        "licence": _LICENCE,
        "sample_reason": reason,
    }
    global _LAST_LOADED
    _LAST_LOADED = info
    emit(DATASET_MIME, info, loaded_text(info, "data.loaded_pairs", pairs=len(pairs)))
    return TextPairs(pairs=pairs, info=info)
