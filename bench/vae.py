"""One epoch of the 784-400-20 VAE on full MNIST: labkit's loop vs the source report's loop.

    LABKIT_DATA=../shared/data python bench/vae.py [--repeats 2] [--threads N]

The source loop (the pytorch/examples VAE the source reports used): a
``DataLoader`` over a dataset that turns every image into a PIL image and
applies ``ToTensor`` and a flattening ``Lambda``, batch 128, shuffled; the
model ends with a sigmoid and the loss is ``binary_cross_entropy`` (sum) plus
the KL term; plain ``Adam``; ``loss.item()`` after every step.

The labkit loop (the vae notebook's recipe): the data held on the device as
one uint8 tensor and batched by index (``labkit.fit``), the two encoder heads
as one ``Linear(400, 40)``, the decoder returning logits and the loss as
``binary_cross_entropy_with_logits`` (sum), ``Adam(fused=True)``, losses
summed on the device and read once per epoch.

A middle row, "labkit loop, source model", isolates what holding the data as
tensors buys on its own. Both loops train the same architecture with the same
hyper-parameters; each epoch starts from fresh weights. Timings are the best
of ``--repeats`` epochs (the machine may be shared: the best is the least
disturbed). The last line is ``vae_epoch_speedup_vs_source: <x>``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labkit  # noqa: E402
from labkit import data  # noqa: E402

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
    started = time.perf_counter()
    train_loss = 0.0
    for x, _ in loader:
        optimizer.zero_grad()
        recon, mu, logvar = model(x)
        loss = source_loss(recon, x, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    seconds = time.perf_counter() - started
    print(f"  source loop: {seconds:.2f} s, train loss {train_loss / len(images):.2f} nats/image", flush=True)
    return seconds


# ---------------------------------------------------------------- labkit's loop


class KitVAE(nn.Module):
    """The vae notebook's MLPVAE (ReLU, no dropout): one Linear(400, 40) for both heads, logits out."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * LATENT))
        self.decoder = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PIXELS))

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = torch.addcmul(mu, torch.randn_like(mu), (0.5 * logvar).exp())
        return self.decoder(z).view_as(x), mu, logvar


def kit_loss(model, x, y):
    logits, mu, logvar = model(x)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum() / len(x)
    return rec + kl


def source_model_loss(model, x, y):
    x = x.flatten(1)
    recon, mu, logvar = model(x)
    return source_loss(recon, x, mu, logvar) / len(x)


def kit_epoch(split, model: nn.Module, loss, optimizer, label: str) -> float:
    started = time.perf_counter()
    history = labkit.fit(model, split, epochs=1, batch_size=BATCH, loss=loss, optimizer=optimizer,
                         progress_bar=False)
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s, train loss {history.last('train_loss'):.2f} nats/image", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per loop (the best counts)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mnist = data.load("mnist")
    if mnist.info["source"] == "sample":
        print("WARNING: the full MNIST is not in LABKIT_DATA; timing the embedded sample instead", flush=True)
    images = mnist.train.x[:, 0].numpy()
    labels = mnist.train.y.numpy()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.2f}; {len(labels)} images, batch {BATCH}, Adam lr {LR}", flush=True)
    times: dict[str, list[float]] = {"source": [], "tensors": [], "labkit": []}
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
        torch.manual_seed(repeat)
        times["source"].append(source_epoch(images, labels))
        torch.manual_seed(repeat)
        model = SourceVAE()
        times["tensors"].append(kit_epoch(mnist.train, model, source_model_loss,
                                          torch.optim.Adam(model.parameters(), lr=LR), "labkit loop, source model"))
        torch.manual_seed(repeat)
        model = KitVAE()
        times["labkit"].append(kit_epoch(mnist.train, model, kit_loss,
                                         torch.optim.Adam(model.parameters(), lr=LR, fused=True), "labkit loop"))
    best = {k: min(v) for k, v in times.items()}
    print(f"source loop (DataLoader + ToTensor + Lambda, sigmoid + BCE, Adam): {best['source']:.2f} s/epoch")
    print(f"labkit loop, source model and loss (data as tensors only):       {best['tensors']:.2f} s/epoch "
          f"({best['source'] / best['tensors']:.2f}x)")
    print(f"labkit loop (tensors, fused heads, BCE with logits, fused Adam): {best['labkit']:.2f} s/epoch "
          f"({best['source'] / best['labkit']:.2f}x)")
    print(f"vae_epoch_speedup_vs_source: {best['source'] / best['labkit']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
