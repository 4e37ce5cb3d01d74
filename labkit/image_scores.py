"""A quantitative score for generated images: the "classifier FID" (vae and dcgan labs).

FID (Heusel et al., 2017) compares two sets of images through the features a
network extracts from them: fit a Gaussian to each set of features and take
the Fréchet distance between the two Gaussians. The original uses an
ImageNet Inception network, which neither fits the course's offline CPU
machines nor knows what a handwritten digit is. Here the feature extractor is
a small CNN the kit trains once per dataset on the real training set
(:func:`reference_classifier`) and caches; its penultimate layer (128
features, after ReLU) plays Inception's pool layer. The numbers are therefore
comparable within this kit (same dataset, same classifier settings), not with
published FIDs.

    from labkit import image_scores as scores
    clf = scores.reference_classifier("mnist", device=cfg.device)
    s = scores.image_score(samples, clf)        # samples: floats in [0, 1]
    s.fid, s.class_histogram, s.class_entropy   # lower FID is better; collapse -> low entropy
    scores.calibration(clf, "mnist")            # the scale: real vs real, real + noise

The class histogram of the classifier's predictions on the samples shows
mode collapse (a generator that draws only some classes): its entropy is
``ln 10 ≈ 2.303`` nats for ten balanced classes and 0 for a single class.
FID alone ranks a collapsed generator well (a few sharp digits sit close to
the real features), so :func:`score_table` and :func:`rank_scores` mark a set
of samples whose class entropy is below :data:`COLLAPSE_ENTROPY` (``ln 3``:
fewer than three effective classes) as collapsed and rank it after every run
that trained normally, as diverged runs are ranked (:func:`labkit.sweeps.rank`).

FID is biased upwards for small sample sizes (the covariance estimate is
noisy): compare settings scored with the same number of samples, and read the
calibration's floor (real train vs real test at that size) as the best score
achievable.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from labkit.plumbing import atomic_write, file_hash, short_error
from labkit.i18n import t
from labkit.records import format_number
from labkit.train import eval_mode

#: Bump when the network or the training recipe changes: old cache files are then ignored.
RECIPE_VERSION = 1
#: Default training epochs of the reference classifier (>= 99% test accuracy on full MNIST).
DEFAULT_EPOCHS = 2
FEATURES = 128
_BATCH = 128
_LR = 3e-3
_MEMO: dict[tuple, "ScoreClassifier"] = {}
#: The class entropy (nats) below which a set of generated images is **mode-collapsed**: ``ln 3 ≈ 1.10``.
#: ``exp(entropy)`` is the number of "effective classes" of the predicted-class histogram (its
#: perplexity): real test images of MNIST, Fashion-MNIST or CIFAR-10 give about 10 (entropy close to
#: ``ln 10 ≈ 2.30``, see :func:`calibration`), a generator that draws one class gives 1 (entropy 0).
#: Below 3 effective classes a set of samples has lost most of the data's classes, whatever its FID:
#: :func:`rank_scores` ranks it after the runs that trained normally and marks it "mode collapse".
#: A constant rather than a fraction of each classifier's real-data entropy because the three
#: datasets' test sets are balanced (ten classes, entropy ln 10) and each reference classifier
#: predicts them accurately (``ScoreClassifier.test_acc``), so its entropy on real images is close to
#: ln 10 for all three (the calibration's floor row shows it): the threshold is far below it.
COLLAPSE_ENTROPY = math.log(3)


# ------------------------------------------------------------------- the network


class ScoreNet(nn.Module):
    """The score classifier's CNN: two strided conv blocks, a 128-unit feature layer, a linear head.

    ``conv5x5/2(C→32) → BN → ReLU → conv3x3/2(32→64) → BN → ReLU → flatten
    → Linear(→128) → ReLU`` are the features; ``Linear(128→classes)`` the
    head. Inputs are floats in [0, 1], (N, C, H, W). Strided convolutions
    instead of pooling keep it cheap enough to train on a CPU in about a
    minute (2 epochs of MNIST: 99.2% test accuracy).
    """

    def __init__(self, channels: int, size: int, classes: int = 10, features: int = FEATURES) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 5, stride=2, padding=2), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * (-(-size // 4)) ** 2, features), nn.ReLU(),
        )
        self.head = nn.Linear(features, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.5) / 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ------------------------------------------------------------------- the classifier


@dataclass
class ScoreClassifier:
    """A trained reference classifier of one dataset (from :func:`reference_classifier`).

    ``test_acc`` is its accuracy on the real test set; ``info`` says how it
    was trained and where it is cached. ``reference_mean``/``reference_cov``
    are the Gaussian fit of its features on the real test set (the reference
    side of every :func:`image_score`).
    """

    dataset: str
    net: ScoreNet
    classes: list[str]
    shape: tuple[int, int, int]
    test_acc: float
    info: dict
    reference_mean: torch.Tensor = field(repr=False)
    reference_cov: torch.Tensor = field(repr=False)
    reference_n: int = 0

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def _images(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` as floats in [0, 1] of shape (N, C, H, W), or a ValueError that says why not."""
        if not torch.is_tensor(images):
            raise TypeError(f"images must be a torch tensor, got {type(images).__name__}")
        c, h, w = self.shape
        if images.dtype == torch.uint8:
            images = images.float() / 255
        images = images.detach().float()
        if images.dim() == 2 and images.shape[1] == c * h * w:
            images = images.reshape(-1, c, h, w)
        elif images.dim() == 3 and c == 1 and tuple(images.shape[1:]) == (h, w):
            images = images.unsqueeze(1)
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, h, w):
            raise ValueError(
                f"the {self.dataset} score classifier takes images of shape (N, {c}, {h}, {w}) or "
                f"(N, {c * h * w}), got {tuple(images.shape)}"
            )
        if len(images):
            low, high = torch.aminmax(images)
            if low.item() < -1e-3 or high.item() > 1 + 1e-3:
                raise ValueError(
                    f"images must be floats in [0, 1], got values in [{low.item():.3g}, {high.item():.3g}]; "
                    "for a tanh generator pass (x + 1) / 2"
                )
        return images

    @torch.no_grad()
    def _run(self, images: torch.Tensor, head: bool, batch_size: int = 1000) -> torch.Tensor:
        images = self._images(images)
        outs = []
        with eval_mode(self.net):
            for start in range(0, len(images), batch_size):
                x = images[start:start + batch_size].to(self.device)
                feats = self.net.features(x)
                outs.append((self.net.head(feats) if head else feats).float().cpu())
        width = len(self.classes) if head else self.net.head.in_features
        return torch.cat(outs) if outs else torch.empty(0, width)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, (N, 128) on the CPU. ``images``: floats in [0, 1] (or uint8)."""
        return self._run(images, head=False)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores, (N, classes) on the CPU."""
        return self._run(images, head=True)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted class indices, (N,) int64 on the CPU."""
        return self.logits(images).argmax(dim=1)


# ------------------------------------------------------------------- the distance


def gaussian_fit(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64, unbiased) of features (N, F); N must be at least 2."""
    feats = torch.as_tensor(feats).detach().to("cpu", torch.float64)
    if feats.dim() == 1:
        feats = feats[:, None]
    if feats.dim() != 2 or len(feats) < 2:
        raise ValueError(f"features must be a (N, F) tensor with N >= 2, got shape {tuple(feats.shape)}")
    return feats.mean(dim=0), torch.atleast_2d(torch.cov(feats.T))


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance_gaussians(mean_a: torch.Tensor, cov_a: torch.Tensor,
                               mean_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    """The squared Fréchet (2-Wasserstein) distance between N(mean_a, cov_a) and N(mean_b, cov_b).

    ``‖μa − μb‖² + tr(Σa) + tr(Σb) − 2 tr((Σa Σb)^½)``. The trace of the
    matrix square root is computed without scipy and without complex
    numbers: ``(Σa Σb)^½`` has the same eigenvalues as the symmetric
    positive semi-definite ``Σa^½ Σb Σa^½``, so ``tr((Σa Σb)^½)`` is the sum
    of the square roots of that matrix's eigenvalues (both square roots by
    symmetric eigendecomposition, negative round-off clamped to 0). float64.
    """
    mean_a, cov_a, mean_b, cov_b = (torch.as_tensor(t, dtype=torch.float64) for t in (mean_a, cov_a, mean_b, cov_b))
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return max(float(value), 0.0)


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """The Fréchet distance between Gaussian fits of two feature sets (N, F) and (M, F).

    As in FID, this is the *squared* distance (see
    :func:`frechet_distance_gaussians` for the formula and the method);
    0 for identical sets, symmetric, and in 1-D
    ``(μa − μb)² + (σa − σb)²``.
    """
    mean_a, cov_a = gaussian_fit(feats_a)
    mean_b, cov_b = gaussian_fit(feats_b)
    if mean_a.shape != mean_b.shape:
        raise ValueError(f"feature sets differ in width: {mean_a.shape[0]} vs {mean_b.shape[0]}")
    return frechet_distance_gaussians(mean_a, cov_a, mean_b, cov_b)


# ------------------------------------------------------------------- scores


@dataclass
class ImageScore:
    """The score of a set of images: classifier FID, predicted-class histogram and its entropy.

    ``fid``: squared Fréchet distance to the reference features (lower is
    better). ``class_histogram``: the fraction of images predicted as each
    class. ``class_entropy``: its entropy in nats (``ln 10 ≈ 2.303`` when
    all ten classes are equally frequent; low values mean mode collapse).
    ``n``: the number of images scored.
    """

    fid: float
    class_histogram: list[float]
    class_entropy: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def collapsed(self) -> bool:
        """True for mode collapse: a class entropy below :data:`COLLAPSE_ENTROPY` (see :func:`is_collapsed`)."""
        return is_collapsed(self.class_entropy)


def is_collapsed(entropy: float, threshold: float = COLLAPSE_ENTROPY) -> bool:
    """True when a class entropy (nats) means mode collapse: finite and below ``threshold``
    (default :data:`COLLAPSE_ENTROPY`, ``ln 3``: fewer than three effective classes). A NaN entropy
    (samples that are not finite: the training diverged) is not a collapse."""
    try:
        value = float(entropy)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and value < threshold


def class_entropy(histogram: Sequence[float]) -> float:
    """The entropy (nats) of a histogram of fractions."""
    probs = torch.as_tensor(list(histogram), dtype=torch.float64)
    probs = probs[probs > 0]
    return float(-(probs * probs.log()).sum()) if len(probs) else 0.0


def image_score(images: torch.Tensor, clf: ScoreClassifier, reference_images: torch.Tensor | None = None
                ) -> ImageScore:
    """Score ``images`` (floats in [0, 1], (N, C, H, W) or (N, C·H·W)) with ``clf``.

    The reference is the real test set of ``clf``'s dataset (its features'
    Gaussian fit is stored with the classifier), or ``reference_images``
    when given. Use the same number of images (1000 or more) for every
    setting you compare: FID grows as the sample shrinks.
    """
    if torch.is_tensor(images) and images.is_floating_point() and not bool(torch.isfinite(images).all()):
        _log(f"{len(images)} images contain NaN or inf values (did the training diverge?): score = nan")
        nan = float("nan")
        return ImageScore(fid=nan, class_histogram=[nan] * len(clf.classes), class_entropy=nan, n=len(images))
    feats = clf.features(images)
    reference = None if reference_images is None else gaussian_fit(clf.features(reference_images))
    return _score_features(feats, clf, reference)


def _score_features(feats: torch.Tensor, clf: ScoreClassifier,
                    reference: tuple[torch.Tensor, torch.Tensor] | None = None) -> ImageScore:
    with torch.no_grad():
        predicted = clf.net.head(feats.to(clf.device)).argmax(dim=1).cpu()
    counts = torch.bincount(predicted, minlength=len(clf.classes)).double()
    histogram = (counts / max(len(feats), 1)).tolist()
    ref_mean, ref_cov = reference if reference is not None else (clf.reference_mean, clf.reference_cov)
    mean, cov = gaussian_fit(feats)
    fid = frechet_distance_gaussians(mean, cov, ref_mean, ref_cov)
    return ImageScore(fid=fid, class_histogram=histogram, class_entropy=class_entropy(histogram), n=len(feats))


def rank_scores(table: pd.DataFrame, column: str = "fid", *, diverged: Iterable[Any] = (),
                entropy: str = "class_entropy", threshold: float = COLLAPSE_ENTROPY, ascending: bool = True,
                sort: bool = True) -> pd.DataFrame:
    """``table`` (one row per run, with a ``column`` score and an ``entropy`` column) ranked so that a
    degenerate run never comes first: the runs that trained normally, then the mode-collapsed ones
    (class entropy below ``threshold``, :func:`is_collapsed`), the least collapsed first (highest entropy),
    then the diverged ones; otherwise each group is sorted by ``column`` (lowest first unless
    ``ascending=False``; a NaN score last) through :func:`labkit.sweeps.rank`, with a ``rank`` column
    first (1 = best).

    Diverged rows: those named in ``diverged`` and those already marked True in the
    :data:`labkit.tables.DIVERGED` column (a :meth:`labkit.Sweep.table`). The result marks the degenerate
    rows in that column, True (diverged) or ``"collapsed"``, which :func:`labkit.show_table` prints as
    "diverged" / "发散" or "mode collapse" / "模式崩溃" under "note" / "备注" and never highlights as
    the best. Rows keep the table's order with ``sort=False``. Raises KeyError for a missing ``column``
    or ``entropy`` column or a ``diverged`` name that is not a row.
    """
    from labkit.sweeps import mark_diverged, rank
    from labkit.tables import DIVERGED

    for name in (column, entropy):
        if name not in table.columns:
            raise KeyError(f"no column {name!r} to rank by; columns: {', '.join(map(str, table.columns))}")
    marked = mark_diverged(table.drop(columns=["rank"], errors="ignore"), dict.fromkeys(diverged))
    flags = marked[DIVERGED] if DIVERGED in marked.columns else pd.Series(False, index=marked.index)
    bad = flags.map(lambda flag: not isinstance(flag, str) and not pd.isna(flag) and bool(flag)).to_numpy(dtype=bool)
    low = marked[entropy].map(lambda value: is_collapsed(value, threshold)).to_numpy(dtype=bool) & ~bad
    plain = marked.drop(columns=[DIVERGED], errors="ignore")
    parts, done = [], 0
    for rows in (~bad & ~low, low, bad):
        if rows.any():
            group = rank(plain[rows], column, ascending=ascending)
            if rows is low:  # the least collapsed first (most classes), then by score: FID alone put
                # samples of pure noise (entropy 0) first among collapsed runs
                spread = group[entropy].astype(float).fillna(-math.inf)
                group = group.loc[sorted(group.index, key=lambda row: (-spread[row], group.at[row, "rank"]))]
                group["rank"] = range(1, len(group) + 1)
            parts.append(group.assign(rank=group["rank"] + done))
            done += int(rows.sum())
    ranked = pd.concat(parts)
    if bad.any() or low.any():
        marks = pd.Series([True if b else ("collapsed" if c else False) for b, c in zip(bad, low)],
                          index=marked.index, dtype=object)
        ranked[DIVERGED] = marks.loc[ranked.index].to_numpy()
    return ranked if sort else ranked.loc[table.index]


def mark_scores(table: pd.DataFrame, column: str = "fid", *, diverged: Iterable[Any] = (),
                entropy: str = "class_entropy", threshold: float = COLLAPSE_ENTROPY) -> pd.DataFrame:
    """``table`` in its own row order and without a ``rank`` column, its degenerate rows marked exactly as
    :func:`rank_scores` marks them (the :data:`labkit.tables.DIVERGED` column: True for a diverged run,
    ``"collapsed"`` for a class entropy below ``threshold``; no column when no row needs one).

    For a table of generated-image scores whose rows are compared side by side rather than ranked (two
    recipes, an AE beside a VAE, a single conditional model): :func:`labkit.show_table` prints the mark
    under "note" / "备注". Raises KeyError as :func:`rank_scores` does.
    """
    return rank_scores(table, column, diverged=diverged, entropy=entropy, threshold=threshold,
                       sort=False).drop(columns=["rank"])


def score_table(scores: Mapping[str, ImageScore], sort: bool = True, diverged: Iterable[str] = ()) -> pd.DataFrame:
    """One row per setting: ``rank``, ``fid``, ``class_entropy`` and ``n``, ranked by :func:`rank_scores`:
    1 = lowest FID among the runs that trained normally; mode-collapsed runs (class entropy below
    :data:`COLLAPSE_ENTROPY`) after them, then the diverged ones (those named in ``diverged``, and every
    score whose FID is NaN: its samples were not finite), marked as :func:`rank_scores` marks them.

    Sorted by rank unless ``sort=False``. Show it with ``labkit.show_table``.
    """
    if not scores:
        raise ValueError("score_table needs at least one score")
    frame = pd.DataFrame([{"setting": label, "fid": s.fid, "class_entropy": s.class_entropy, "n": s.n}
                          for label, s in scores.items()]).set_index("setting")
    not_finite = [label for label, s in scores.items() if not math.isfinite(s.fid)]
    return rank_scores(frame, "fid", diverged=[*dict.fromkeys([*diverged, *not_finite])], sort=sort)


def class_histograms(scores: Mapping[str, ImageScore], classes: Sequence[str] | None = None, title: str | None = None):
    """A bar chart of each setting's predicted-class histogram (one panel per setting); returns the Figure.

    ``classes``: the class names for the x axis (whole, vertical when longer than 2 characters), else the
    class indices. Panel titles are the settings in the report's language (:func:`labkit.i18n.setting_label`).
    """
    import matplotlib.pyplot as plt

    from labkit.i18n import setting_label
    from labkit.plots import finish, wrap_text

    if not scores:
        raise ValueError("class_histograms needs at least one score")
    cols = min(len(scores), 4)
    rows = math.ceil(len(scores) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(scores):]:
        ax.axis("off")
    for ax, (label, s) in zip(axes.flat, scores.items()):
        names = list(classes) if classes is not None else [str(i) for i in range(len(s.class_histogram))]
        ax.bar(range(len(s.class_histogram)), s.class_histogram, color="tab:blue")
        ax.axhline(1 / len(s.class_histogram), color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(names)), names, fontsize=6, rotation=90 if max(map(len, names)) > 2 else 0)
        # a long name (several runs in one) on lines of the panel's width, measured (Chinese included)
        name = wrap_text(fig, fig.canvas.get_renderer(), str(setting_label(label)),
                         ax.get_position().width * fig.get_size_inches()[0], 8)
        ax.set_title(f"{name}\nH={format_number(s.class_entropy, decimals=2)}, FID={format_number(s.fid, 3)}", fontsize=8)
    return finish(fig, title)


def add_noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Images (floats in [0, 1]) plus Gaussian noise of standard deviation ``std``, clipped to [0, 1]."""
    if std == 0:
        return images
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    return (images + std * noise).clamp(0, 1)


def calibration(clf: ScoreClassifier, dataset: Any = None,
                noise_levels: Sequence[float] = (0.0, 0.1, 0.2, 0.4, 0.8), n: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """The scale of the score: real training images, clean and with increasing noise, against the test set.

    ``dataset`` is a ``labkit.data`` ImageData (its training split is used)
    or a dataset name (None: the classifier's). ``n`` training images are
    drawn (stratified, ``seed``); each noise level adds Gaussian noise of
    that standard deviation (then clips to [0, 1]). Noise 0 is the floor:
    the score of real images, the best a generator can hope for at this
    sample size. Returns a table with ``noise_std``, ``fid``,
    ``class_entropy``, ``acc`` (the classifier's accuracy on those images)
    and ``n``, one row per level.
    """
    from labkit import data

    if dataset is None or isinstance(dataset, str):
        name = dataset or clf.dataset
        if name != clf.dataset:
            raise ValueError(f"the classifier was trained on {clf.dataset!r}, not {name!r}")
        dataset = data.load(name, train_size=n, seed=seed)
    x, y = dataset.train.x, dataset.train.y
    if len(x) > n:
        x, y = x[:n], y[:n]
    images = x.float().cpu() / 255 if x.dtype == torch.uint8 else x.float().cpu()
    rows = []
    for i, std in enumerate(noise_levels):
        feats = clf.features(add_noise(images, float(std), seed=seed + i))
        s = _score_features(feats, clf)
        with torch.no_grad():
            predicted = clf.net.head(feats.to(clf.device)).argmax(dim=1).cpu()
        acc = float((predicted == y.cpu()).double().mean())
        label = t("scores.floor") if std == 0 else t("scores.noise", std=f"{std:g}")
        rows.append({"setting": label, "noise_std": float(std), "fid": s.fid,
                     "class_entropy": s.class_entropy, "acc": acc, "n": s.n})
    return pd.DataFrame(rows).set_index("setting")


# ------------------------------------------------------------------- training and caching


def _digest_tensors(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(str((array.dtype, array.shape)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _cache_path(dataset: str, key: dict) -> Path:
    from labkit.cache import cache_dir

    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "scores" / f"{dataset}-{name}.pt"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _save(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    atomic_write(path, payload)
    atomic_write(_sidecar(path), f"{hashlib.sha256(payload).hexdigest()}  {path.name}\n")


def _load(path: Path, log) -> dict | None:
    """The cached state, or None when absent; a corrupt file is reported and ignored (then retrained)."""
    if not path.is_file():
        return None
    sidecar = _sidecar(path)
    expected = sidecar.read_text().split()[0] if sidecar.is_file() and sidecar.read_text().strip() else None
    actual = file_hash(path)
    if expected != actual:
        why = "its checksum file is missing" if expected is None else f"sha256 {actual[:12]}… != {expected[:12]}…"
        log(f"score classifier cache {path} is corrupt ({why}); retraining it")
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a matching checksum but unreadable: written by an incompatible torch
        log(f"score classifier cache {path} could not be read ({short_error(error)}); retraining it")
        return None


def _log(message: str) -> None:
    print(f"[labkit.image_scores] {message}", file=sys.stderr)


def _train(dataset, epochs: int, seed: int, device: torch.device, log) -> tuple[ScoreNet, dict]:
    from labkit.train import classify, fit

    channels, height, _ = dataset.train.x.shape[1:]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = ScoreNet(channels, height, len(dataset.classes)).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=_LR)
        steps = epochs * -(-len(dataset.train) // _BATCH)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=_LR, total_steps=steps, pct_start=0.2)
        started = time.perf_counter()
        history = fit(net, dataset.train, dataset.test, loss=classify(), optimizer=optimizer, epochs=epochs,
                      batch_size=_BATCH, scheduler=scheduler, scheduler_per="batch", seed=seed,
                      name=f"score classifier ({dataset.name})", progress_bar=False)
    seconds = time.perf_counter() - started
    log(f"trained the {dataset.name} score classifier in {seconds:.0f} s: "
        f"test accuracy {history.last('test_acc'):.4f}")
    return net, {"test_acc": history.last("test_acc"), "train_seconds": seconds,
                 "history": history.rows}


def reference_classifier(dataset: str, *, device: str | torch.device | None = None, epochs: int | None = None,
                         train_size: int | str | None = "all", seed: int = 0, log=_log) -> ScoreClassifier:
    """The reference classifier of ``dataset``, trained once by the kit and cached.

    ``dataset``: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``. The
    :class:`ScoreNet` is trained with Adam (one-cycle schedule, batch 128)
    for ``epochs`` (default :data:`DEFAULT_EPOCHS`; ≥ 99% test accuracy on
    full MNIST) on the real training set of ``labkit.data.load(dataset)``
    (``train_size`` images, or ``"all"``, the default: smaller settings are
    for tests and smoke runs), evaluated on the whole test set, and saved under
    ``labkit.cache.cache_dir()/scores/`` with a ``.sha256`` sidecar.
    The file name is keyed by the dataset, the data's source and a sha256 of
    its content, and the training settings, so changing any of them trains a
    new classifier. A cache file whose checksum does not match is reported
    and replaced by a fresh training. Within a process the classifier is
    also kept in memory. Training does not disturb the caller's random
    number generators. ``device=None`` picks CUDA/MPS/CPU like ``labkit.start``.
    """
    from labkit import data
    from labkit.device import pick_device

    if dataset not in data.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(data.DATASETS)}")
    epochs = DEFAULT_EPOCHS if epochs is None else int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = pick_device("auto") if device is None else torch.device(device)
    loaded = data.load(dataset, train_size=train_size, seed=seed)
    data_sha = _digest_tensors(loaded.train.x, loaded.train.y, loaded.test.x, loaded.test.y)
    key = {"dataset": dataset, "source": loaded.info["source"], "data_sha256": data_sha, "epochs": epochs,
           "train_size": len(loaded.train), "seed": seed, "recipe": RECIPE_VERSION}
    memo_key = (json.dumps(key, sort_keys=True), str(device))
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    path = _cache_path(dataset, key)
    state = _load(path, log)
    channels, height, width = loaded.train.x.shape[1:]
    net = ScoreNet(channels, height, len(loaded.classes))
    if state is not None and state.get("key") == key:
        net.load_state_dict(state["model"])
        net.to(device).eval()
        info = dict(state["info"], cache=str(path), from_cache=True)
        mean, cov, ref_n = state["reference_mean"], state["reference_cov"], state["reference_n"]
    else:
        log(f"training the {dataset} score classifier once ({epochs} epochs on {len(loaded.train)} images); "
            f"it is cached in {path}")
        trained, result = _train(loaded, epochs, seed, device, log)
        net.load_state_dict({k: v.cpu() for k, v in trained.state_dict().items()})
        net.to(device).eval()
        partial = ScoreClassifier(dataset, net, list(loaded.classes), (channels, height, width), 0.0, {},
                                  torch.zeros(FEATURES), torch.eye(FEATURES))
        mean, cov = gaussian_fit(partial.features(loaded.test.x))
        ref_n = len(loaded.test)
        info = {**key, "test_acc": result["test_acc"], "test_size": ref_n, "train_seconds": result["train_seconds"],
                "data_path": loaded.info["path"], "features": FEATURES, "torch": torch.__version__,
                "history": result["history"]}
        _save(path, {"key": key, "model": net.state_dict(), "info": info, "reference_mean": mean,
                     "reference_cov": cov, "reference_n": ref_n})
        info = dict(info, cache=str(path), from_cache=False)
    clf = ScoreClassifier(dataset, net, list(loaded.classes), (channels, height, width), float(info["test_acc"]),
                          info, mean, cov, ref_n)
    _MEMO[memo_key] = clf
    return clf


def clear_memory() -> None:
    """Forget the classifiers kept in memory (the next call reads the cache file again)."""
    _MEMO.clear()
