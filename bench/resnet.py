"""ResNet-18 training throughput: labkit's loop vs the source reports' loop, same run, same machine.

The source's loop (what the course's students ran):
  a ``DataLoader`` (batch 64, shuffled, ``num_workers=0`` as DataLoader's default) over a per-image dataset
  that, like torchvision's ``CIFAR10``, turns each HWC uint8 array into a PIL image and applies
  ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``, ``ToTensor()`` and ``Normalize`` image by
  image; float32; ``loss.item()`` and ``(...).sum().item()`` on every step for the running totals.
labkit's loop:
  ``labkit.fit`` over the uint8 images held on the device, augmented and normalised per batch on the device
  by ``labkit.vision.prepare``, channels-last, bf16 autocast and cudnn.benchmark on CUDA, metrics read once
  per epoch; on CUDA also with ``torch.compile`` (mode ``reduce-overhead``: CUDA graphs), reported
  separately; the speedup uses the faster of the two (a compile failure is reported and skipped).

Both train the same ResNet-18 (the notebook's architecture) with Adam 1e-3 at the same batch size, on the
same CIFAR-10 images (``LABKIT_DATA``; else labkit's embedded sample). The first batches (warm-up:
cuDNN's autotuning, compilation) are not timed. Throughput = images / seconds of one epoch; with
``--repeats`` > 1 the two loops alternate and the median of each is used.

    python bench/resnet.py                              # CPU: width 16, 640 images, 3 repeats
    python bench/resnet.py --device cuda --epochs 1     # GPU: the real ResNet-18 on all 50,000 images

Both loops run under the same thread policy (``--threads N``; else labkit's adaptive policy, which the
source loop applies before every step too). Also printed: the fraction of this machine's dense convolution throughput at the network's
shapes that labkit's (eager) loop reaches (bench/_throughput.py;
``resnet_fraction_of_dense_throughput: <x>``).

The last line is ``resnet_epoch_speedup_vs_source: <x>`` (labkit images/s over the source's).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _notebook import definitions  # noqa: E402
from _source import classifier_epoch  # noqa: E402
from _throughput import dense_work, fix_threads, fraction_of_dense  # noqa: E402


# ----------------------------------------------------------------- the model: the notebook's own
# (bench/_notebook.py runs the notebook's definitions; both loops below time the same network)

ResNet18 = definitions("resnet").ResNet18


# ----------------------------------------------------------------- the source's loop


class SourceCIFAR10(torch.utils.data.Dataset):
    """Per-image access as torchvision's ``CIFAR10.__getitem__``: HWC array -> PIL image -> transform."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray, transform):
        self.data, self.targets, self.transform = images_hwc, labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        from PIL import Image
        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


def source_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, workers: int, seed: int):
    import torchvision.transforms as T
    from labkit.vision import CIFAR10_MEAN, CIFAR10_STD

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    dataset = SourceCIFAR10(x.permute(0, 2, 3, 1).contiguous().numpy(), y.numpy(), transform)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       drop_last=True, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------- labkit's loop


def labkit_epochs(model, x, y, optimizer, batch_size: int, epochs: int, channels_last: bool, bf16: bool, seed: int):
    import labkit
    from labkit import vision

    prepare = vision.prepare(vision.CIFAR10_MEAN, vision.CIFAR10_STD, channels_last=channels_last)
    return labkit.fit(model, (x, y), epochs=epochs, batch_size=batch_size, loss=labkit.classify(),
                      optimizer=optimizer, prepare=prepare, bf16=bf16, seed=seed, drop_last=True,
                      progress_bar=False)


# ----------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_source(args, x, y, device) -> float:
    torch.backends.cudnn.benchmark = False  # PyTorch's defaults (a labkit run before may have changed them)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(args.seed)
    model = ResNet18(args.width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = source_loader(x, y, args.batch_size, args.workers, args.seed)
    classifier_epoch(model, loader, optimizer, device, max_batches=args.warmup)  # not timed
    _sync(device)
    started = time.perf_counter()
    images = 0
    for _ in range(args.epochs):
        images += classifier_epoch(model, loader, optimizer, device)[0]
    _sync(device)
    return images / (time.perf_counter() - started)


#: Images per second of process CPU time of each eager labkit run (for the fraction of dense throughput).
CPU_RATES: list[float] = []


def time_labkit(args, x, y, device, compile_model: bool) -> float:
    from labkit import vision

    torch.manual_seed(args.seed)
    cuda = device.type == "cuda"
    model = vision.speed_up(ResNet18(args.width).to(device), channels_last=True, compile=compile_model,
                            compile_mode=args.compile_mode)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    warm = args.warmup * args.batch_size
    labkit_epochs(model, x[:warm], y[:warm], optimizer, args.batch_size, 1, True, cuda, args.seed)  # not timed
    _sync(device)
    started, cpu = time.perf_counter(), time.process_time()
    history = labkit_epochs(model, x, y, optimizer, args.batch_size, args.epochs, True, cuda, args.seed)
    _sync(device)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert history.epochs == args.epochs
    images = (len(x) // args.batch_size) * args.batch_size * args.epochs
    if not compile_model:
        CPU_RATES.append(images / cpu)
    return images / seconds


def run_bench(args) -> None:
    from labkit import data, vision
    from labkit.device import device_name, pick_device

    fix_threads(args.threads)
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    width = args.width or (64 if cuda else 16)
    images = args.images if args.images is not None else (0 if cuda else 640)
    repeats = args.repeats or (1 if cuda else 3)
    args.width = width
    compile_model = args.compile if args.compile is not None else cuda
    if compile_model and args.compile_mode is None and cuda:
        args.compile_mode = "reduce-overhead"  # CUDA graphs: at batch 64 kernel launches dominate
    cifar = data.load("cifar10", train_size=images or None, test_size=10, seed=args.seed)
    x, y = cifar.train.x, cifar.train.y
    if len(x) < args.batch_size * (args.warmup + 1):
        raise SystemExit(f"--images {len(x)} is too few for batch {args.batch_size} and {args.warmup} warm-up batches")
    name = device_name(device) + ("" if cuda else f" ({torch.get_num_threads()} threads)")
    print(f"device: {name} | torch {torch.__version__} | python {platform.python_version()}")
    print(f"ResNet-18 width {width} | {len(x):,} CIFAR-10 images ({cifar.info['source']}) x {args.epochs} epoch(s) | "
          f"batch {args.batch_size} | Adam 1e-3 | {args.warmup} warm-up batches not timed | repeats {repeats}")
    if not cuda:
        print("note: on a shared CPU the absolute numbers are noisy; the two loops alternate, medians are compared")

    source, fast, compiled = [], [], []
    for r in range(repeats):
        source.append(time_source(args, x, y, device))
        fast.append(time_labkit(args, x, y, device, False))
        if compile_model:
            try:
                compiled.append(time_labkit(args, x, y, device, True))
            except Exception as error:  # report, keep the eager result
                print(f"torch.compile failed, compiled loop skipped: {type(error).__name__}: {error}")
                compile_model = False
        print(f"  run {r + 1}: source {source[-1]:.1f} img/s, labkit {fast[-1]:.1f} img/s"
              + (f", labkit compiled {compiled[-1]:.1f} img/s" if compiled else ""), flush=True)

    def line(label: str, values: list[float]) -> float:
        median = statistics.median(values)
        print(f"{label}: {median:,.1f} images/s ({50000 / median:,.1f} s per 50,000-image epoch)")
        return median

    src = line("source loop (DataLoader + per-image PIL transforms, float32, .item() per step)", source)
    lab = line("labkit loop (data on the device, vision.prepare, fit" + (
        ", bf16, channels_last, cudnn.benchmark)" if cuda else ", channels_last)"), fast)
    model = vision.speed_up(ResNet18(args.width).to(device), channels_last=True)
    xb, yb = x[:args.batch_size].to(device), y[:args.batch_size].to(device)
    work = dense_work(lambda: labkit_epochs(model, xb, yb, torch.optim.Adam(model.parameters(), lr=1e-3),
                                            args.batch_size, 1, True, cuda, args.seed))
    fraction_of_dense("resnet", work, args.batch_size / lab, 1, args.batch_size / statistics.median(CPU_RATES))
    best = lab
    if compiled:
        best = max(best, line("labkit loop + torch.compile" + (f" ({args.compile_mode})" if args.compile_mode else ""),
                              compiled))
    print(f"resnet_epoch_speedup_vs_source: {best / src:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--width", type=int, default=None, help="ResNet-18 base width (default: 64 on CUDA, 16 on CPU)")
    parser.add_argument("--images", type=int, default=None,
                        help="training images per epoch (default: all on CUDA, 640 on CPU; 0: all)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per loop (default 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of both loops (source: 64)")
    parser.add_argument("--workers", type=int, default=0, help="the source DataLoader's num_workers (default 0)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up batches per loop (default 3)")
    parser.add_argument("--repeats", type=int, default=None, help="alternate the loops this often (default: 3 CPU, 1 CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads of both loops (default: labkit's adaptive thread policy in both)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="also time labkit's loop with torch.compile (default: on CUDA, off on the CPU)")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode (default on CUDA: reduce-overhead, i.e. CUDA graphs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run_bench(args)


if __name__ == "__main__":
    main()
