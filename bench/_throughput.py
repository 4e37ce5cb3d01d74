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
  back, on the same tensors and threads, timed with ``time.perf_counter`` (the median of repeated
  replays over about ``seconds`` seconds, so that a shared machine's disturbances weigh the same as
  in the loop's own timing).
* fraction = (3 x forward FLOPs x steps / loop seconds) / (forward FLOPs / replay seconds).
  1.0 means the loop runs as fast as its matrix products alone would; the rest of the gap is
  element-wise work (activations, normalisation, the optimizer), Python and kernel-launch overhead.
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

    def replay_seconds(self, seconds: float = 1.0) -> float:
        """Median wall seconds of one back-to-back replay of the forward's dense ops (no autograd)."""
        times: list[float] = []
        with torch.no_grad():
            for func, args, kwargs, _ in self.calls:  # warm-up: oneDNN primitive creation, caches
                func(*args, **kwargs)
            started = time.perf_counter()
            while len(times) < 3 or (time.perf_counter() - started < seconds and len(times) < 1000):
                t0 = time.perf_counter()
                for func, args, kwargs, _ in self.calls:
                    func(*args, **kwargs)
                if any(torch.is_tensor(a) and a.is_cuda for a in self.calls[0][1]):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


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


def fraction_of_dense(lab: str, work: DenseWork, loop_seconds: float, steps: int, replay_for: float = 1.0) -> float:
    """Print the loop's and the machine's GFLOP/s and the line ``<lab>_fraction_of_dense_throughput: <x>``.

    ``loop_seconds``: wall seconds the timed loop took for ``steps`` training steps of the recorded shape.
    Replays the recorded ops for about ``replay_for`` seconds (call it right after the loop, so that
    both see the same threads and the same load). Returns the fraction.
    """
    dense = work.replay_seconds(replay_for)
    machine = work.forward_flops / dense / 1e9
    loop = work.step_flops * steps / loop_seconds / 1e9
    kinds = sorted({str(c[0].overloadpacket).replace("aten.", "") for c in work.calls})
    print(f"dense throughput at the lab's shapes ({len(work.calls)} forward {'/'.join(kinds)} ops, "
          f"{work.forward_flops / 1e9:.3f} GFLOP per step, replayed alone, {torch.get_num_threads()} threads): "
          f"{machine:.1f} GFLOP/s")
    print(f"labkit loop: {TRAINING_FACTOR} x {work.forward_flops / 1e9:.3f} GFLOP per step (forward + backward "
          f"~ 3x forward) x {steps} steps in {loop_seconds:.2f} s: {loop:.1f} GFLOP/s")
    fraction = loop / machine
    print(f"{lab}_fraction_of_dense_throughput: {fraction:.2f}", flush=True)
    return fraction


def fix_threads(requested: int | None = None) -> int:
    """One thread count for every loop of a bench run, so that the loops compare under the same conditions.

    ``requested`` (a bench's ``--threads``), else labkit's thread policy's choice now
    (``labkit.threads.adapt``: the usable cores, fewer while other work competes). The count is
    then held for the whole run (``LABKIT_THREADS`` is set, so ``labkit.fit`` does not adapt it
    while the source's loop, which has no thread policy, keeps whatever torch has): otherwise on a
    shared machine the source loop alone would run with torch's default, spinning threads.
    Returns the count.
    """
    import os

    from labkit import threads

    count = requested or threads.adapt(force=True)
    torch.set_num_threads(count)
    os.environ[threads.ENV] = str(count)
    return count
