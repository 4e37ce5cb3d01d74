"""Stratified, seeded subsets of a labelled split."""
from __future__ import annotations

import numpy as np


def check_size(size: object, what: str) -> int | None:
    """Return ``size`` if it is None or a positive int, else raise ValueError."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{what} must be a positive whole number or None (everything), got {size!r}")
    return int(size)


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
