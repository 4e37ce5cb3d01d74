"""The one training loop every lab uses: :func:`fit`.

The data stays on the device as tensors and is batched by index, so there is
no per-sample Python work; batch statistics are summed on the device and read
back once per epoch, so there is no per-step host synchronisation. Each epoch
appends a row to a :class:`History` (train and test loss and metrics).

Two ways to describe a training step, one loop:

* ``loss(model, x, y)`` returns the mean loss of the batch (or ``(loss,
  {"metric": value})``); :func:`fit` does ``zero_grad``, ``backward`` and
  ``optimizer.step``. :func:`classify` turns a criterion such as
  ``nn.CrossEntropyLoss()`` into such a function that also reports accuracy.
* ``step(model, x, y)`` does its own updates (GANs: a discriminator step, then
  a generator step) and returns a dict of batch means to record.

With ``checkpoint=PATH`` the full training state (model, optimizers,
scheduler, history and every random generator) is saved after each epoch;
``resume=True`` continues from it with the same epoch numbering, and gives
the same result as a run that was never interrupted.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from labkit import threads
from labkit.device import model_device
from labkit.plumbing import atomic_path
from labkit.progress import progress
from labkit.records import format_number

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], Any]
Prepare = Callable[[torch.Tensor, torch.Tensor, bool], Batch]


#: The run of a sweep being trained: set by :func:`labkit.sweep` (and ``Sweep.run``) around its train
#: function, so that :func:`fit`'s progress bar names the setting ("optimizer=adam, rate=shared")
#: rather than the model every run of the sweep shares ("mlp").
_SWEEP_RUN: contextvars.ContextVar[str | None] = contextvars.ContextVar("labkit_sweep_run", default=None)


@contextlib.contextmanager
def sweep_run(name: str) -> Iterator[None]:
    """Within this block, :func:`fit`'s progress bars are labelled ``name`` (a sweep's run)."""
    token = _SWEEP_RUN.set(name)
    try:
        yield
    finally:
        _SWEEP_RUN.reset(token)


#: An epoch's mean training loss above this multiple of the loss at the start marks a run as diverged
#: (:meth:`History.diverged`).
BLOW_UP = 10.0


@dataclass
class History:
    """Per-epoch results of one training run.

    ``rows`` holds one dict per epoch: ``epoch``, ``train_<metric>``,
    ``test_<metric>`` and ``seconds``. ``summary`` holds extra final numbers a
    lab adds (a score, a parameter count) so sweep tables can show them.
    ``start`` holds the values of the very first training batch, computed
    before any update (``{"loss": 543.2, ...}``, set by :func:`fit`): the
    loss at the start of training, which :meth:`diverged` compares with.
    """

    name: str = ""
    rows: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    start: dict[str, float] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """The number of the last completed epoch (0 before training)."""
        return int(self.rows[-1]["epoch"]) if self.rows else 0

    def __getitem__(self, key: str) -> list[float]:
        """The values of ``key`` per epoch, e.g. ``history["test_acc"]``."""
        return [row[key] for row in self.rows if key in row]

    def __contains__(self, key: str) -> bool:
        return any(key in row for row in self.rows) or key in self.summary

    def last(self, key: str) -> Any:
        """The final value of ``key`` (from the last epoch, or from ``summary``)."""
        if key in self.summary:
            return self.summary[key]
        values = self[key]
        if not values:
            raise KeyError(f"{key!r} was not recorded; available: {sorted(self.keys())}")
        return values[-1]

    def keys(self) -> list[str]:
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row))
        names.update(dict.fromkeys(self.summary))
        return list(names)

    def truncated(self, epochs: int) -> "History":
        """A copy holding only the first ``epochs`` epochs (a shorter run of the same training)."""
        if epochs > self.epochs:
            raise ValueError(f"history has {self.epochs} epochs, cannot truncate to {epochs}")
        return History(self.name, [dict(r) for r in self.rows if r["epoch"] <= epochs], {}, dict(self.start))

    def diverged(self, key: str = "loss") -> bool:
        """Whether the run diverged: a training value (``train_*`` of any epoch, or of the first batch)
        is NaN or infinite, or the loss at the end of training is not below its value at the start
        (``start[key]``, the first batch's, before any update). The loss at the end is the last
        evaluation's ``test_<key>`` (measured after the last update) when the run was evaluated, else
        the last epoch's ``train_<key>`` (the mean over its batches: in a one-epoch run it includes the
        first batches, and a loss that starts near its minimum, like a KL-only VAE's, ends above its
        first batch's value while the model trained). A run also diverged when an epoch's mean training
        loss exceeded :data:`BLOW_UP` (10) times the start value: it blew up, even if the loss came back
        below the start by the end (a VAE at lr=0.1: a mean of 3.2e4 nats against 543 at the start,
        then 383 on the test set, its samples white blobs).

        A run that did not train at all (0 epochs) has not diverged; without a start value (a history
        made by hand, or one from an older checkpoint) only the non-finite test applies. Used by
        :class:`labkit.Sweep` to mark such runs and rank them after the runs that trained.
        """
        values = [v for row in self.rows for k, v in row.items() if k.startswith("train_")]
        values += list(self.start.values())
        if any(isinstance(v, (int, float)) and not math.isfinite(v) for v in values):
            return True
        final = self[f"test_{key}"] or self[f"train_{key}"]
        if final and not math.isfinite(final[-1]):
            return True
        start = self.start.get(key)
        if start is not None and start > 0 and any(v > BLOW_UP * start for v in self[f"train_{key}"]):
            return True
        return bool(final) and key in self.start and not final[-1] < self.start[key]

    def frame(self) -> pd.DataFrame:
        """The history as a table, one row per epoch."""
        return pd.DataFrame(self.rows)

    def final(self) -> dict[str, Any]:
        """The last epoch's values (without ``epoch``/``seconds``) plus ``summary``."""
        row = {k: v for k, v in (self.rows[-1] if self.rows else {}).items() if k not in ("epoch", "seconds")}
        row["seconds"] = sum(self["seconds"])
        row.update(self.summary)
        return row


def classify(criterion: nn.Module | Callable | None = None, log_softmax: bool = False) -> LossFn:
    """A loss function for classifiers that also reports accuracy (``acc``).

    ``criterion`` gets the model's raw outputs (logits) and integer labels;
    the default is ``nn.CrossEntropyLoss()``. With ``log_softmax=True`` the
    outputs are passed through ``log_softmax`` first, as ``nn.NLLLoss`` needs.
    A criterion that needs one-hot targets (e.g. ``nn.MSELoss``) is given
    them automatically. (Pitfall from the source reports: never put a Softmax
    layer in front of ``CrossEntropyLoss`` — it applies log-softmax itself.)
    """
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    one_hot = isinstance(criterion, (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss))

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        out = model(x)
        scores = torch.log_softmax(out, dim=1) if log_softmax else out
        target = nn.functional.one_hot(y, out.shape[1]).to(out.dtype) if one_hot else y
        value = criterion(scores, target)
        acc = (out.argmax(dim=1) == y).float().mean()
        return value, {"acc": acc}

    return loss


def to_float(x: torch.Tensor, y: torch.Tensor, train: bool) -> Batch:
    """The default ``prepare``: uint8 images become floats in [0, 1]."""
    return (x.float().div_(255) if x.dtype == torch.uint8 else x), y


def standardize(mean: float | tuple = 0.0, std: float | tuple = 1.0) -> Prepare:
    """A ``prepare`` that scales uint8 images to [0, 1], then standardises per channel.

    >>> prepare = standardize(0.1307, 0.3081)  # MNIST's mean and std
    """
    def prepare(x: torch.Tensor, y: torch.Tensor, train: bool) -> Batch:
        x, y = to_float(x, y, train)
        m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(1, -1, *([1] * (x.dim() - 2)))
        s = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(1, -1, *([1] * (x.dim() - 2)))
        return (x - m) / s, y

    return prepare


def _pair(data: Any) -> Batch:
    if data is None:
        return None
    if hasattr(data, "x") and hasattr(data, "y"):
        return data.x, data.y
    x, y = data
    return x, y


def _optimizers(optimizer: Any) -> dict[str, torch.optim.Optimizer]:
    if optimizer is None:
        return {}
    if isinstance(optimizer, torch.optim.Optimizer):
        return {"optimizer": optimizer}
    if isinstance(optimizer, Mapping):
        return dict(optimizer)
    return {f"optimizer{i}": o for i, o in enumerate(optimizer)}


def _unpack(result: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    if isinstance(result, tuple):
        value, metrics = result
        return value, dict(metrics)
    return result, {}


class _Totals:
    """Batch means summed on the device, weighted by batch size; read once per epoch."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, values: Mapping[str, torch.Tensor], n: int) -> None:
        for key, value in values.items():
            if key in self.sums and torch.is_tensor(value) and value.device == self.sums[key].device:
                self.sums[key].add_(value.detach(), alpha=n)  # one in-place op per metric and step
                continue
            value = value.detach().float() * n if torch.is_tensor(value) else torch.tensor(float(value) * n)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += n

    def means(self, prefix: str) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        stacked = torch.stack([self.sums[k].reshape(()) for k in keys]).cpu()  # the one sync
        return {f"{prefix}_{k}": float(v) / self.count for k, v in zip(keys, stacked)}


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for a block, then restore every submodule's own mode.

    Dropout is off and batch norm uses its running statistics inside the
    block; afterwards each submodule is in the mode it was in before (a
    frozen, eval-mode submodule of a training model stays in eval mode), also
    when the block raises. It does not turn off gradients: combine it with
    ``torch.no_grad()`` for inference.

    >>> with eval_mode(net), torch.no_grad():  # doctest: +SKIP
    ...     samples = net.decode(z)
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def evaluate(model: nn.Module, data: Any, loss: LossFn, *, batch_size: int = 1024,
             prepare: Prepare = to_float, device: torch.device | None = None, bf16: bool = False,
             prefix: str = "test") -> dict[str, float]:
    """Mean loss and metrics of ``loss`` over ``data`` in eval mode, e.g. ``{"test_loss": ..., "test_acc": ...}``."""
    device = device or model_device(model)
    x_all, y_all = _pair(data)
    totals = _Totals()
    with eval_mode(model):
        for start in range(0, len(x_all), batch_size):
            x = x_all[start:start + batch_size].to(device, non_blocking=True)
            y = y_all[start:start + batch_size].to(device, non_blocking=True)
            x, y = prepare(x, y, False)
            with _autocast(device, bf16):
                value, metrics = _unpack(loss(model, x, y))
            totals.add({"loss": value, **metrics}, len(x))
    return totals.means(prefix)


@torch.no_grad()
def predict(model: nn.Module, x_all: torch.Tensor, *, batch_size: int = 1024, prepare: Prepare = to_float,
            device: torch.device | None = None, fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None
            ) -> torch.Tensor:
    """``model(x)`` (or ``fn(model, x)``) over ``x_all`` in batches, in eval mode, concatenated on the CPU."""
    device = device or model_device(model)
    outs = []
    with eval_mode(model):
        for start in range(0, len(x_all), batch_size):
            x = x_all[start:start + batch_size].to(device)
            x, _ = prepare(x, torch.zeros(len(x), dtype=torch.long, device=device), False)
            outs.append((fn(model, x) if fn else model(x)).float().cpu())
    return torch.cat(outs)


def _state(model, optimizers, scheduler, history, generator, epoch) -> dict:
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": {"name": history.name, "rows": history.rows, "summary": history.summary,
                    "start": history.start},
        "rng": {"torch": torch.get_rng_state(), "batches": generator.get_state()},
    }
    if torch.cuda.is_available():
        state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` atomically (a crash never leaves a half-written checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _restore(path: Path, model, optimizers, scheduler, generator) -> History:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    missing = set(state["optimizers"]) ^ set(optimizers)
    if missing:
        raise ValueError(f"checkpoint {path} has optimizers {sorted(state['optimizers'])}, "
                         f"but fit was given {sorted(optimizers)}")
    for key, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][key])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    generator.set_state(state["rng"]["batches"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    saved = state["history"]
    return History(saved["name"], list(saved["rows"]), dict(saved["summary"]), dict(saved.get("start", {})))


def fit(model: nn.Module, train: Any, test: Any = None, *, epochs: int, batch_size: int,
        loss: LossFn | None = None, optimizer: Any = None, step: Callable[..., Mapping] | None = None,
        prepare: Prepare = to_float, scheduler: Any = None, scheduler_per: str = "epoch",
        eval_batch_size: int = 1024, bf16: bool = False, seed: int = 0, drop_last: bool = False,
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        on_epoch_end: Callable[[int, History], None] | None = None,
        name: str = "", progress_bar: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Parameters
    ----------
    train, test
        Objects with tensors ``.x`` and ``.y`` (a ``labkit.data`` split) or
        ``(x, y)`` tuples; moved to the model's device once. ``test`` may be None.
    loss
        ``loss(model, x, y) -> loss`` or ``(loss, {name: value})``: batch means.
        Used for training (with ``optimizer``) and for the test evaluation.
    optimizer
        A torch optimizer, updated by fit; with ``step``, the optimizers the
        step uses (one, a list or a dict) so that checkpoints include them.
    step
        ``step(model, x, y) -> {name: value}`` for loops that update
        themselves (GANs). Mutually exclusive with fit doing the update.
    prepare
        ``prepare(x, y, train) -> (x, y)`` on the device for each batch:
        scaling, normalisation, flattening, augmentation (when ``train``).
    scheduler, scheduler_per
        A learning-rate scheduler stepped every ``"epoch"`` or ``"batch"``.
    bf16
        bfloat16 autocast on CUDA (ignored elsewhere).
    seed
        Seeds the order of the batches (model initialisation is seeded by
        ``labkit.start`` / ``seed_everything`` before the model is built).
    checkpoint, resume
        Save the state after each epoch to ``checkpoint``; with ``resume``,
        continue from it (epochs counted from the start: ``epochs=10`` after
        a checkpoint at epoch 4 trains epochs 5..10).
    on_epoch_end
        ``on_epoch_end(epoch, history)`` after each epoch (e.g. save samples).
    name, progress_bar
        The run's name (``History.name``) and whether to show a text progress bar; the bar is
        labelled with the sweep's run when :func:`labkit.sweep` is training one, else ``name``.
    """
    if step is None and loss is None:
        raise ValueError("fit needs either loss= (with optimizer=) or step=")
    if step is None and optimizer is None:
        raise ValueError("fit(loss=...) needs an optimizer= to update the model")
    if step is None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError("with loss=, pass a single torch optimizer; for several optimizers write a step=")
    if scheduler_per not in ("epoch", "batch"):
        raise ValueError("scheduler_per must be 'epoch' or 'batch'")
    device = model_device(model)
    x_train, y_train = (t.to(device) for t in _pair(train))
    test_pair = None if test is None else tuple(t.to(device) for t in _pair(test))
    optimizers = _optimizers(optimizer)
    generator = torch.Generator()
    generator.manual_seed(seed)
    history = History(name=name)
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs checkpoint=PATH")
        if Path(checkpoint).exists():
            history = _restore(Path(checkpoint), model, optimizers, scheduler, generator)
    n = len(x_train)
    steps = n // batch_size if drop_last else -(-n // batch_size)
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the {n} training examples with drop_last=True")
    first = history.epochs + 1
    bar = progress(max(0, epochs - history.epochs) * steps, desc=_SWEEP_RUN.get() or name or "train",
                   enabled=progress_bar)
    for epoch in range(first, epochs + 1):
        started = time.perf_counter()
        model.train()
        totals = _Totals()
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(steps):
            threads.adapt()  # fewer threads while other work competes for the cores (labkit.threads)
            idx = order[i * batch_size:(i + 1) * batch_size]
            # index_select copies whole rows (x_train[idx] gathers element by element: 10-17x slower on the CPU)
            x, y = prepare(x_train.index_select(0, idx), y_train.index_select(0, idx), True)
            if step is not None:
                with _autocast(device, bf16):
                    values = dict(step(model, x, y))
            else:
                with _autocast(device, bf16):
                    value, metrics = _unpack(loss(model, x, y))
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                values = {"loss": value, **metrics}
            if scheduler is not None and scheduler_per == "batch":
                scheduler.step()
            if not history.start:  # the loss at the start of training (computed before the first update)
                history.start = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in values.items()}
            totals.add(values, len(idx))
            bar.update(1)
        if scheduler is not None and scheduler_per == "epoch":
            scheduler.step()
        row: dict[str, float] = {"epoch": epoch, **totals.means("train")}
        if test_pair is not None and loss is not None:
            row.update(evaluate(model, test_pair, loss, batch_size=eval_batch_size, prepare=prepare,
                                device=device, bf16=bf16))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        row["seconds"] = time.perf_counter() - started
        history.rows.append(row)
        bar.set_postfix_str(_postfix(row), refresh=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if checkpoint is not None:
            save_checkpoint(checkpoint, _state(model, optimizers, scheduler, history, generator, epoch))
    bar.close()
    return history


def _postfix(row: Mapping[str, float]) -> str:
    """``ep 3 loss 0.41/0.45 acc 0.88/0.86``: the first two train/test pairs, kept short for the bar."""
    parts = [f"ep {int(row['epoch'])}"]
    names = [k[len("train_"):] for k in row if k.startswith("train_")]
    for metric in names[:2]:
        test = row.get(f"test_{metric}")
        parts.append(f"{metric} {format_number(row[f'train_{metric}'], 3)}"
                     + (f"/{format_number(test, 3)}" if test is not None else ""))
    return " ".join(parts)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def histories_table(histories: Mapping[str, History] | Iterable[History], metrics: Iterable[str] | None = None,
                    index: str = "setting") -> pd.DataFrame:
    """One table of several runs: one row per run (named by its key, or ``History.name``), the final values.

    The columns are each run's :meth:`History.final` values (the last epoch's
    metrics, the total ``seconds``, and the ``summary`` numbers), or only
    ``metrics`` when given (a run without one of them shows NaN). The index is
    called ``index`` (``"setting"``, ``"model"``...: :func:`labkit.show_table`
    translates the names it knows). An empty input gives an empty table.
    """
    items = list(histories.items() if isinstance(histories, Mapping) else ((h.name, h) for h in histories))
    wanted = list(metrics) if metrics is not None else None
    rows = []
    for key, history in items:
        final = history.final()
        rows.append({index: key, **({k: final.get(k, float("nan")) for k in wanted} if wanted is not None else final)})
    columns = [index, *(wanted or [])] if not rows else None
    return pd.DataFrame(rows, columns=columns).set_index(index)


def curves_gap(first: History, second: History,
               keys: Sequence[str] = ("train_loss", "test_loss", "train_acc", "test_acc")) -> float:
    """The largest absolute difference, over every epoch, between two runs' per-epoch values of
    ``keys`` (those both runs recorded): 0 for curves that coincide (two models that compute the same
    thing from the same weights, e.g. the seq2seq lab's hand-written GRU and ``nn.GRU``: one then hides
    the other in a figure). Units: those of the values
    (nats for a loss, a fraction for an accuracy).

    Raises ValueError when the runs share none of ``keys`` or have different numbers of epochs.
    """
    common = [key for key in keys if key in first and key in second]
    if not common:
        raise ValueError(f"the two runs share none of the curves {', '.join(keys)}")
    gap = 0.0
    for key in common:
        a, b = first[key], second[key]
        if len(a) != len(b):
            raise ValueError(f"{key}: {len(a)} epochs vs {len(b)}; compare runs of the same length")
        gap = max([gap] + [abs(float(x) - float(y)) for x, y in zip(a, b)])
    return gap


@dataclass(frozen=True)
class LossRise:
    """What :func:`loss_rise` measured on one curve: where it is lowest, how much it rose after, and the verdict.

    ``verdict`` is one of ``"rises"`` (at least ``patience`` epochs follow the lowest value and the last
    exceeds it by more than ``tolerance``: ``epoch`` is the first epoch after the lowest),
    ``"within_tolerance"`` (enough epochs follow, but the last is at most ``tolerance`` above the lowest),
    ``"too_few_epochs"`` (fewer than ``patience`` epochs follow the lowest: nothing can be said),
    ``"lowest_at_end"`` (the last epoch is the lowest: no rise) or ``"no_data"`` (an empty curve).
    ``change`` is the relative rise of the last value over the lowest (0.003 = 0.3 %), >= 0.
    :meth:`sentence` and :meth:`short` say exactly this in the report's language, so a report's
    text never contradicts the numbers beside it.
    """

    key: str
    verdict: str
    epoch: int | None = None
    lowest_epoch: int | None = None
    lowest: float | None = None
    last_epoch: int | None = None
    last: float | None = None
    epochs_after: int = 0
    change: float = 0.0
    tolerance: float = 0.02
    patience: int = 2

    def _fields(self) -> dict[str, Any]:
        from labkit.i18n import label
        what = str(label(self.key))
        return dict(what=what, what_lower=what[:1].lower() + what[1:], e=self.epoch, b=self.lowest_epoch,
                    n=self.last_epoch, low=format_number(self.lowest, 4), last=format_number(self.last, 4),
                    k=self.epochs_after, p=self.patience,
                    follow="1 epoch follows" if self.epochs_after == 1 else f"{self.epochs_after} epochs follow", x=_percent(self.change), tol=_percent(self.tolerance))

    def sentence(self, name: str = "") -> str:
        """One sentence, in the report's language, stating what was measured and the verdict; ``name``
        (e.g. ``"ResNet-18"``) names the run. Example: "ResNet-18's test loss is lowest (2.308) at epoch 1;
        only 1 epoch follows, too few to judge a rise (it takes 2); by epoch 2 it is 0.3 % higher (2.316)."
        """
        from labkit.i18n import tr
        f = self._fields()
        subject = tr("{name}'s {w}", "{name} 的{w}", name=name, w=f["what_lower"] if name else f["what"]) \
            if name else f["what"]
        f["s"] = subject
        if self.verdict == "no_data":
            return tr("{s} was not measured.", "{s}没有测量值。", **f)
        if self.verdict == "lowest_at_end":
            return tr("{s} does not rise: it is lowest ({low}) at the last epoch, {n}.",
                      "{s}没有上升：它在最后一个轮次（第 {n} 个）最低，为 {low}。", **f)
        if self.verdict == "too_few_epochs":
            return tr("{s} is lowest ({low}) at epoch {b}; only {follow}, too few to judge a rise "
                      "(it takes {p}); at epoch {n} it is {x} higher ({last}).",
                      "{s}在第 {b} 个轮次最低（{low}）；其后只有 {k} 个轮次，太少，无法判断是否上升（需要 {p} 个）；"
                      "第 {n} 个轮次时比最低值高 {x}（{last}）。", **f)
        if self.verdict == "within_tolerance":
            return tr("{s} is lowest ({low}) at epoch {b} and {x} higher ({last}) at epoch {n}: less than the "
                      "{tol} that counts as a rise, so it shows no sign of overfitting.",
                      "{s}在第 {b} 个轮次最低（{low}），第 {n} 个轮次时高出 {x}（{last}）：低于判定为上升的 {tol}，"
                      "因此没有显示过拟合。", **f)
        return tr("{s} starts rising at epoch {e}: lowest ({low}) at epoch {b}, {x} higher ({last}) at epoch {n}, "
                  "more than the {tol} that counts as a rise.",
                  "{s}从第 {e} 个轮次开始上升：第 {b} 个轮次最低（{low}），第 {n} 个轮次时高出 {x}（{last}），"
                  "超过判定为上升的 {tol}。", **f)

    def short(self) -> str:
        """The verdict in a few words for a summary table's cell, in the report's language:
        "epoch 4 (+5.1 %)", "none (rose 0.3 % < 2 %)", "too few epochs to judge (needs 2 after the lowest)"..."""
        from labkit.i18n import tr
        f = self._fields()
        return {
            "no_data": lambda: tr("not measured", "无测量值"),
            "lowest_at_end": lambda: tr("none (lowest at the last epoch)", "无（最后一个轮次最低）"),
            "too_few_epochs": lambda: tr("too few epochs to judge ({k} after the lowest, needs {p}; +{x})",
                                         "轮次太少，无法判断（最低点之后 {k} 个，需要 {p} 个；上升 {x}）", **f),
            "within_tolerance": lambda: tr("none (rose {x} < {tol})", "无（上升 {x} < {tol}）", **f),
            "rises": lambda: tr("epoch {e} (+{x})", "第 {e} 个轮次（上升 {x}）", **f),
        }[self.verdict]()


def _percent(fraction: float) -> str:
    """0.0034 -> "0.3%", 0.051 -> "5.1%", 0.02 -> "2%" (one decimal at most, never "-0")."""
    text = format_number(fraction * 100, decimals=1)
    return (text[:-2] if text.endswith(".0") else text) + "%"


def loss_rise(history: History, key: str = "test_loss", tolerance: float = 0.02, patience: int = 2) -> LossRise:
    """Whether the curve ``key`` of ``history`` rises after its lowest value "for good", with what was measured.

    "Rises for good": at least ``patience`` epochs follow the lowest value and the final value exceeds it
    by more than ``tolerance`` (relative), so a single noisy epoch or a flat end is not called
    overfitting. Returns a :class:`LossRise` (verdict, lowest epoch and value, last value, relative
    change, and sentences that say so); ``loss_rise(h).epoch`` is :func:`loss_rise_epoch`.
    """
    values = list(history[key]) if key in history else []
    epochs = list(history["epoch"]) if values else []
    if not values:
        return LossRise(key, "no_data", tolerance=tolerance, patience=patience)
    best = min(range(len(values)), key=values.__getitem__)
    after = len(values) - 1 - best
    low, last = float(values[best]), float(values[-1])
    change = (last - low) / abs(low) if low else (0.0 if last == low else math.inf)
    common = dict(lowest_epoch=int(epochs[best]), lowest=low, last_epoch=int(epochs[-1]), last=last,
                  epochs_after=after, change=change, tolerance=tolerance, patience=patience)
    if after == 0:
        return LossRise(key, "lowest_at_end", **common)
    if after < patience:
        return LossRise(key, "too_few_epochs", **common)
    if last <= low * (1 + tolerance):
        return LossRise(key, "within_tolerance", **common)
    return LossRise(key, "rises", epoch=int(epochs[best + 1]), **common)


def loss_rise_epoch(history: History, key: str = "test_loss", tolerance: float = 0.02, patience: int = 2) -> int | None:
    """The first epoch after the lowest ``key`` if the loss then rises for good, else None.

    "Rises for good": at least ``patience`` epochs follow the lowest value
    and the final value exceeds it by more than ``tolerance`` (relative), so
    a single noisy epoch or a flat end is not called overfitting. None does not mean "no rise":
    it may mean too few epochs to judge; use :func:`loss_rise` for the verdict and a sentence that
    says which.
    """
    return loss_rise(history, key, tolerance, patience).epoch


def no_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: weight decay on conv/linear weights, none on biases and norm layers.

    Decaying BatchNorm's scale and shift (and biases) only fights the
    normalisation; the usual recipe exempts them. Pass the result to the
    optimizer: ``torch.optim.SGD(labkit.no_decay_groups(model, 5e-4), lr=...)``.
    """
    decay, no_decay = [], []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_norm = isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))
            (no_decay if is_norm or name == "bias" or param.dim() <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
