"""Which fraction of this machine's dense matmul/convolution throughput a training loop reaches.

Used by every lab bench (not a benchmark itself: bench/run.py skips files starting with ``_``)::

    work = dense_work(lambda: labkit.fit(fresh_model, one_batch, epochs=1, batch_size=B, ...))
    ...  # time the real loop: `steps` steps in `seconds`
    fraction_of_dense(lab, work, seconds, steps)   # prints `<lab>_fraction_of_dense_throughput: 0.41`

How it counts:

* ``dense_work`` runs one training step under a recorder (a ``TorchDispatchMode``) and keeps every
  dense operation of the **forward** pass (``mm``, ``addmm``, ``bmm``, ``convolution``...: the ops
  ``torch.utils.flop_counter`` has a formula for), with its arguments and its FLOPs (a multiply-add
  counts 2). These are the model's layers at the lab's own shapes, batch size and memory layout
  (channels-last where the loop uses it). Backward ops are not recorded.
* The loop's work per step is taken as **3x the forward FLOPs**: the backward pass computes two
  products per forward product (the gradient with respect to the input and to the weights), each as
  large as the forward one (Kaplan et al. 2020, "Scaling laws for neural language models", sec. 2.1:
  training compute ~ 6 N per token = 3x the forward's 2 N). It is an approximation: the first
  layer needs no input gradient, a frozen network (a GAN's discriminator during the generator's
  step) no weight gradient.
* The machine's dense throughput at those shapes: the recorded forward ops replayed alone, back to
  back, on the same tensors and threads (the median of repeated replays over about a second).
* fraction = (3 x forward FLOPs x steps / loop seconds) / (forward FLOPs / replay seconds).
  1.0 means the loop runs as fast as its matrix products alone would; the rest of the gap is
  element-wise work (activations, normalisation, the optimizer), Python and kernel-launch overhead.
  Seconds are the **process's CPU time** when the bench passes the loop's (``time.process_time``;
  the replay's is taken the same way, over blocks of replays long enough for the
  kernel to have accounted every thread's CPU time): on a machine shared with other work a process waits for a
  core for much of an epoch's wall time, but hardly during a replay of a few milliseconds, so wall
  times would understate the fraction by the load (0.10 instead of 0.5 beside a load of 12 on 2
  cores). Without the loop's CPU time, wall times are used.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

#: Training FLOPs per forward FLOP (forward 1 + backward 2), see the module docstring.
TRAINING_FACTOR = 3


@dataclass
class DenseWork:
    """The dense ops of one training step's forward pass: ``calls`` are (op, args, kwargs, FLOPs)."""

    calls: list[tuple[Any, tuple, dict, int]] = field(default_factory=list)

    @property
    def forward_flops(self) -> int:
        return sum(c[3] for c in self.calls)

    @property
    def step_flops(self) -> int:
        """Training FLOPs of one step: :data:`TRAINING_FACTOR` x the forward's."""
        return TRAINING_FACTOR * self.forward_flops

    def replay_seconds(self, seconds: float = 1.0, block: float = 0.05) -> tuple[float, float]:
        """Median (wall, process CPU) seconds of one back-to-back replay of the forward's dense ops (no autograd).

        Replays are timed in blocks of about ``block`` seconds, each divided by its replays: the process
        CPU clock adds another thread's running time only when the kernel next accounts it (at a
        scheduler tick), so one replay of a few hundred microseconds on 2 threads read as 1 CPU-second
        per second (and the fraction below came out half of what it is).
        """
        walls: list[float] = []
        cpus: list[float] = []
        cuda = any(torch.is_tensor(a) and a.is_cuda for a in self.calls[0][1])

        def replay() -> None:
            for func, args, kwargs, _ in self.calls:
                func(*args, **kwargs)
            if cuda:
                torch.cuda.synchronize()

        with torch.no_grad():
            replay()  # warm-up: oneDNN primitive creation, caches
            t0 = time.perf_counter()
            replay()
            per_block = max(1, round(block / max(time.perf_counter() - t0, 1e-6)))
            started = time.perf_counter()
            while len(walls) < 3 or (time.perf_counter() - started < seconds and len(walls) < 1000):
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(per_block):
                    replay()
                walls.append((time.perf_counter() - t0) / per_block)
                cpus.append((time.process_time() - c0) / per_block)
        return statistics.median(walls), statistics.median(cpus)


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.work = DenseWork()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func.overloadpacket)
        if formula is not None and torch._C._current_graph_task_id() == -1:  # -1: not inside backward()
            self.work.calls.append((func, args, kwargs, int(formula(*args, **kwargs, out_val=out))))
        return out


def dense_work(step: Callable[[], Any]) -> DenseWork:
    """Run ``step()`` (one training step, on a scratch model: it is updated) and record its forward's dense ops."""
    recorder = _Recorder()
    with recorder:
        step()
    if not recorder.work.calls:
        raise RuntimeError("the step ran no matmul or convolution: nothing to compare with the machine's throughput")
    return recorder.work


def fraction_of_dense(lab: str, work: DenseWork, loop_seconds: float, steps: int, loop_cpu_seconds: float | None = None,
                      replay_for: float = 1.0) -> float:
    """Print the loop's and the machine's GFLOP/s and the line ``<lab>_fraction_of_dense_throughput: <x>``.

    ``loop_seconds`` (wall) and ``loop_cpu_seconds`` (the process's CPU time, if the bench took it):
    what the timed loop took for ``steps`` training steps of the recorded shape. Replays the recorded
    ops for about ``replay_for`` seconds (call it right after the loop, so that both see the same
    threads). The fraction uses CPU times when ``loop_cpu_seconds`` is given (see the module
    docstring), else wall times. Returns the fraction.
    """
    wall, cpu = work.replay_seconds(replay_for)
    gflop = work.forward_flops / 1e9
    kinds = sorted({str(c[0].overloadpacket).replace("aten.", "") for c in work.calls})
    print(f"dense throughput at the lab's shapes ({len(work.calls)} forward {'/'.join(kinds)} ops, {gflop:.3f} GFLOP "
          f"per step, replayed alone, {torch.get_num_threads()} threads): {gflop / wall:.1f} GFLOP/s "
          f"({gflop / max(cpu, 1e-9):.1f} per CPU-second)")
    print(f"labkit loop: {TRAINING_FACTOR} x {gflop:.3f} GFLOP per step (forward + backward ~ 3x forward) x {steps} "
          f"steps in {loop_seconds:.2f} s: {work.step_flops * steps / loop_seconds / 1e9:.1f} GFLOP/s"
          + (f" ({loop_cpu_seconds:.2f} s of CPU time: {work.step_flops * steps / loop_cpu_seconds / 1e9:.1f} "
             f"per CPU-second)" if loop_cpu_seconds else ""))
    if loop_cpu_seconds:
        fraction = TRAINING_FACTOR * cpu * steps / loop_cpu_seconds
    else:
        fraction = TRAINING_FACTOR * wall * steps / loop_seconds
    print(f"{lab}_fraction_of_dense_throughput: {fraction:.2f}", flush=True)
    return fraction


def fix_threads(requested: int | None = None) -> int:
    """The thread policy of a bench run: the same for every loop, so that the ratio measures the loops.

    ``requested`` (a bench's ``--threads``): exactly that many threads for the whole run
    (``LABKIT_THREADS`` is set, so ``labkit.fit`` keeps it). Else labkit's adaptive policy
    (``labkit.threads``: the usable cores, fewer while other work competes), which ``labkit.fit``
    applies before every step and each bench's source loop too (it calls ``labkit.threads.adapt()``
    before every step: the source's code plus the environment's thread policy). Without that, on a
    shared machine the source loop alone would run torch's default, spinning threads and collapse
    (bench/shared_cpu.py measures the thread policy itself). Returns the thread count now.
    """
    import os

    from labkit import threads

    if requested:
        torch.set_num_threads(requested)
        os.environ[threads.ENV] = str(requested)
        return requested
    return threads.adapt(force=True)
