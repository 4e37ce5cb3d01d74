"""A training step of each lab, timed on an idle machine and beside four busy processes, in one run.

    python bench/shared_cpu.py [--seconds 3] [--repeats 2] [--labs mlp vae ...]

Each measurement runs in a fresh process (torch's thread pool is per process) for ``--seconds``
after a warm-up, and counts training steps per second; it is taken ``--repeats`` times, the
policies interleaved, and the fastest is kept (as ``timeit`` does: a slower repeat measures
something else the machine did, not the policy):

* ``torch idle``: torch's default threads (``LABKIT_THREADS=torch``), nothing else running;
* ``labkit idle``: labkit's thread policy (``labkit.threads``: all usable cores, fewer when other
  work competes, checked once a second as ``labkit.fit`` does), nothing else running;
* ``torch busy`` and ``labkit busy``: the same beside four processes that spin on the CPU
  (started and stopped by this script);
* with ``--fixed N ...``: also ``N threads busy`` (``LABKIT_THREADS=N``) beside them, e.g.
  ``--fixed 1 2`` to compare labkit's choice with each fixed count; ``--omp KEY=VALUE ...`` sets
  OpenMP variables for those fixed-count runs, idle and busy (e.g. ``--fixed 2 --omp
  GOMP_SPINCOUNT=20000`` or ``OMP_WAIT_POLICY=PASSIVE``: the spin limits and wait policies the
  thread policy was chosen against).

The models are the notebooks' own (``bench/_notebook.py``) at their smoke/quick sizes, in the notebooks'
default memory layout (channels-last for the ResNet and the DCGAN, as ``cfg.channels_last``).
Last lines: ``shared_cpu_slowdown: <worst labkit busy/idle time ratio>`` (target <= 4 on
2 cores, where a fair share is about 3) and ``idle_speed_vs_default: <worst labkit idle /
torch idle speed>`` (target >= 0.95). The result depends on what else the machine is doing:
run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABS = ("mlp", "resnet", "seq2seq", "vae", "dcgan")


def make_step(lab: str):
    """A closure doing one training step of ``lab``'s model on random data of the lab's shapes."""
    from types import SimpleNamespace

    import torch
    from torch import nn

    sys.path.insert(0, str(HERE))
    from _notebook import definitions

    from labkit import vision

    torch.manual_seed(0)
    if lab == "mlp":
        ns = definitions("mlp")
        model = ns.make_model("mlp")
        x, y = torch.randn(256, 1, 28, 28), torch.randint(0, 10, (256,))
        loss_of = lambda: nn.functional.cross_entropy(model(x), y)  # noqa: E731
        params = model.parameters()
    elif lab == "resnet":
        ns = definitions("resnet")
        model = vision.speed_up(ns.ResNet18(16, 10), channels_last=True)  # the quick profile's width and layout
        x, y = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last), torch.randint(0, 10, (64,))
        loss_of = lambda: nn.functional.cross_entropy(model(x), y)  # noqa: E731
        params = model.parameters()
    elif lab == "vae":
        ns = definitions("vae", cfg=SimpleNamespace(latent_dim=20), CHANNELS=1, HEIGHT=28, WIDTH=28)
        model = ns.MLPVAE()
        x = torch.rand(128, 1, 28, 28)
        loss_fn = ns.vae_loss()

        def loss_of():
            value = loss_fn(model, x, x)
            return value[0] if isinstance(value, tuple) else value
        params = model.parameters()
    elif lab == "dcgan":
        ns = definitions("dcgan")
        g, d = (vision.speed_up(net, channels_last=True) for net in (ns.Generator(100), ns.Discriminator()))
        z, real = torch.randn(64, 100, 1, 1), (torch.rand(64, 1, 28, 28) * 2 - 1).contiguous(memory_format=torch.channels_last)
        bce = nn.BCEWithLogitsLoss()

        def loss_of():
            fake = g(z)
            real_logits, fake_logits = d(real).flatten(), d(fake.detach()).flatten()
            d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
            g_logits = d(fake).flatten()
            return d_loss + bce(g_logits, torch.ones_like(g_logits))
        params = [*g.parameters(), *d.parameters()]
    elif lab == "seq2seq":
        ns = definitions("seq2seq")
        model = ns.Translator("gru_attention", 2000, 1500, 128, 0.1)
        src, tgt = torch.randint(3, 2000, (64, 10)), torch.randint(3, 1500, (64, 11))
        from labkit.seq2seq import sequence_nll
        loss_of = lambda: sequence_nll(model, src, tgt, 1.0)[0]  # noqa: E731  (teacher forcing)
        params = model.parameters()
    else:
        raise SystemExit(f"unknown lab {lab!r}; choose from {', '.join(LABS)}")
    optimizer = torch.optim.Adam(list(params), 1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_of().backward()
        optimizer.step()
    return step


def measure(lab: str, seconds: float) -> dict:
    """In this process: steps per second of ``lab`` under the thread policy of the environment."""
    import torch

    from labkit import threads
    step = make_step(lab)
    adapt = threads.setting() != "torch"
    if adapt:
        threads.adapt(force=True)  # as labkit.start does before any training
    for _ in range(3):
        step()
    start = time.perf_counter()
    while time.perf_counter() - start < min(1.0, seconds / 3):  # warm-up
        if adapt:
            threads.adapt()
        step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        if adapt:
            threads.adapt()
        step()
        steps += 1
    return {"steps_per_s": steps / (time.perf_counter() - start), "threads": torch.get_num_threads()}


def run_child(lab: str, policy: str, seconds: float, extra: dict | None = None) -> dict:
    env = dict(os.environ, LABKIT_THREADS=policy, **(extra or {}))
    out = subprocess.run([sys.executable, __file__, "--child", lab, "--seconds", str(seconds)], env=env,
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best_of(repeats: int, runs: dict) -> dict:
    """``runs`` maps a name to a no-argument measurement; each is taken ``repeats`` times, interleaved,
    and the fastest result (most steps per second) of each is returned."""
    best: dict = {}
    for _ in range(repeats):
        for name, run in runs.items():
            result = run()
            if name not in best or result["steps_per_s"] > best[name]["steps_per_s"]:
                best[name] = result
    return best


def busy(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    parser.add_argument("--labs", nargs="+", default=list(LABS), choices=LABS)
    parser.add_argument("--repeats", type=int, default=2, help="times each measurement is taken (the fastest is kept)")
    parser.add_argument("--busy", type=int, default=4, help="busy processes beside the contended runs")
    parser.add_argument("--fixed", nargs="*", type=int, default=[], metavar="N",
                        help="also time these fixed thread counts beside the busy processes")
    parser.add_argument("--omp", nargs="*", default=[], metavar="KEY=VALUE",
                        help="OpenMP environment of the --fixed runs (idle and busy), e.g. GOMP_SPINCOUNT=20000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    omp = dict(item.split("=", 1) for item in args.omp if "=" in item)
    if args.repeats < 1 or args.seconds <= 0:
        parser.error("--repeats must be >= 1 and --seconds > 0")
    if len(omp) != len(args.omp) or (omp and not args.fixed):
        parser.error("--omp takes KEY=VALUE pairs (e.g. GOMP_SPINCOUNT=20000) and needs --fixed N")
    if args.child:
        print(json.dumps(measure(args.child, args.seconds)))
        return 0
    rows = {}
    for lab in args.labs:
        idle = {"torch idle": lambda: run_child(lab, "torch", args.seconds),
                "labkit idle": lambda: run_child(lab, "auto", args.seconds)}
        contended = {"torch busy": lambda: run_child(lab, "torch", args.seconds),
                     "labkit busy": lambda: run_child(lab, "auto", args.seconds)}
        for count in args.fixed:
            if omp:
                idle[f"{count} threads idle"] = lambda count=count: run_child(lab, str(count), args.seconds, omp)
            contended[f"{count} threads busy"] = lambda count=count: run_child(lab, str(count), args.seconds, omp)
        row = best_of(args.repeats, idle)
        spinners = busy(args.busy)
        try:
            time.sleep(0.5)
            row.update(best_of(args.repeats, contended))
        finally:
            for proc in spinners:
                proc.kill()
                proc.wait()
        rows[lab] = row
        cells = "  ".join(f"{k} {v['steps_per_s']:7.1f}/s ({v['threads']}t)" for k, v in row.items())
        print(f"{lab:8s} {cells}", flush=True)
    slowdown = max(r["labkit idle"]["steps_per_s"] / r["labkit busy"]["steps_per_s"] for r in rows.values())
    torch_slowdown = max(r["torch idle"]["steps_per_s"] / r["torch busy"]["steps_per_s"] for r in rows.values())
    idle_ratio = min(r["labkit idle"]["steps_per_s"] / r["torch idle"]["steps_per_s"] for r in rows.values())
    print(f"torch_default_slowdown: {torch_slowdown:.2f}")
    print(f"shared_cpu_slowdown: {slowdown:.2f}")
    print(f"idle_speed_vs_default: {idle_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
