"""The dcgan lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium),
and its conditional GAN's projection discriminator built from the notebook's own definitions."""
import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import complete_report, pdf_text, render_lab, render_lab_on_full_data
from lab_tables import html_tables, unmarked_collapses
from labkit.i18n import STRINGS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _notebook import definitions  # noqa: E402

SAMPLE_POINTS = (1, 2, 6)  # the smoke profile's sample_epochs (epochs=6)


@pytest.fixture(scope="module")
def nb():
    return definitions("dcgan")


@pytest.mark.parametrize("recipe", ["kit", "source"])
def test_conditional_discriminator_is_the_projection_of_miyato_and_koyama(nb, recipe):
    """D(x, y) = psi(phi(x)) + embed(y) . phi(x), psi the student's last convolution (then the sigmoid for source)."""
    torch.manual_seed(0)
    model = nb.ConditionalGAN(100, recipe)
    model.apply(nb.init_weights)
    model.eval()
    body = model.d.net.net
    last = max(i for i, m in enumerate(body) if isinstance(m, nn.Conv2d))
    x, y = torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 8, 9])
    model.condition(y)
    with torch.no_grad():
        phi = body[:last](x)
        conv = body[last]  # called as a function: the module itself carries the projection's hook
        psi = nn.functional.conv2d(phi, conv.weight, conv.bias, conv.stride, conv.padding).reshape(-1)
        logit = psi + (model.d.embed(y) * phi.flatten(1)).sum(1)
        want = torch.sigmoid(logit) if recipe == "source" else logit
        got = model.d(x)
        model.condition(torch.zeros(6, dtype=torch.long))
        other = model.d(x)
    assert got.shape == (6,)
    assert torch.allclose(got, want, atol=1e-5)
    assert model.d.embed.weight.shape == (10, phi[0].numel())  # 64 x 4 x 4 (kit), 64 x 3 x 3 (source)
    assert (got - other).abs().max() > 1e-6, "the label must change the discriminator's output"


def test_conditional_gan_trains_both_conditionings_with_the_students_step(nb):
    """One train_step reaches the class embedding and the generator's label input; the label changes G's image."""
    torch.manual_seed(0)
    model = nb.ConditionalGAN(100, "kit")
    model.apply(nb.init_weights)
    model.condition(torch.arange(8) % 10)
    adam = dict(lr=2e-4, betas=(0.5, 0.999))
    opt_g, opt_d = torch.optim.Adam(model.g.parameters(), **adam), torch.optim.Adam(model.d.parameters(), **adam)
    embed, label_weights = model.d.embed.weight.clone(), model.g.net.net[0].weight[100:].clone()
    nb.train_step(model, torch.rand(8, 1, 28, 28) * 2 - 1, opt_g, opt_d, nn.BCEWithLogitsLoss(), 100)
    assert not torch.equal(embed, model.d.embed.weight), "the discriminator's class embedding was not trained"
    assert not torch.equal(label_weights, model.g.net.net[0].weight[100:]), "the generator's label channels were not trained"
    assert len(model.state_dict()) == len(set(model.state_dict())) and "d.embed.weight" in model.state_dict()
    z = torch.randn(2, 100, 1, 1)
    model.eval()
    with torch.no_grad():
        model.condition(torch.tensor([3, 3]))
        three = model.g(z)
        model.condition(torch.tensor([7, 7]))
        seven = model.g(z)
    assert (three - seven).abs().max() > 1e-4


@pytest.fixture(scope="module")
def dcgan_report(tmp_path_factory):
    return render_lab_on_full_data("dcgan", tmp_path_factory, lang="zh")  # the offline test renders English


@pytest.mark.pipeline
def test_dcgan_smoke_report_is_complete(dcgan_report):
    result, out = dcgan_report
    metrics = complete_report(result, out, "dcgan")
    recorded = metrics["metrics"]
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "full"
    assert metrics["provenance"]["settings"]["epochs"] == SAMPLE_POINTS[-1]
    fids = [recorded[f"dcgan_fid_epoch_{e}"] for e in SAMPLE_POINTS]
    assert all(math.isfinite(f) and f > 0 for f in fids), fids
    assert recorded["dcgan_fid"] == fids[-1]
    # the floor (real images) is far below any generated sample's score after so little training
    assert 0 <= recorded["dcgan_fid_floor"] < min(fids)
    assert 0 <= recorded["dcgan_class_entropy"] <= math.log(10) + 1e-9
    histogram = recorded["dcgan_class_histogram"]
    assert len(histogram) == 10 and abs(sum(histogram) - 1) < 1e-3
    assert 0.1 < recorded["dcgan_score_classifier_test_acc"] <= 1.0
    for key in ("dcgan_loss_d", "dcgan_loss_g", "dcgan_seconds_per_epoch", "dcgan_source_recipe_fid", "cgan_fid"):
        assert math.isfinite(recorded[key]) and recorded[key] > 0, key
    assert 0 <= recorded["cgan_label_accuracy"] <= 1


@pytest.mark.pipeline
def test_dcgan_pdf_is_chinese_with_sections_and_recorded_score(dcgan_report):
    result, out = dcgan_report
    text = re.sub(r"\s+", "", pdf_text(out / "dcgan.pdf"))  # CJK lines wrap anywhere: compare without spaces
    for heading in ("运行环境与来源", "实验五", "1. 实验目的", "2. 实验原理", "2.1 两个网络", "2.2 目标函数与训练步骤",
                    "2.3 衡量样本质量", "3. 实验内容、结果与分析", "3.1 数据", "3.2 两个网络", "3.3 训练步骤与训练过程",
                    "3.4 训练过程中的样本", "3.5 损失曲线及其解读", "3.6 训练过程中的分数", "4. 总结与心得", "5. 改进建议",
                    "常见错误", "真实图像（下限）", "最终分类器", "源报告方案，第 6 轮", "3.7 扩展：条件 DCGAN", "标签准确率",
                    "（kit，默认）", "（source）"):  # the recipe table's rows: 本套件方案（`kit`，默认）, 源报告方案（`source`）
        assert heading.replace(" ", "") in text, heading
    for english in ("Objectives", "Principles", "Commonpitfall", "Samplesovertraining", "Thescoreovertraining",
                    "[check]", "hidden-check", "BEGINSOLUTION", "**下限"):
        assert english not in text, english
    fid = result.records["dcgan_fid"]
    assert f"dcgan_fid={fid:.6g}" in text
    # the conditional GAN's finding is written from the run (labkit.show_text): its accuracy and the matching verdict
    accuracy = result.records["cgan_label_accuracy"]
    verdict = "大多数情况下" if accuracy >= 0.5 else "只在一部分情况下" if accuracy >= 0.2 else "还没有学会服从标签"
    assert f"本次运行中标签准确率为{accuracy:.0%}，随机猜测为10%" in text and verdict in text
    # each conclusion drawn from a smoke run's numbers (3.6's FID trend and recipes, 3.7's label accuracy) says that
    # they mean nothing (i18n.smoke_hedge)
    assert text.count(STRINGS["zh"]["note.smoke.hedge"]) == 2
    for raw_tex in ("\\log", "\\mathcal", "$\\", "\\sigma"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex


@pytest.mark.pipeline
def test_dcgan_scores_tables_mark_collapsed_generators(dcgan_report):
    """A fresh tester: the conditional DCGAN's class entropy was 0.155, far below ln 3, and its row had no mark.
    Both tables of generated-image scores (3.6 and 3.7) mark a collapsed row "模式崩溃" under 备注."""
    _, out = dcgan_report
    tables = list(html_tables(out / "dcgan.ipynb"))
    bad, seen = unmarked_collapses(tables, "类别熵", "备注", ("模式崩溃", "发散"))
    assert not bad, bad
    assert seen >= 2, [caption for caption, _ in tables]  # the scores over training, the conditional DCGAN
    conditional = next(rows for caption, rows in tables if caption.startswith("条件 DCGAN 的样本"))
    assert "标签准确率" in conditional[0]


@pytest.mark.pipeline
def test_dcgan_runs_offline_on_the_embedded_sample(tmp_path, monkeypatch):
    """No data folder and no network: the lab falls back to the sample, also when the profile asks for more.

    Also the source recipe alone, in English."""
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    out = tmp_path / "report"
    # train_size above the sample's 5,000 images exercises the notebook's fallback to all of them
    result = render_lab("dcgan", out, train_size=8000, epochs=2, sample_epochs=[1, 2], recipe="source",
                        compare_recipes=False)
    assert result.failure is None, result.failure
    text = re.sub(r"[ \t]+", " ", pdf_text(out / "dcgan.pdf"))
    for heading in ("1. Objectives", "2. Principles", "3. Experiments and results", "3.6 The score over training",
                    "4. Summary", "5. Suggestions", "Common pitfall", "recipe source"):
        assert heading in text, heading
    assert "实验目的" not in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert {d["source"] for d in metrics["provenance"]["datasets"]} == {"sample"}
    assert metrics["metrics"]["dcgan_fid"] > 0
    assert set(metrics["metrics"]) >= {"dcgan_fid_epoch_1", "dcgan_fid_epoch_2", "dcgan_class_entropy"}
