"""labkit.image_scores: the Fréchet distance, the cached reference classifier, image scores, calibration."""
from __future__ import annotations

import math
import os

import re

import pytest
import torch

from labkit import image_scores as scores
from labkit.tables import DIVERGED, marker_text
from conftest import full_data_dir

TINY = dict(epochs=1, train_size=2000, seed=0)


@pytest.fixture(scope="module")
def data_env():
    """Real data when present (else the embedded sample), never a download."""
    with pytest.MonkeyPatch.context() as mp:
        full = full_data_dir()
        if full is not None:
            mp.setenv("LABKIT_DATA", str(full))
        mp.setenv("LABKIT_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def clf(data_env, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_CACHE", str(tmp_path_factory.mktemp("scores-cache")))
        scores.clear_memory()
        yield scores.reference_classifier("mnist", device="cpu", **TINY)


# ------------------------------------------------------------------ Fréchet distance


def _with_moments(n: int, mean: float, std: float, seed: int) -> torch.Tensor:
    """n 1-D samples whose sample mean and (unbiased) std are exactly ``mean`` and ``std``."""
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (x - x.mean()) / x.std() * std + mean


def test_frechet_identical_sets_is_zero():
    feats = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert scores.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_is_symmetric():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 8, generator=g), torch.randn(300, 8, generator=g) * 2 + 1
    assert scores.frechet_distance(a, b) == pytest.approx(scores.frechet_distance(b, a), rel=1e-9)


def test_frechet_matches_1d_closed_form():
    a, b = _with_moments(1000, 0.0, 1.0, 0), _with_moments(800, 3.0, 2.0, 1)
    # (μa − μb)² + (σa − σb)² = 9 + 1
    assert scores.frechet_distance(a, b) == pytest.approx(10.0, rel=1e-9)


def test_frechet_matches_diagonal_closed_form():
    mean_a, mean_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    expected = float((mean_a - mean_b).square().sum() + (var_a.sqrt() - var_b.sqrt()).square().sum())
    value = scores.frechet_distance_gaussians(mean_a, torch.diag(var_a), mean_b, torch.diag(var_b))
    assert value == pytest.approx(expected, rel=1e-9)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="N >= 2"):
        scores.frechet_distance(torch.zeros(1, 4), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="width"):
        scores.frechet_distance(torch.randn(5, 4), torch.randn(5, 3))


def test_class_entropy():
    assert scores.class_entropy([0.1] * 10) == pytest.approx(math.log(10))
    assert scores.class_entropy([1.0] + [0.0] * 9) == 0.0


# ------------------------------------------------------------------ the classifier


def test_classifier_features_predict_and_shapes(clf):
    assert clf.test_acc > 0.8 and clf.info["train_size"] == 2000 and clf.info["from_cache"] is False
    x = torch.rand(7, 1, 28, 28)
    assert clf.features(x).shape == (7, scores.FEATURES)
    assert torch.equal(clf.predict(x.flatten(1)), clf.predict(x))  # (N, H*W) works too
    assert clf.predict((x * 255).to(torch.uint8)).shape == (7,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf.features(x * 2 - 1)  # tanh outputs must be rescaled
    with pytest.raises(ValueError, match="shape"):
        clf.features(torch.rand(3, 3, 32, 32))


def test_calibration_floor_small_and_noise_monotone(clf):
    table = scores.calibration(clf, "mnist", noise_levels=(0.0, 0.1, 0.2, 0.4, 0.8), n=500)
    fids = table["fid"].tolist()
    assert len(fids) == 5
    assert all(a < b for a, b in zip(fids, fids[1:])), fids
    assert fids[0] < 0.1 * fids[-1]
    assert table["class_entropy"].iloc[0] > 2.0  # real images cover all ten classes


def test_image_score_histogram_shows_collapse(clf, data_env):
    from labkit import data

    d = data.load("mnist", train_size=1000, seed=1)
    real = scores.image_score(d.train.x.float() / 255, clf)
    assert real.n == 1000 and sum(real.class_histogram) == pytest.approx(1.0)
    ones = d.train.x[d.train.y == 1].float() / 255
    collapsed = scores.image_score(ones, clf)
    assert collapsed.class_entropy < 0.5 < real.class_entropy
    assert collapsed.fid > real.fid
    explicit = scores.image_score(d.train.x.float() / 255, clf, reference_images=d.test.x)
    assert explicit.fid >= 0
    assert collapsed.collapsed and not real.collapsed  # real digits are far above the threshold
    table = scores.score_table({"real": real, "ones": collapsed})
    assert list(table.index) == ["real", "ones"] and table["rank"].tolist() == [1, 2]
    assert [marker_text(flag) for flag in table[DIVERGED]] == ["", "mode collapse"]


def test_cache_reused_without_retraining(data_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    scores.clear_memory()
    small = dict(epochs=1, train_size=500, seed=0)
    first = scores.reference_classifier("mnist", device="cpu", **small)
    path = first.info["cache"]
    assert os.path.isfile(path) and os.path.isfile(path + ".sha256")
    assert scores.reference_classifier("mnist", device="cpu", **small) is first  # kept in memory
    scores.clear_memory()
    messages: list[str] = []

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was retrained")

    monkeypatch.setattr(scores, "_train", no_training)
    second = scores.reference_classifier("mnist", device="cpu", log=messages.append, **small)
    assert second.info["from_cache"] is True and second.test_acc == first.test_acc
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(second.features(x), first.features(x))
    assert not messages
    # different training settings -> a different cache file
    monkeypatch.undo()
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    other = scores.reference_classifier("mnist", device="cpu", epochs=1, train_size=400, seed=0)
    assert other.info["cache"] != path


def test_corrupt_cache_is_retrained_with_a_message(data_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    scores.clear_memory()
    small = dict(epochs=1, train_size=500, seed=0)
    first = scores.reference_classifier("mnist", device="cpu", **small)
    path = first.info["cache"]
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"corrupted!")
    scores.clear_memory()
    messages: list[str] = []
    again = scores.reference_classifier("mnist", device="cpu", log=messages.append, **small)
    assert any("corrupt" in m for m in messages), messages
    assert again.info["from_cache"] is False
    scores.clear_memory()
    third = scores.reference_classifier("mnist", device="cpu", **small)  # the rewritten file is valid
    assert third.info["from_cache"] is True


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset"):
        scores.reference_classifier("imagenet")
    with pytest.raises(ValueError, match="epochs"):
        scores.reference_classifier("mnist", epochs=0)


def test_diverged_images_score_nan_and_rank_last(clf):
    good = scores.image_score(torch.rand(50, 1, 28, 28), clf)
    bad = scores.image_score(torch.full((50, 784), float("nan")), clf)
    assert math.isnan(bad.fid) and bad.n == 50
    table = scores.score_table({"bad": bad, "good": good})
    assert list(table.index) == ["good", "bad"] and table.loc["bad", "rank"] == 2
    assert table.columns[0] == "rank"
    unsorted = scores.score_table({"bad": bad, "good": good}, sort=False)
    assert list(unsorted.index) == ["bad", "good"] and unsorted["rank"].tolist() == [2, 1]
    fig = scores.class_histograms({"good": good}, classes=clf.classes)
    assert len(fig.axes) == 1


def test_class_histograms_show_whole_class_names_and_translated_settings():
    """English Fashion-MNIST names were cut to 6 characters ("T-shir", "Ankle "); the panel titles
    showed run names untranslated in a Chinese report."""
    from labkit import i18n
    from labkit.data.images import class_names

    score = scores.ImageScore(fid=1.5, class_histogram=[0.1] * 10, class_entropy=2.3, n=10)
    try:
        for lang in ("en", "zh"):
            i18n.set_language(lang)
            names = class_names("fashion_mnist")
            fig = scores.class_histograms({"recipe=source": score}, classes=names)
            ax = fig.axes[0]
            assert [tick.get_text() for tick in ax.get_xticklabels()] == list(names)
            assert ax.get_title().splitlines()[0] == ("Recipe=source" if lang == "en" else "方案=源报告方案")
            import matplotlib.pyplot as plt
            plt.close(fig)
    finally:
        i18n.set_language("en")
    assert "Ankle boot" in class_names("fashion_mnist", lang="en")


# ------------------------------------------------------------------ degenerate runs: mode collapse


def _score(fid: float, entropy: float) -> scores.ImageScore:
    return scores.ImageScore(fid=fid, class_histogram=[0.1] * 10, class_entropy=entropy, n=100)


def test_collapse_threshold_is_three_effective_classes():
    assert scores.COLLAPSE_ENTROPY == pytest.approx(math.log(3))
    assert scores.is_collapsed(0.0) and scores.is_collapsed(math.log(3) - 1e-9)
    assert not scores.is_collapsed(math.log(3)) and not scores.is_collapsed(math.log(10))
    assert not scores.is_collapsed(float("nan"))  # samples that are not finite: diverged, not collapsed
    assert _score(10.0, 0.0).collapsed and not _score(10.0, 2.2).collapsed
    # two balanced classes (entropy ln 2) are collapsed; four (ln 4) are not
    assert scores.is_collapsed(scores.class_entropy([0.5, 0.5] + [0.0] * 8))
    assert not scores.is_collapsed(scores.class_entropy([0.25] * 4 + [0.0] * 6))


def test_score_table_ranks_collapsed_after_normal_runs_and_marks_them():
    """The vae report ranked 'no reconstruction' (FID 127.5, class entropy 0: one class) first by FID."""
    from labkit import i18n

    table_scores = {"one class": _score(127.5, 0.0), "good": _score(300.0, 2.2), "worse": _score(400.0, 2.0),
                    "nan": _score(float("nan"), float("nan")), "blown up": _score(50.0, 2.1)}
    table = scores.score_table(table_scores, diverged=["blown up"])
    assert list(table.index) == ["good", "worse", "one class", "blown up", "nan"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table[DIVERGED].tolist() == [False, False, "collapsed", True, True]
    assert [marker_text(flag) for flag in table[DIVERGED]] == ["", "", "mode collapse", "diverged", "diverged"]
    unsorted = scores.score_table(table_scores, sort=False, diverged=["blown up"])
    assert list(unsorted.index) == list(table_scores) and unsorted["rank"].tolist() == [3, 1, 2, 5, 4]
    again = scores.rank_scores(table, "fid")  # a ranked table ranked again keeps its diverged rows diverged
    assert list(again.index) == list(table.index) and again["rank"].tolist() == [1, 2, 3, 4, 5]
    healthy = scores.score_table({"a": _score(2.0, 2.0), "b": _score(1.0, 2.3)})
    assert list(healthy.index) == ["b", "a"] and DIVERGED not in healthy.columns
    try:
        i18n.set_language("zh")
        zh = scores.score_table(table_scores, diverged=["blown up"])
        assert [marker_text(flag) for flag in zh[DIVERGED]] == ["", "", "模式崩溃", "发散", "发散"]
    finally:
        i18n.set_language("en")
    with pytest.raises(KeyError, match="class_entropy"):
        scores.rank_scores(table.drop(columns=["class_entropy"]), "fid")


def test_rank_scores_reads_a_sweep_table_and_marks_collapse_as_show_table_marks_divergence():
    import pandas as pd

    from labkit.tables import DIVERGED, styled

    sweep_table = pd.DataFrame({"test_loss": [90.0, 250.0, 100.0, 80.0], "fid": [40.0, 5.0, 60.0, 1.0],
                                "class_entropy": [2.2, 0.0, 2.1, 2.3], DIVERGED: [False, False, False, True]},
                               index=pd.Index(["lr=1e-3", "lr=1e-5", "lr=1e-2", "lr=1e-1"], name="setting"))
    ranked = scores.rank_scores(sweep_table, "fid")
    assert list(ranked.index) == ["lr=1e-3", "lr=1e-2", "lr=1e-5", "lr=1e-1"]
    assert ranked[DIVERGED].tolist() == [False, False, "collapsed", True]
    html = styled(ranked, highlight_min=["fid"]).to_html()
    assert "mode collapse" in html and ">diverged<" in html and ">note<" in html
    rules = {cell: body for cells, body in re.findall(r"((?:#T_\w+(?:, )?)+) \{([^}]*)\}", html)
             for cell in re.findall(r"row\d+_col\d+", cells)}
    fid = "_" + re.search(r'class="col_heading level0 (col\d+)" >FID<', html).group(1)
    bold = sorted(cell for cell, body in rules.items() if cell.endswith(fid) and "bold" in body)
    assert bold == ["row0" + fid], rules  # the best FID in bold is lr=1e-3's 40, never the collapsed 5 or the diverged 1
    marks = sorted(cell for cell, body in rules.items() if "#b00020" in body)
    assert len(marks) == 2 and marks[0].startswith("row2") and marks[1].startswith("row3"), rules


def test_collapsed_runs_rank_the_least_collapsed_first():
    """At the smoke profile every vae run collapsed, and FID alone put samples of pure noise (class entropy 0)
    first, above the one run whose samples looked like digits."""
    import pandas as pd

    table = pd.DataFrame({"fid": [5.0, 60.0, 40.0, 1.0], "class_entropy": [0.0, 0.9, 2.2, 0.5]},
                         index=["noise", "digits", "healthy", "one class"])
    ranked = scores.rank_scores(table, "fid")
    assert list(ranked.index) == ["healthy", "digits", "one class", "noise"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4]


def test_mark_scores_marks_a_side_by_side_table_in_its_own_order():
    """dcgan 3.7's conditional GAN (class entropy 0.155, one table row) and vae's side-by-side tables were not
    marked: mark_scores marks them as rank_scores does, keeping the rows' order and adding no rank column."""
    import pandas as pd

    table = pd.DataFrame({"fid": [30.0, 12.0, 80.0], "class_entropy": [2.2, 0.155, 2.0], "label_accuracy": [0.9, 0.1, 0.5]},
                         index=["kit", "conditional", "source"])
    marked = scores.mark_scores(table, diverged=["source"])
    assert list(marked.index) == ["kit", "conditional", "source"] and "rank" not in marked.columns
    assert list(marked.columns) == ["fid", "class_entropy", "label_accuracy", DIVERGED]
    assert [marker_text(flag) for flag in marked[DIVERGED]] == ["", "mode collapse", "diverged"]
    single = scores.mark_scores(table.loc[["conditional"]])
    assert single[DIVERGED].tolist() == ["collapsed"]
    assert DIVERGED not in scores.mark_scores(table.loc[["kit"]]).columns  # a healthy table gets no note column
