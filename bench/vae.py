"""One epoch of the 784-400-20 VAE on full MNIST: labkit's loop vs the source report's loop.

    LABKIT_DATA=../shared/data python bench/vae.py [--repeats 2] [--threads N]

The source loop (the pytorch/examples VAE the source reports used): a
``DataLoader`` over a dataset that turns every image into a PIL image and
applies ``ToTensor`` and a flattening ``Lambda``, batch 128, shuffled; the
model ends with a sigmoid and the loss is ``binary_cross_entropy`` (sum) plus
the KL term; plain ``Adam``; ``loss.item()`` after every step.

The labkit loop (the vae notebook's recipe, with the notebook's own
``MLPVAE`` and ``vae_loss()``, built from notebooks/vae.ipynb by
bench/_notebook.py): the data held on the device as one uint8 tensor and
batched by index (``labkit.fit``), the two encoder heads as one
``Linear(400, 40)``, the decoder returning logits and the loss as
``binary_cross_entropy_with_logits`` (sum), ``Adam(fused=True)``, losses
summed on the device and read once per epoch.

A middle row, "labkit loop, source model", isolates what holding the data as
tensors buys on its own. Both loops train the same architecture with the same
hyper-parameters; each epoch starts from fresh weights. Timings are the best
of ``--repeats`` epochs (the machine may be shared: the best is the least
disturbed). Then the fraction of this machine's dense matmul throughput at
the model's shapes that labkit's loop reaches (bench/_throughput.py):
``vae_fraction_of_dense_throughput: <x>``. The last line is
``vae_epoch_speedup_vs_source: <x>``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import labkit  # noqa: E402
from _notebook import definitions  # noqa: E402
from _throughput import dense_work, fix_threads, fraction_of_dense  # noqa: E402
from labkit import data, threads  # noqa: E402

BATCH, LR, LATENT, HIDDEN, PIXELS = 128, 1e-3, 20, 400, 784


# ---------------------------------------------------------------- the source's loop


class SourceVAE(nn.Module):
    """The pytorch/examples VAE: fc1, fc21/fc22 heads, fc3, fc4 and a sigmoid output."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(PIXELS, HIDDEN), nn.Linear(HIDDEN, LATENT), nn.Linear(HIDDEN, LATENT)
        self.fc3, self.fc4 = nn.Linear(LATENT, HIDDEN), nn.Linear(HIDDEN, PIXELS)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def source_loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


class PILDataset(torch.utils.data.Dataset):
    """What ``torchvision.datasets.MNIST`` does per item: a PIL image, then the transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[i], mode="L")), int(self.labels[i])


def source_epoch(images: np.ndarray, labels: np.ndarray) -> float:
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x.view(-1))])
    loader = torch.utils.data.DataLoader(PILDataset(images, labels, transform), batch_size=BATCH, shuffle=True)
    model = SourceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    started, cpu = time.perf_counter(), time.process_time()
    train_loss = 0.0
    for x, _ in loader:
        threads.adapt()  # the run's thread policy, as labkit.fit applies it (bench/_throughput.py)
        optimizer.zero_grad()
        recon, mu, logvar = model(x)
        loss = source_loss(recon, x, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"  source loop: {seconds:.2f} s (process CPU time {cpu:.2f} s), "
          f"train loss {train_loss / len(images):.2f} nats/image", flush=True)
    return seconds, cpu


# ---------------------------------------------------------------- labkit's loop: the notebook's model and loss


def notebook_vae():
    """``(MLPVAE, vae_loss())`` of notebooks/vae.ipynb: the 784-400-20 VAE (one Linear(400, 40) for both heads,
    logits out) and its negative ELBO (BCE with logits, summed over pixels, plus KL, per image)."""
    ns = definitions("vae", cfg=SimpleNamespace(latent_dim=LATENT), CHANNELS=1, HEIGHT=28, WIDTH=28)
    return ns.MLPVAE, ns.vae_loss()


def source_model_loss(model, x, y):
    x = x.flatten(1)
    recon, mu, logvar = model(x)
    return source_loss(recon, x, mu, logvar) / len(x)


def kit_epoch(split, model: nn.Module, loss, optimizer, label: str) -> tuple[float, float]:
    """One epoch of ``labkit.fit``: (wall seconds, process CPU seconds)."""
    started, cpu = time.perf_counter(), time.process_time()
    history = labkit.fit(model, split, epochs=1, batch_size=BATCH, loss=loss, optimizer=optimizer,
                         progress_bar=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"  {label}: {seconds:.2f} s (process CPU time {cpu:.2f} s), "
          f"train loss {history.last('train_loss'):.2f} nats/image", flush=True)
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per loop (the best counts)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of all loops (default: labkit's adaptive thread policy in all loops)")
    parser.add_argument("--images", type=int, default=0, help="training images per epoch (default 0: all)")
    args = parser.parse_args(argv)
    fix_threads(args.threads)
    mnist = data.load("mnist")
    if mnist.info["source"] == "sample":
        print("WARNING: the full MNIST is not in LABKIT_DATA; timing the embedded sample instead", flush=True)
    train = mnist.train if not args.images else SimpleNamespace(x=mnist.train.x[:args.images],
                                                                  y=mnist.train.y[:args.images])
    images = train.x[:, 0].numpy()
    labels = train.y.numpy()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.2f}; {len(labels)} images, batch {BATCH}, Adam lr {LR}", flush=True)
    MLPVAE, elbo = notebook_vae()
    times: dict[str, list[tuple[float, float]]] = {"source": [], "tensors": [], "labkit": []}
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
        torch.manual_seed(repeat)
        times["source"].append(source_epoch(images, labels))
        torch.manual_seed(repeat)
        model = SourceVAE()
        times["tensors"].append(kit_epoch(train, model, source_model_loss,
                                          torch.optim.Adam(model.parameters(), lr=LR), "labkit loop, source model"))
        torch.manual_seed(repeat)
        model = MLPVAE()
        times["labkit"].append(kit_epoch(train, model, elbo,
                                         torch.optim.Adam(model.parameters(), lr=LR, fused=True), "labkit loop"))
    best = {k: min(t[0] for t in v) for k, v in times.items()}
    best_cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    print(f"source loop (DataLoader + ToTensor + Lambda, sigmoid + BCE, Adam): {best['source']:.2f} s/epoch")
    print(f"labkit loop, source model and loss (data as tensors only):       {best['tensors']:.2f} s/epoch "
          f"({best['source'] / best['tensors']:.2f}x)")
    print(f"labkit loop (tensors, fused heads, BCE with logits, fused Adam): {best['labkit']:.2f} s/epoch "
          f"({best['source'] / best['labkit']:.2f}x)")
    print(f"ratio of process CPU times (less sensitive to other processes than wall time, with one thread): "
          f"{best_cpu['source'] / best_cpu['labkit']:.2f}")
    scratch = MLPVAE()
    one_batch = (train.x[:BATCH], train.y[:BATCH])
    work = dense_work(lambda: labkit.fit(scratch, one_batch, epochs=1, batch_size=BATCH, loss=elbo,
                                         optimizer=torch.optim.Adam(scratch.parameters(), lr=LR, fused=True),
                                         progress_bar=False))
    fraction_of_dense("vae", work, best["labkit"], -(-len(labels) // BATCH), best_cpu["labkit"])
    print(f"vae_epoch_speedup_vs_source: {best['source'] / best['labkit']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
