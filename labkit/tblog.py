"""Optional TensorBoard logging of the same per-epoch scalars the report shows."""
from __future__ import annotations

import os
from typing import Mapping

from labkit.train import History


def log_histories(histories: Mapping[str, History], log_dir: str | os.PathLike) -> list[str]:
    """Write every run's per-epoch values as TensorBoard scalars, one sub-folder per run.

    View them with ``tensorboard --logdir LOG_DIR``. Returns the folders written.
    Needs the ``tensorboard`` package.
    """
    from torch.utils.tensorboard import SummaryWriter

    written = []
    for label, history in histories.items():
        folder = os.path.join(os.fspath(log_dir), "".join(c if c.isalnum() or c in "._-" else "_" for c in label))
        with SummaryWriter(folder) as writer:
            for row in history.rows:
                for key, value in row.items():
                    if key != "epoch":
                        split, _, metric = key.partition("_")
                        writer.add_scalar(f"{metric or split}/{split}", value, int(row["epoch"]))
        written.append(folder)
    return written
