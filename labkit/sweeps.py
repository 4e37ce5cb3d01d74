"""Sweeps: run one experiment over a grid of settings, compare the results.

>>> result = sweep(train_one, {"optimizer": ["sgd", "adam"]})  # doctest: +SKIP
>>> result.show(caption="Optimizer")                            # table + curves
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from labkit.records import record
from labkit.train import History


def setting_label(setting: Mapping[str, Any]) -> str:
    """``"adam"`` for a one-parameter setting, ``"lr=0.1, batch_size=64"`` otherwise."""
    if len(setting) == 1:
        return _value_label(next(iter(setting.values())))
    return ", ".join(f"{k}={_value_label(v)}" for k, v in setting.items())


def _value_label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return getattr(value, "__name__", str(value))


def _record_key(label: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in label.replace(", ", "_"))


@dataclass
class Sweep:
    """The runs of a sweep: ``settings`` and ``histories`` keyed by label."""

    name: str
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per setting: its parameters and the final metrics (and ``summary`` values)."""
        rows = []
        for label, history in self.histories.items():
            final = history.final()
            if metrics is not None:
                final = {k: final[k] for k in metrics if k in final}
            rows.append({"setting": label, **final})
        return pd.DataFrame(rows, columns=None if rows else ["setting"]).set_index("setting")

    def curves(self, metrics: Sequence[str] = ("loss", "acc"), title: str | None = None, **kwargs):
        """The curves of every setting overlaid (see :func:`labkit.plots.curves`)."""
        from labkit.plots import curves
        return curves(self.histories, metrics, title=title or self.name, **kwargs)

    def show(self, caption: str | None = None, metrics: Sequence[str] | None = None,
             curve_metrics: Sequence[str] = ("loss", "acc"), **table_kwargs) -> pd.DataFrame:
        """Display the table, then the overlaid curves; returns the table."""
        from labkit.tables import show_table
        import matplotlib.pyplot as plt
        table = show_table(self.table(metrics), caption=caption or self.name, **table_kwargs)
        self.curves(curve_metrics, title=caption or self.name)
        plt.show()
        return table

    def record(self, metrics: Sequence[str], prefix: str | None = None) -> dict[str, Any]:
        """Record ``<prefix>_<setting>_<metric>`` for every setting; returns what was recorded."""
        prefix = prefix or f"sweep_{self.name}"
        recorded = {}
        for label, history in self.histories.items():
            for metric in metrics:
                key = f"{prefix}_{_record_key(label)}_{metric}"
                recorded[key] = record(key, history.last(metric))
        return recorded


def grid_settings(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (the last parameter varies fastest)."""
    if not grid:
        raise ValueError("a sweep needs at least one parameter with values")
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"sweep values for {key!r} must be a non-empty list, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def sweep(train: Callable[..., History], grid: Mapping[str, Sequence[Any]], name: str | None = None) -> Sweep:
    """Call ``train(**setting)`` for every setting of ``grid`` and collect the histories.

    ``train`` returns a :class:`~labkit.train.History` (put extra final
    numbers, such as a score, in ``history.summary``: they become columns of
    the table). ``name`` defaults to the grid's parameter names.
    """
    result = Sweep(name or "_".join(grid))
    for setting in grid_settings(grid):
        label = setting_label(setting)
        history = train(**setting)
        if not isinstance(history, History):
            raise TypeError(f"the sweep's train function must return a History, got {type(history).__name__}")
        history.name = history.name or label
        result.settings[label] = setting
        result.histories[label] = history
    return result
