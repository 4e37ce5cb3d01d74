"""The source reports' training loop for classifiers, shared by bench/mlp.py and bench/resnet.py.

Not a benchmark itself (bench/run.py skips files starting with ``_``).
"""
from __future__ import annotations

import torch
from torch import nn

from labkit import threads


def classifier_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer,
                     device: torch.device | None = None, max_batches: int | None = None) -> tuple[int, float, float]:
    """One epoch as the source wrote it: batches from a DataLoader, ``.item()`` read on every step.

    Returns (images seen, mean loss, accuracy). ``threads.adapt()`` before each step applies the same
    thread policy as ``labkit.fit`` (bench/_throughput.py ``fix_threads``), not part of the source's code.
    """
    model.train()
    criterion = nn.CrossEntropyLoss()
    total_loss, correct, seen = 0.0, 0, 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        threads.adapt()
        if device is not None:
            x, y = x.to(device), y.to(device)
        out = model(x)
        loss = criterion(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    return seen, total_loss / max(seen, 1), correct / max(seen, 1)
