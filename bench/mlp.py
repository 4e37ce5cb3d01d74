"""Benchmark: one epoch of the mlp lab's MLP on full MNIST, labkit's loop vs the source reports' loop.

The source loop is what the course's reports wrote by hand: torchvision's ``MNIST`` dataset with a
per-sample ``ToTensor`` transform, a ``DataLoader`` with batch 256, and ``loss.item()`` /
accuracy read back on every step. labkit's loop (``labkit.fit``) keeps the dataset as one tensor and
batches by index. Both train the same model (the notebook's own ``make_model("mlp")``: 784-256-128-64-10
with BatchNorm, built from notebooks/mlp.ipynb by bench/_notebook.py) with the same optimizer, in the
same process, under the same thread policy (``--threads N``; else labkit's adaptive policy, which the
source loop applies before every step too), after an untimed warm-up of five steps. Also printed: the fraction of this machine's dense matmul throughput at the model's
shapes that labkit's loop reaches (bench/_throughput.py; ``mlp_fraction_of_dense_throughput: <x>``).

Also measured: the report pipeline's overhead (papermill + HTML + PDF) over executing the same notebook
bare with nbclient.

    LABKIT_DATA=../shared/data python bench/mlp.py [--epochs 1] [--skip-pipeline]

Last line: ``mlp_epoch_speedup_vs_source: <x>``.
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labkit  # noqa: E402
from _notebook import definitions  # noqa: E402
from _source import classifier_epoch  # noqa: E402
from _throughput import dense_work, fix_threads, fraction_of_dense  # noqa: E402
from labkit import data  # noqa: E402

MEAN, STD = 0.1307, 0.3081
BATCH = 256


_NOTEBOOK = None


def mlp() -> nn.Module:
    """The mlp notebook's MLP: ``make_model("mlp")`` (the notebook's definitions are read once, untimed
    after the first call: reading them takes seconds, as long as the epoch being timed)."""
    global _NOTEBOOK
    if _NOTEBOOK is None:
        _NOTEBOOK = definitions("mlp")
    return _NOTEBOOK.make_model("mlp")


def source_loop(root: Path, epochs: int) -> float:
    """The source reports' loop: torchvision MNIST + ToTensor + DataLoader(batch 256)."""
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    train = torchvision.datasets.MNIST(root, train=True, transform=transform, download=False)
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    torch.manual_seed(0)
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    start = time.perf_counter()
    for _ in range(epochs):
        classifier_epoch(model, loader, optimizer)
    return (time.perf_counter() - start) / epochs


def labkit_fit(train, epochs: int) -> None:
    labkit.seed_everything(0)
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    labkit.fit(model, train, epochs=epochs, batch_size=BATCH, loss=labkit.classify(),
               optimizer=optimizer, prepare=labkit.standardize(MEAN, STD), progress_bar=False)


def labkit_loop(train, epochs: int) -> tuple[float, float]:
    """Wall and process CPU seconds per epoch of labkit's loop."""
    start, cpu = time.perf_counter(), time.process_time()
    labkit_fit(train, epochs)
    return (time.perf_counter() - start) / epochs, (time.process_time() - cpu) / epochs


def unpacked_mnist(tmp: Path) -> Path:
    """torchvision's MNIST reads the unpacked IDX files: unpack the .gz copies into ``tmp``."""
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (data.data_dir() / "MNIST" / "raw").glob("*.gz"):
        with gzip.open(gz) as src, open(raw / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return tmp


def pipeline_overhead() -> tuple[float, float]:
    """Seconds to execute the mlp notebook (smoke) bare, and through ``labkit report``."""
    import nbformat
    from nbclient import NotebookClient
    from labkit.report import pipeline as report

    notebook = ROOT / "notebooks" / "mlp.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:  # the same parameters papermill would inject
            if "parameters" in cell.metadata.get("tags", []):
                cell.source += '\nprofile = "smoke"\n'
        start = time.perf_counter()
        NotebookClient(nb, resources={"metadata": {"path": str(notebook.parent)}}).execute()
        bare = time.perf_counter() - start
        start = time.perf_counter()
        report.render(notebook, Path(tmp) / "out", {"profile": "smoke"}, name="mlp", log=lambda *a: None)
        full = time.perf_counter() - start
    return bare, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--skip-pipeline", action="store_true", help="skip the report-pipeline overhead")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of both loops (default: labkit's adaptive thread policy in both)")
    args = parser.parse_args()
    fix_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data {data.data_dir()}")
    mnist = data.load("mnist")
    if mnist.info["source"] == "sample":
        sys.exit("bench/mlp.py needs the full MNIST: set LABKIT_DATA (e.g. LABKIT_DATA=../shared/data)")
    # untimed warm-up, as bench/vae.py and bench/dcgan.py do: the notebook's definitions, and five steps
    # (the process's first training step pays torch's one-time start-up, 1.3 s here, for both loops)
    labkit_fit((mnist.train.x[:5 * BATCH], mnist.train.y[:5 * BATCH]), 1)
    ours, ours_cpu = labkit_loop(mnist.train, args.epochs)
    print(f"labkit loop: {ours:.2f} s/epoch (process CPU time {ours_cpu:.2f} s)")
    work = dense_work(lambda: labkit_fit((mnist.train.x[:BATCH], mnist.train.y[:BATCH]), 1))
    fraction_of_dense("mlp", work, ours, -(-len(mnist.train) // BATCH), ours_cpu)
    with tempfile.TemporaryDirectory() as tmp:
        theirs = source_loop(unpacked_mnist(Path(tmp)), args.epochs)
    print(f"source loop (DataLoader + ToTensor, batch 256): {theirs:.2f} s/epoch")
    if not args.skip_pipeline:
        bare, full = pipeline_overhead()
        print(f"mlp notebook, smoke profile: bare execution {bare:.1f} s, labkit report {full:.1f} s, "
              f"pipeline overhead {full - bare:.1f} s")
    print(f"mlp_epoch_speedup_vs_source: {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
