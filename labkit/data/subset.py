"""Stratified, seeded subsets of a labelled split."""
from __future__ import annotations

import numpy as np


#: How every loader and profile says "all the examples": ``train_size="all"``.
ALL = "all"


def check_size(size: object, what: str) -> int | None:
    """A positive int, or None for :data:`ALL` (``"all"``); else ValueError naming ``what``.

    None is accepted as a synonym of ``"all"`` (the loaders' old spelling).
    """
    if size is None or size == ALL:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{what} must be a positive whole number or {ALL!r} (everything), got {size!r}")
    return int(size)


def fit_size(size: int | None, available: int, what: str, where: str, sample: bool) -> int | None:
    """``size`` checked against the ``available`` examples of ``where`` (None: all of them).

    More than the embedded sample holds (``sample``: the full data was not
    found) takes all of the sample, with a printed note, so every profile
    runs offline; more than the real data holds raises ValueError.
    """
    if size is None or size < available:
        return size
    if size == available:
        return None
    if sample:
        print(f"note: {what}={size} is more than the {available} examples in {where}: using all {available}")
        return None
    raise ValueError(f"{what}={size} is more than the {available} examples in {where}; "
                     f"ask for at most {available}, or {ALL!r} for all of them")


def stratified_indices(labels: np.ndarray, size: int, seed: int, stream: int = 0) -> np.ndarray:
    """Sorted positions of a class-stratified random subset of ``size`` examples.

    Each class gets a share of ``size`` proportional to its count in
    ``labels`` (largest remainders get the leftover examples), drawn at
    random without replacement. The same ``labels``, ``size``, ``seed`` and
    ``stream`` always give the same positions; ``stream`` keeps the draws of
    different splits (0 = train, 1 = test) independent under one seed.
    Raises ValueError when ``size`` exceeds ``len(labels)``.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if size > total:
        raise ValueError(f"asked for {size} examples but only {total} are available")
    if size == total:
        return np.arange(total)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * size / total
    take = np.floor(quota).astype(np.int64)
    leftover = size - int(take.sum())
    order = np.argsort(-(quota - take), kind="stable")  # ties: lower class first
    take[order[:leftover]] += 1
    rng = np.random.default_rng([int(seed), int(stream)])
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
        for c, k in zip(classes, take)
    ]
    return np.sort(np.concatenate(chosen))
