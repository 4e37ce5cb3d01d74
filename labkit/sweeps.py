"""Sweeps: run one experiment over a grid of settings, compare the results.

>>> result = sweep(train_one, {"optimizer": ["sgd", "adam"]})  # doctest: +SKIP
>>> result.show(caption="Optimizer")                            # table + curves

A :class:`Sweep` is also the notebook's collection of named runs (no grid):
:meth:`Sweep.run` trains one and keeps it under its name, runs computed
elsewhere are added with :meth:`Sweep.add` (with anything to keep beside the
history: the model, samples, a score), and :meth:`Sweep.select` picks some of
them for a table or a figure.
"""
from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from labkit.records import format_number, record
from labkit.tables import DIVERGED, diverged_rows  # the column marking diverged runs; show_table prints it as a marker
from labkit.train import History, histories_table, sweep_run

#: A label format: a callable value -> str, or a format string such as ``"{:g}"``.
Format = Callable[[Any], str] | str


def _value_label(value: Any, fmt: Format | None = None) -> str:
    if fmt is not None:
        return fmt.format(value) if isinstance(fmt, str) else str(fmt(value))
    if isinstance(value, float):
        return format_number(value)
    return getattr(value, "__name__", str(value))


def setting_label(setting: Mapping[str, Any], formats: Mapping[str, Format] | None = None) -> str:
    """``"adam"`` for a one-parameter setting, ``"lr=0.1, batch_size=64"`` otherwise.

    ``formats`` maps a parameter to how its value is written (``{"lr": "{:.0e}"}``);
    floats default to ``{:g}``, functions and classes to their name.
    """
    formats = formats or {}
    if len(setting) == 1:
        key, value = next(iter(setting.items()))
        return _value_label(value, formats.get(key))
    return ", ".join(f"{k}={_value_label(v, formats.get(k))}" for k, v in setting.items())


def _record_key(label: str) -> str:
    """A label as part of a record name: ``"lr=0.1, bs=64"`` -> ``"lr_0.1_bs_64"``, ``"10%"`` -> ``"10pct"``."""
    text = label.replace(", ", "_").replace("%", "pct")
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


@dataclass
class Sweep:
    """Named runs: their ``settings``, ``histories`` and ``extras``, keyed by label, in order.

    ``extras[label]`` holds what a run keeps beside its history (a model,
    samples, a score): whatever ``train`` returned with it, or the keywords
    given to :meth:`add`.
    """

    name: str
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run_name(self, label: str) -> str:
        """The run's full name: ``"<sweep name>=<label>"`` (e.g. ``"lr=0.001"``); a label of several
        parameters names them already and is the name (``"optimizer=adam, rate=shared"``)."""
        return _run_name(self.name, label, self.settings.get(label, {}))

    def add(self, label: str, history: History, setting: Mapping[str, Any] | None = None,
            **extras: Any) -> History:
        """Add a run computed elsewhere (a truncated longer run, a run of another section).

        ``setting`` defaults to ``{}``; ``extras`` (model=..., samples=...) go to
        ``self.extras[label]``. Raises ValueError if ``label`` is already a run
        and TypeError if ``history`` is not a :class:`History`. Returns ``history``.
        """
        if not isinstance(history, History):
            raise TypeError(f"run {label!r} of sweep {self.name!r} must be a History, got {type(history).__name__}")
        if label in self.histories:
            raise ValueError(f"sweep {self.name!r} already has a run labelled {label!r}")
        history.name = history.name or label
        self.settings[label] = dict(setting or {})
        self.histories[label] = history
        self.extras[label] = dict(extras)
        return history

    def run(self, label: str, train: Callable[..., Any], /, **setting: Any) -> History:
        """Train one named run, ``train(**setting)``, and add it as ``label`` (a run without a grid).

        ``train`` follows :func:`sweep`'s contract: it returns a History or
        ``(history, extras)``; a ``train`` with a ``run_name`` parameter gets
        ``label`` (a named run's full name is its label). ``setting`` is kept in
        ``self.settings[label]``, the extras in ``self.extras[label]``. Raises
        ValueError if ``label`` is already a run (before training), TypeError
        if ``train`` returns something else. Returns the history.

        >>> runs = Sweep("runs")                                          # doctest: +SKIP
        >>> runs.run("MLP VAE", train_vae, epochs=10)                     # doctest: +SKIP
        >>> runs.extras["MLP VAE"]["model"]                               # doctest: +SKIP
        """
        if label in self.histories:
            raise ValueError(f"sweep {self.name!r} already has a run labelled {label!r}")
        history, extras = _call(train, setting, label)
        return self.add(label, history, setting, **extras)

    def select(self, labels: Iterable[str], name: str | None = None) -> "Sweep":
        """A sweep of some of these runs (in the order given), sharing their histories and extras."""
        labels = list(labels)
        missing = [label for label in labels if label not in self.histories]
        if missing:
            raise KeyError(f"sweep {self.name!r} has no runs {missing}; it has: {', '.join(self.histories)}")
        chosen = Sweep(name or self.name)
        for label in labels:
            chosen.settings[label] = self.settings[label]
            chosen.histories[label] = self.histories[label]
            chosen.extras[label] = self.extras.get(label, {})
        return chosen

    def __len__(self) -> int:
        return len(self.histories)

    def __contains__(self, label: object) -> bool:
        return label in self.histories

    def diverged(self) -> list[str]:
        """The labels of the runs that diverged, in order: a training loss that became NaN or infinite,
        or a final training loss not below the loss at the start of training (the first batch's, before
        any update). See :meth:`labkit.train.History.diverged` for the exact rule."""
        return [label for label, history in self.histories.items() if history.diverged()]

    def table(self, metrics: Sequence[str] | None = None, index: str = "setting") -> pd.DataFrame:
        """One row per run (index named ``index``: ``"setting"``, or ``"model"`` for named runs): the
        final metrics and ``summary`` values, and, when some run diverged (:meth:`diverged`), a last
        column :data:`DIVERGED` (True for those runs) that :func:`labkit.show_table` prints as a marker.

        See :func:`labkit.train.histories_table`.
        """
        return mark_diverged(histories_table(self.histories, metrics, index=index), self.diverged())

    def ranked(self, metrics: Sequence[str] | None = None, by: str = "fid", index: str = "setting",
               ascending: bool = True) -> pd.DataFrame:
        """:meth:`table` ranked by ``by`` (lowest first unless ``ascending=False``) with a ``rank`` column
        first; diverged runs are marked and ranked after every run that trained (see :func:`rank`)."""
        return rank(self.table(metrics, index=index), by, ascending=ascending)

    def curves(self, metrics: Sequence[str] = ("loss", "acc"), title: str | None = None, **kwargs):
        """The curves of every setting overlaid (see :func:`labkit.plots.curves`)."""
        from labkit.plots import curves
        return curves(self.histories, metrics, title=title or self.name, **kwargs)

    def show(self, caption: str | None = None, metrics: Sequence[str] | None = None,
             curve_metrics: Sequence[str] = ("loss", "acc"), **table_kwargs) -> None:
        """Display the table, then the overlaid curves (returns nothing, so a cell shows the table once)."""
        from labkit.tables import show_table
        import matplotlib.pyplot as plt
        show_table(self.table(metrics), caption=caption or self.name, **table_kwargs)
        self.curves(curve_metrics, title=caption or self.name)
        plt.show()

    def record(self, metrics: Sequence[str] | Mapping[str, str], prefix: str | None = None) -> dict[str, Any]:
        """Record ``<prefix>_<label>_<metric>`` for every run; returns ``{name: value}`` as recorded.

        ``metrics`` lists History keys, or maps the name's last part to a key when the two differ
        (``{"test_loss_nats": "test_loss"}`` records ``history.last("test_loss")`` as
        ``..._test_loss_nats``). ``prefix`` defaults to ``sweep_<name>``; the label is written
        with ``_`` for characters other than letters, digits and ``._-`` (``%`` as ``pct``).
        """
        prefix = prefix or f"sweep_{self.name}"
        named = dict(metrics) if isinstance(metrics, Mapping) else {metric: metric for metric in metrics}
        recorded = {}
        for label, history in self.histories.items():
            for suffix, metric in named.items():
                key = f"{prefix}_{_record_key(label)}_{suffix}"
                recorded[key] = history.last(metric)
                record(key, recorded[key])
        return recorded


def mark_diverged(table: pd.DataFrame, labels: Iterable[Any]) -> pd.DataFrame:
    """A copy of ``table`` whose rows named in ``labels`` (index values) are marked diverged: the
    :data:`DIVERGED` column (last) is True for them. Rows already marked stay marked, with their
    reason (see :data:`labkit.tables.DIVERGED`); a table
    with no diverged row is returned without the column. Raises KeyError for a label not in the index.
    """
    labels = list(labels)
    missing = [label for label in labels if label not in table.index]
    if missing:
        raise KeyError(f"cannot mark {missing} as diverged: the table's rows are {', '.join(map(str, table.index))}")
    marked = table.drop(columns=[DIVERGED]) if DIVERGED in table.columns else table.copy()
    flags = pd.Series(table.index.isin(labels), index=table.index) | diverged_rows(table).to_numpy()
    if flags.any():
        # a run named here is True (diverged); another reason already written (e.g. "collapsed") is kept
        before = table[DIVERGED] if DIVERGED in table.columns else pd.Series(False, index=table.index)
        marked[DIVERGED] = [True if named else (flag if isinstance(flag, str) and flag else bool(marks))
                            for named, flag, marks in zip(table.index.isin(labels), before, flags)]
    return marked


def rank(table: pd.DataFrame, column: str = "fid", *, diverged: Iterable[Any] = (),
         ascending: bool = True) -> pd.DataFrame:
    """``table`` sorted by ``column`` with a ``rank`` column first (1 = best: lowest, or highest with
    ``ascending=False``); the runs that diverged come after every run that trained, ranked among
    themselves, and keep their :data:`DIVERGED` marker, so a diverged run never ranks first however
    good its score looks. Diverged rows: those named in ``diverged`` and those already marked (a
    :meth:`Sweep.table`). A NaN score ranks last of its group. An existing ``rank`` column is replaced.

    Raises KeyError when ``column`` is not a column of ``table``.
    """
    if column not in table.columns:
        raise KeyError(f"no column {column!r} to rank by; columns: {', '.join(map(str, table.columns))}")
    marked = mark_diverged(table.drop(columns=["rank"], errors="ignore"), diverged)
    bad = diverged_rows(marked)
    parts = []
    for group in (marked[~bad], marked[bad]):
        group = group.sort_values(column, ascending=ascending, na_position="last", kind="stable")
        ranks = group[column].rank(method="min", ascending=ascending, na_option="bottom")
        parts.append(group.assign(rank=ranks.fillna(len(group)).astype(int) + sum(len(p) for p in parts)))
    ranked = pd.concat(parts)
    return ranked[["rank", *[c for c in ranked.columns if c != "rank"]]]


def grid_settings(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (the last parameter varies fastest)."""
    if not grid:
        raise ValueError("a sweep needs at least one parameter with values")
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"sweep values for {key!r} must be a non-empty list, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _run_name(sweep: str, label: str, setting: Mapping[str, Any]) -> str:
    """See :meth:`Sweep.run_name` (a grid of several parameters gave "optimizer=optimizer=adam, rate=shared")."""
    return label if len(setting) > 1 else f"{sweep}={label}"


def _takes_run_name(train: Callable[..., Any]) -> bool:
    try:
        return "run_name" in inspect.signature(train).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _call(train: Callable[..., Any], setting: Mapping[str, Any], run_name: str) -> tuple[History, Mapping[str, Any]]:
    """``train(**setting)`` (with ``run_name`` if it takes one), as ``(history, extras)``."""
    kwargs = {**setting, "run_name": run_name} if _takes_run_name(train) else dict(setting)
    with sweep_run(run_name):  # fit's progress bar names the run, not the model all runs share
        returned = train(**kwargs)
    history, extras = returned if isinstance(returned, tuple) and len(returned) == 2 else (returned, {})
    if not isinstance(history, History) or not isinstance(extras, Mapping):
        raise TypeError(f"the sweep's train function must return a History (or (History, dict)), "
                        f"got {type(returned).__name__}")
    return history, extras


def sweep(train: Callable[..., Any], grid: Mapping[str, Sequence[Any]], name: str | None = None, *,
          labels: Mapping[str, Format] | None = None, into: Sweep | None = None) -> Sweep:
    """Call ``train(**setting)`` for every setting of ``grid`` and collect the runs.

    ``train`` returns a :class:`~labkit.train.History` (put extra final
    numbers, such as a score, in ``history.summary``: they become columns of
    the table), or ``(history, extras)`` with a dict of things to keep
    (``{"model": net, "samples": x}``, see :attr:`Sweep.extras`). A ``train``
    with a parameter called ``run_name`` also gets the run's full name
    (``"lr=0.001"``, see :meth:`Sweep.run_name`).

    ``name`` defaults to the grid's parameter names; ``labels`` maps a grid
    parameter to how its values are written in labels (``{"lr": "{:.0e}"}``,
    see :func:`setting_label`). ``into`` adds the runs to an existing sweep
    instead of a new one. Raises TypeError when ``train`` returns something
    else, ValueError for an empty grid or a repeated label.
    """
    result = into if into is not None else Sweep(name or "_".join(grid))
    run_name_prefix = name or result.name
    for setting in grid_settings(grid):
        label = setting_label(setting, labels)
        history, extras = _call(train, setting, _run_name(run_name_prefix, label, setting))
        result.add(label, history, setting, **extras)
    return result
