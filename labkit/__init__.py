"""labkit: the plumbing of the course's deep-learning labs.

Notebooks use the public API below; each name has a docstring that points
back to the lab it serves. See README.md for the command-line tools.

Names are imported lazily (PEP 562), so the command-line tool starts
without loading torch.
"""
from __future__ import annotations

from labkit.plumbing import lazy_exports

__version__ = "0.1.0"

_API = {
    "record": "labkit.records", "read_records": "labkit.records",
    "Config": "labkit.config", "start": "labkit.config",
    "pick_device": "labkit.device", "seed_everything": "labkit.device",
    "History": "labkit.train", "classify": "labkit.train", "count_parameters": "labkit.train",
    "evaluate": "labkit.train", "fit": "labkit.train", "predict": "labkit.train",
    "eval_mode": "labkit.train", "histories_table": "labkit.train", "curves_gap": "labkit.train",
    "loss_rise_epoch": "labkit.train", "loss_rise": "labkit.train", "LossRise": "labkit.train", "no_decay_groups": "labkit.train",
    "standardize": "labkit.train", "to_float": "labkit.train",
    "Sweep": "labkit.sweeps", "sweep": "labkit.sweeps",
    "curves": "labkit.plots", "image_grid": "labkit.plots", "image_table": "labkit.plots",
    "show_table": "labkit.tables", "show_text": "labkit.tables",
    "tr": "labkit.i18n", "value_label": "labkit.i18n", "add_value_labels": "labkit.i18n",
}

__all__ = ["__version__", *_API]


__getattr__, __dir__ = lazy_exports(__name__, _API)
