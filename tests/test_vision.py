"""Unit tests of labkit.vision (augmentation, normalisation, feature maps, confusion matrix, speed switches)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import labkit
from labkit import vision


def _images(n=6, c=3, h=8, w=8, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, h, w), generator=g)
    return x.to(dtype)


def _candidates(image: torch.Tensor, padding: int, mode: str) -> list[torch.Tensor]:
    """Every crop (and mirrored crop) torchvision's RandomCrop + RandomHorizontalFlip could return."""
    h, w = image.shape[-2:]
    padded = F.pad(image[None].float(), (padding,) * 4, mode="reflect" if mode == "reflect" else "constant")[0]
    crops = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            crops += [crop, crop.flip(-1)]
    return crops


@pytest.mark.parametrize("mode", vision.PADDING_MODES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_crop_flip_matches_per_image_crops(mode, dtype):
    torch.manual_seed(1)
    x = _images(n=32, dtype=dtype)
    out = vision.random_crop_flip(x, padding=2, padding_mode=mode)
    assert out.shape == x.shape and out.dtype == x.dtype
    for image, result in zip(x, out):
        assert any(torch.equal(result.float(), c) for c in _candidates(image, 2, mode))


def test_random_crop_flip_varies_and_covers_offsets_and_flips():
    torch.manual_seed(0)
    x = torch.arange(16.).reshape(1, 1, 4, 4).expand(400, 1, 4, 4).contiguous()
    out = vision.random_crop_flip(x, padding=1)
    distinct = {tuple(o.flatten().tolist()) for o in out}
    assert len(distinct) == 18  # 3 x 3 offsets, each flipped or not


def test_random_crop_flip_is_reproducible_from_the_seed():
    x = _images()
    torch.manual_seed(5)
    a = vision.random_crop_flip(x)
    torch.manual_seed(5)
    b = vision.random_crop_flip(x)
    assert torch.equal(a, b)


def test_flip_only_and_identity():
    x = _images()
    assert vision.random_crop_flip(x, padding=0, flip=False) is x
    torch.manual_seed(0)
    out = vision.random_crop_flip(x, padding=0, flip=True)
    for image, result in zip(x, out):
        assert torch.equal(result, image) or torch.equal(result, image.flip(-1))


def test_random_crop_flip_rejects_bad_input():
    with pytest.raises(ValueError, match="N, C, H, W"):
        vision.random_crop_flip(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="padding_mode"):
        vision.random_crop_flip(_images(), padding_mode="edge")
    with pytest.raises(ValueError, match="smaller than the image"):
        vision.random_crop_flip(_images(h=4, w=4), padding=4)


def test_random_crop_flip_keeps_channels_last_input_correct():
    torch.manual_seed(2)
    x = _images(n=8)
    torch.manual_seed(3)
    a = vision.random_crop_flip(x)
    torch.manual_seed(3)
    b = vision.random_crop_flip(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(a, b)


def test_normalize_uint8_and_float_agree():
    x = _images()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    a = vision.normalize(x, mean, std)
    b = vision.normalize(x.float() / 255, mean, std)
    expected = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b, expected, rtol=1e-5, atol=1e-5)


def test_prepare_augments_only_when_training_and_sets_channels_last():
    x, y = _images(n=16), torch.arange(16)
    prep = vision.prepare(channels_last=True)
    test_x, test_y = prep(x, y, False)
    assert torch.equal(test_y, y)
    torch.testing.assert_close(test_x, vision.normalize(x, vision.CIFAR10_MEAN, vision.CIFAR10_STD))
    assert test_x.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    train_x, _ = prep(x, y, True)
    assert train_x.is_contiguous(memory_format=torch.channels_last)
    assert not torch.allclose(train_x, test_x)
    plain = vision.prepare(augment=False)
    torch.testing.assert_close(plain(x, y, True)[0], test_x)
    with pytest.raises(ValueError, match="channels"):
        vision.prepare((0.5,), (0.2, 0.2))
    with pytest.raises(ValueError, match="padding_mode"):
        vision.prepare(padding_mode="wrap")
    with pytest.raises(ValueError, match="padding must be"):
        vision.prepare(padding=-1)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.stage = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 3))

    def forward(self, x):
        return self.head(self.stage(self.stem(x)))


def test_flip_tta_averages_mirrored_logits_in_eval_only():
    torch.manual_seed(0)
    model = _Tiny().eval()
    x = torch.randn(5, 3, 8, 8)
    tta = vision.FlipTTA(model).eval()
    torch.testing.assert_close(tta(x), (model(x) + model(x.flip(-1))) / 2)
    tta.train()
    assert model.training
    torch.testing.assert_close(tta(x), model(x))


def test_feature_maps_captures_layers_and_removes_hooks():
    torch.manual_seed(0)
    model = _Tiny().train()
    x = torch.randn(2, 3, 8, 8)
    maps = vision.feature_maps(model, x, ["stem", "stage", "stage.0"])
    assert list(maps) == ["stem", "stage", "stage.0"]
    assert maps["stem"].shape == (2, 8, 8, 8) and maps["stage"].shape == (2, 12, 4, 4)
    assert model.training  # restored
    assert all(not m._forward_hooks for m in model.modules())
    labelled = vision.feature_maps(model, x, {"first": model.stem})
    torch.testing.assert_close(labelled["first"], maps["stem"])
    with pytest.raises(ValueError, match="no submodule 'nope'.*stem, stage, head"):
        vision.feature_maps(model, x, ["nope"])
    unused = nn.Linear(2, 2)
    model.unused = unused
    with pytest.raises(ValueError, match="not called"):
        vision.feature_maps(model, x, ["unused"])
    assert not unused._forward_hooks


def test_feature_map_images_scale_and_size():
    maps = torch.stack([torch.arange(16.).view(4, 4), torch.full((4, 4), 3.0), -torch.arange(16.).view(4, 4)])
    images = vision.feature_map_images(maps[None], channels=2, size=8)
    assert images.shape == (2, 1, 8, 8)
    assert images[0].min() == 0 and images[0].max() == 1
    assert torch.all(images[1] == 0)  # a constant map
    assert vision.feature_map_images(maps).shape == (3, 1, 4, 4)
    with pytest.raises(ValueError, match="one image"):
        vision.feature_map_images(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="C, H, W"):
        vision.feature_map_images(torch.zeros(4, 4))


def test_confusion_matrix_and_per_class_accuracy():
    target = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0, 2])
    cm = vision.confusion_matrix(predicted, target, 4)
    expected = torch.zeros(4, 4, dtype=torch.long)
    for t_, p in zip(target, predicted):
        expected[t_, p] += 1
    assert torch.equal(cm, expected)
    acc = vision.per_class_accuracy(cm)
    torch.testing.assert_close(acc[:3], torch.tensor([0.5, 2 / 3, 1.0], dtype=torch.float64))
    assert torch.isnan(acc[3])
    with pytest.raises(ValueError, match="predictions"):
        vision.confusion_matrix(predicted[:2], target, 3)
    with pytest.raises(ValueError, match="outside"):
        vision.confusion_matrix(torch.tensor([5]), torch.tensor([0]), 3)


def test_confusion_figure_draws_every_count():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cm = torch.tensor([[3, 1], [0, 4]])
    fig = vision.confusion_figure(cm, ["cat", "dog"], title="cm")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["3", "1", "0", "4"]
    plt.close(fig)
    with pytest.raises(ValueError, match="class names"):
        vision.confusion_figure(cm, ["a", "b", "c"])


def _history(test_losses):
    return labkit.History("h", [{"epoch": i + 1, "test_loss": v} for i, v in enumerate(test_losses)])


def test_loss_rise_epoch():
    assert labkit.loss_rise_epoch(_history([1.0, 0.8, 0.7, 0.75, 0.9])) == 4
    assert labkit.loss_rise_epoch(_history([1.0, 0.8, 0.7, 0.6])) is None
    assert labkit.loss_rise_epoch(_history([1.0, 0.7, 0.69, 0.705])) is None  # within the tolerance
    assert labkit.loss_rise_epoch(_history([1.0, 0.7, 0.6, 0.9])) is None  # one epoch is not a trend
    assert labkit.loss_rise_epoch(_history([1.0, 0.7, 0.6, 0.9]), patience=1) == 4
    assert labkit.loss_rise_epoch(_history([1.0])) is None
    assert labkit.loss_rise_epoch(_history([])) is None


def test_speed_up_channels_last_and_compile_paths_on_cpu():
    torch.manual_seed(0)
    model = _Tiny()
    x = torch.randn(2, 3, 8, 8)
    expected = model.eval()(x)
    fast = vision.speed_up(model, channels_last=True, compile=True, compile_backend="eager")
    assert fast is model
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert set(model.state_dict()) == set(_Tiny().state_dict())  # checkpoints keep their names
    torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), expected,
                               rtol=1e-4, atol=1e-5)


def test_no_decay_groups_exempts_biases_and_norms():
    model = _Tiny()
    decay, no_decay = labkit.no_decay_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(decay["params"]) == {id(model.stem[0].weight), id(model.stage[0].weight), id(model.head[2].weight)}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_prepare_in_fit_with_channels_last_and_bf16_flag_trains_on_cpu():
    """The GPU path's switches (channels_last, bf16 flag, augmentation) run end to end on the CPU."""
    torch.manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    y = (x.float().mean(dim=(1, 2, 3)) > 127.5).long()
    model = vision.speed_up(_Tiny(), channels_last=True)
    opt = torch.optim.SGD(labkit.no_decay_groups(model, 5e-4), lr=0.1, momentum=0.9, nesterov=True)
    history = labkit.fit(model, (x, y), (x, y), epochs=2, batch_size=16, loss=labkit.classify(), optimizer=opt,
                         prepare=vision.prepare((0.5,) * 3, (0.25,) * 3, channels_last=True, padding=2),
                         bf16=True, progress_bar=False)
    assert history.epochs == 2 and 0 <= history.last("test_acc") <= 1
    tta = labkit.evaluate(vision.FlipTTA(model), (x, y), labkit.classify(),
                          prepare=vision.prepare((0.5,) * 3, (0.25,) * 3, channels_last=True))
    assert 0 <= tta["test_acc"] <= 1


def test_speed_up_keeps_narrow_cpu_models_in_the_standard_layout_and_they_train():
    """torch 2.14's oneDNN crashes (segfault) in the backward of a channels-last strided 1x1 convolution
    with fewer than 8 input channels on one CPU thread; speed_up falls back to the standard layout.
    Run in a child process with one thread, since a crash would kill the test process."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import warnings, torch
        from torch import nn
        from labkit import vision
        torch.set_num_threads(1)
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 8, 1, stride=2), nn.BatchNorm2d(8),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vision.speed_up(net, channels_last=True)
        assert any("standard layout" in str(w.message) for w in caught)
        x = torch.randn(64, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        for _ in range(3):
            net(x).logsumexp(1).mean().backward()
        wide = vision.speed_up(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 1, stride=2)), channels_last=True)
        assert wide[1].weight.is_contiguous(memory_format=torch.channels_last)
        print("trained")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "trained" in done.stdout, (done.returncode, done.stderr[-2000:])
