"""One epoch of the dcgan lab's DCGAN on MNIST: labkit's loop vs the source report's loop.

    python bench/dcgan.py                         # all 60,000 images, batch 64, CUDA if present, else the CPU
    python bench/dcgan.py --device cpu --images 6400 --breakdown   # 100 steps on the CPU, DataLoader share
    python bench/dcgan.py --device cuda           # on a GPU

Both loops train the same networks, the notebook's own ``Generator`` and
``Discriminator`` (the kit recipe's layers; built from notebooks/dcgan.ipynb
by bench/_notebook.py), initialised by the notebook's ``init_weights`` to the
same weights, for one epoch at batch 64 with Adam(2e-4, betas 0.5/0.999), on
the same machine in the same run under the same thread policy, each after an
untimed warm-up of five steps.

* source: ``torchvision.datasets.MNIST`` with per-sample ``ToTensor`` and
  ``Normalize((0.5,), (0.5,))`` through a shuffled ``DataLoader`` (batch 64,
  no workers); the discriminator ends in ``Sigmoid`` and is trained with
  ``BCELoss``, real and fake halves backpropagated separately; the fake batch
  is generated once per step (detached for the discriminator, then reused for
  the generator, as in the PyTorch DCGAN example); ``loss.item()`` is read
  every step for the running log. The MNIST files are decompressed into a
  temporary folder first, as the source's ``download=True`` would (untimed).
* labkit: the notebook's loop: the dataset as one uint8 tensor on the device,
  batches by index through ``labkit.fit(step=...)`` calling the notebook's
  ``train_step`` (its exercise, the solution's version), with
  ``vision.prepare`` scaling to [-1, 1]; ``BCEWithLogitsLoss`` on the
  discriminator's logits; the fake batch generated once per step; the
  discriminator's weights frozen during the generator's backward pass (their
  gradients would be thrown away);
  channels-last memory format (oneDNN's faster convolution kernels on the CPU,
  tensor cores on GPUs) and fused Adam; losses summed on the device and read
  once per epoch (no host synchronisation per step).

On a GPU, cuDNN autotuning and TF32 (switched on globally by ``vision.speed_up``
during the warm-up) apply to both loops.

Prints both timings, the fraction of this machine's dense convolution
throughput at the networks' shapes that labkit's loop reaches
(bench/_throughput.py: ``dcgan_fraction_of_dense_throughput: <x>``), then the
last line ``dcgan_epoch_speedup_vs_source: <x>``. Measures, never asserts. On a
shared CPU the absolute times are noisy (the load average is printed before
and after): the two loops run back to back under the same thread policy
(``--threads N``, else labkit's adaptive policy, which the source loop applies
before every step too), so their ratio is the number to read. The CPU time of the process is printed
too: it is less sensitive to other processes than the wall time.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labkit  # noqa: E402
from labkit import data, threads, vision  # noqa: E402
from labkit.device import device_name  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _notebook import definitions  # noqa: E402
from _throughput import dense_work, fix_threads, fraction_of_dense  # noqa: E402

LATENT = 100
LR, BETAS = 2e-4, (0.5, 0.999)
#: The notebook's classes and functions (Generator, Discriminator, init_weights, train_step, G_LAYERS, D_LAYERS).
NB = definitions("dcgan")


class Pair(nn.Module):
    """The notebook's two networks of the kit recipe in one module (``.g``, ``.d``), as its ``GAN`` holds them;
    ``probability=True``: the discriminator ends in a Sigmoid, as the source's did."""

    def __init__(self, probability: bool = False):
        super().__init__()
        self.g = NB.Generator(LATENT, NB.G_LAYERS["kit"])
        self.d = NB.Discriminator(NB.D_LAYERS["kit"], probability=probability)


def build(device: torch.device, probability: bool, fast: bool = False, seed: int = 0):
    """The networks and their two Adam optimizers; ``fast``: the notebook's channels-last layout and fused Adam."""
    gan = Pair(probability).to(device)
    torch.manual_seed(seed)
    gan.apply(NB.init_weights)
    if fast:
        vision.speed_up(gan, channels_last=True)
    fused = True if fast and device.type in ("cpu", "cuda") else None
    opt_g = torch.optim.Adam(gan.g.parameters(), lr=LR, betas=BETAS, fused=fused)
    opt_d = torch.optim.Adam(gan.d.parameters(), lr=LR, betas=BETAS, fused=fused)
    return gan, opt_g, opt_d


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- the source's loop

def source_dataset(raw_gz: Path, workdir: Path):
    """torchvision's MNIST over decompressed copies of the .gz files (what download=True leaves)."""
    from torchvision import datasets, transforms

    raw = workdir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in raw_gz.glob("*-ubyte.gz"):
        with gzip.open(gz) as src, open(raw / gz.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return datasets.MNIST(str(workdir), train=True, download=False, transform=transform)


def source_epoch(dataset, device, batch_size: int, images: int) -> float:
    """The source's loop: DataLoader, Sigmoid + BCELoss, .item() every step. Returns wall seconds."""
    gan, opt_g, opt_d = build(device, probability=True)
    subset = torch.utils.data.Subset(dataset, range(images))
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=True)
    criterion = nn.BCELoss()
    g_losses, d_losses = [], []
    sync(device)
    started = time.perf_counter()
    for real, _ in loader:
        threads.adapt()  # the run's thread policy, as labkit.fit applies it (bench/_throughput.py)
        real = real.to(device)
        n = real.size(0)
        ones = torch.full((n,), 1.0, device=device)
        zeros = torch.full((n,), 0.0, device=device)
        # discriminator: real batch, then the fake batch (detached)
        gan.d.zero_grad()
        err_real = criterion(gan.d(real), ones)
        err_real.backward()
        fake = gan.g(torch.randn(n, LATENT, 1, 1, device=device))
        err_fake = criterion(gan.d(fake.detach()), zeros)
        err_fake.backward()
        opt_d.step()
        # generator: the same fake batch through the updated discriminator
        gan.g.zero_grad()
        err_g = criterion(gan.d(fake), ones)
        err_g.backward()
        opt_g.step()
        d_losses.append((err_real + err_fake).item())
        g_losses.append(err_g.item())
    sync(device)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- labkit's loop

def notebook_step(opt_g, opt_d):
    """The notebook's ``train_gan`` step: its ``train_step`` with BCEWithLogitsLoss on the logits (kit recipe)."""
    criterion = nn.BCEWithLogitsLoss()

    def step(gan, real, _labels):
        return NB.train_step(gan, real, opt_g, opt_d, criterion, LATENT, torch.sigmoid)

    return step


def labkit_fit(train, device, batch_size: int, images: int) -> None:
    """One epoch of the notebook's loop on the first ``images`` of ``train``, from fresh networks."""
    gan, opt_g, opt_d = build(device, probability=False, fast=True)
    labkit.fit(gan, (train.x[:images], train.y[:images]), epochs=1, batch_size=batch_size,
               step=notebook_step(opt_g, opt_d), optimizer={"g": opt_g, "d": opt_d},
               prepare=vision.prepare((0.5,), (0.5,), augment=False, channels_last=True), progress_bar=False)


def labkit_epoch(train, device, batch_size: int, images: int) -> float:
    sync(device)
    started = time.perf_counter()
    labkit_fit(train, device, batch_size, images)
    sync(device)
    return time.perf_counter() - started


def dataloader_only(dataset, batch_size: int, images: int) -> float:
    """Seconds to iterate the source's DataLoader alone (decode + per-sample transforms + collate)."""
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(images)), batch_size=batch_size,
                                         shuffle=True)
    started = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - started


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    parser.add_argument("--data", default=os.environ.get("LABKIT_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")),
                        help="folder with MNIST/raw/*.gz (default: $LABKIT_DATA, else ../shared/data)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of both loops (source: 64)")
    parser.add_argument("--images", type=int, default=60000, help="training images per epoch (default: all 60,000)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads of both loops (0: labkit's adaptive thread policy in both)")
    parser.add_argument("--breakdown", action="store_true", help="also time the source's DataLoader alone")
    args = parser.parse_args(argv)
    fix_threads(args.threads or None)
    device = labkit.pick_device(args.device)
    raw_gz = Path(args.data) / "MNIST" / "raw"
    if not (raw_gz / "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"bench/dcgan.py: no MNIST files in {raw_gz}; pass --data FOLDER (the course data) or set LABKIT_DATA")
    os.environ["LABKIT_DATA"] = str(Path(args.data).resolve())
    os.environ.setdefault("LABKIT_OFFLINE", "1")

    mnist = data.load("mnist", device=device)  # uint8 on the device, once (not timed, like the source's dataset object)
    images = min(args.images, len(mnist.train))
    steps = -(-images // args.batch_size)
    print(f"DCGAN, one epoch of {images} MNIST images ({steps} steps of batch {args.batch_size}) on {device} "
          f"({device_name(device)}); torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {_load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-dcgan-") as tmp:
        dataset = source_dataset(raw_gz, Path(tmp))
        # warm-up (allocator, cuDNN autotuning, lazy initialisation): a few steps of each, untimed
        source_epoch(dataset, device, args.batch_size, args.batch_size * 5)
        labkit_epoch(mnist.train, device, args.batch_size, args.batch_size * 5)
        cpu = time.process_time()
        source = source_epoch(dataset, device, args.batch_size, images)
        source_cpu = time.process_time() - cpu
        print(f"source loop (DataLoader, per-sample ToTensor+Normalize, Sigmoid+BCELoss, .item() per step): "
              f"{source:.2f} s ({1000 * source / steps:.1f} ms/step; process CPU time {source_cpu:.1f} s)", flush=True)
        cpu = time.process_time()
        ours = labkit_epoch(mnist.train, device, args.batch_size, images)
        ours_cpu = time.process_time() - cpu
        print(f"labkit loop (uint8 tensor on the device, labkit.fit, BCEWithLogits, channels-last, fused Adam, "
              f"no per-step sync): {ours:.2f} s ({1000 * ours / steps:.1f} ms/step; process CPU time {ours_cpu:.1f} s)",
              flush=True)
        if args.breakdown:
            loader = dataloader_only(dataset, args.batch_size, images)
            print(f"  of the source loop, the DataLoader alone: {loader:.2f} s ({100 * loader / source:.0f}%)", flush=True)
    print(f"load average after: {_load()} (a shared CPU makes absolute times noisy; read the ratio)")
    if device.type == "cpu":
        print(f"ratio of process CPU times: {source_cpu / ours_cpu:.2f}")
    work = dense_work(lambda: labkit_fit(mnist.train, device, args.batch_size, args.batch_size))
    fraction_of_dense("dcgan", work, ours, steps, ours_cpu)
    print(f"dcgan_epoch_speedup_vs_source: {source / ours:.2f}")


if __name__ == "__main__":
    main()
