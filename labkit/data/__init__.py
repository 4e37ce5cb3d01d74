"""Datasets for the labs: the real files when present, a download when possible,
an embedded sample otherwise, never silently.

    from labkit import data
    d = data.load("mnist", train_size=5000, seed=0)   # ImageData: d.train.x, d.train.y, d.classes, d.info
    p = data.load_pairs("eng-fra", size="all")        # TextPairs: p.pairs, p.info

"All the examples" is spelled ``"all"`` (:data:`ALL`) everywhere: in the
loaders and in the labs' profiles and parameters.

Data lives in :func:`data_dir` (``$LABKIT_DATA``, default ``./data``).
``LABKIT_OFFLINE=1`` skips download attempts. Cleaning and splitting the
sentence pairs: :mod:`labkit.data.text` (``normalize``, ``prepare_pairs``,
``split_pairs``). Reading the embedded samples: :mod:`labkit.data.embedded`;
rebuilding them: :mod:`labkit.data.samples`.
"""
from __future__ import annotations

from labkit.data.files import ChecksumError, DatasetUnavailable, data_dir
from labkit.data.subset import ALL
from labkit.plumbing import lazy_exports

#: names imported from the torch-based loaders on first use (PEP 562), so that the report's and the
#: grader's own processes can ask for :func:`data_dir` without importing torch (2 s)
_LAZY = {"DATASETS": "labkit.data.images", "ImageData": "labkit.data.images", "Split": "labkit.data.images",
         "load": "labkit.data.images", "TextPairs": "labkit.data.text", "load_pairs": "labkit.data.text"}

__all__ = [
    "load",
    "load_pairs",
    "ALL",
    "data_dir",
    "ImageData",
    "Split",
    "TextPairs",
    "ChecksumError",
    "DatasetUnavailable",
    "DATASETS",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
