"""The mlp lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium),
and its hidden checks against the solution and one plausible wrong answer per exercise."""
import re

import pytest

from conftest import complete_report, pdf_text, render_lab
from grading_support import run_hidden_checks

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def mlp_report(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("mlp")
    return render_lab("mlp", out, lang="zh"), out


def test_mlp_smoke_report_is_complete(mlp_report):
    result, out = mlp_report
    metrics = complete_report(result, out, "mlp")
    recorded = metrics["metrics"]
    for key in ("linreg_test_acc", "softmax_test_acc", "mlp_test_acc", "linreg_closed_form_test_acc"):
        assert 0.1 < recorded[key] <= 1.0, key
    # every sweep setting recorded, the source's MLP crossed with the kit's
    for key in ("sweep_epochs_3_test_acc", "sweep_loss_mse_test_acc", "sweep_batch_size_64_test_acc",
                "sweep_optimizer_optimizer_adadelta_rate_customary_test_acc",
                "sweep_optimizer_optimizer_adadelta_rate_shared_test_acc", "pitfall_softmax_before_ce_test_acc"):
        assert key in recorded, key
    assert len([k for k in recorded if k.startswith("sweep_source_mlp_")]) == 4, sorted(recorded)
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "full"
    assert metrics["provenance"]["settings"]["epochs"] == 2


def test_mlp_pdf_is_chinese_with_sections_and_recorded_accuracy(mlp_report):
    result, out = mlp_report
    text = re.sub(r"\s+", "", pdf_text(out / "mlp.pdf"))  # CJK lines wrap anywhere: compare without spaces
    for heading in ("运行环境与来源", "实验一", "1. 实验目的", "2. 实验原理", "2.1 三个模型", "3. 实验内容、结果与分析", "3.1 数据",
                    "3.2 三个模型", "3.3 最小二乘的闭式解", "3.4 训练轮数", "3.5 损失函数", "3.6 批大小", "3.7 优化器",
                    "3.8 源报告的 MLP 实测", "4. 总结与心得", "5. 改进建议", "常见错误", "测试准确率"):
        assert heading.replace(" ", "") in text, heading
    for english in ("Objectives", "Principles", "Leastsquaresinclosedform", "Commonpitfall", "[check]", "BEGINSOLUTION"):
        assert english not in text, english
    acc = result.records["mlp_test_acc"]
    assert f"mlp_test_acc={acc:.6g}" in text
    for raw_tex in ("\\lVert", "\\arg", "\\tilde", "$\\", "\\sum"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex



def test_mlp_chinese_tables_and_sentences_show_no_english_setting_values(mlp_report):
    """Issue 13: "方案 kit", "学习率取值=customary", "输出头=logits", "BatchNorm 位置=after" in a Chinese report.
    The tables, captions and generated sentences (not the code, not the [recorded] lines) show the settings'
    values in Chinese; the records keep the neutral names."""
    import nbformat

    result, out = mlp_report
    nb = nbformat.read(out / "mlp.ipynb", as_version=4)
    shown = "\n".join(o.get("data", {}).get("text/html", "") + o.get("data", {}).get("text/markdown", "")
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs
                      if o.get("output_type") in ("display_data", "execute_result"))
    for english in ("customary", "shared", "softmax_before_ce", "=after", "=before", "cross_entropy", "linreg",
                    "方案 kit", "optimizer=", "rate="):
        assert english not in shown, english
    for chinese in ("学习率取值=惯用", "线性层之后", "先 Softmax 再交叉熵", "交叉熵", "线性回归", "本套件方案"):
        assert chinese in shown, chinese
    assert "sweep_optimizer_optimizer_adam_rate_shared_test_acc" in result.records  # records: neutral labels

def test_mlp_hidden_checks_accept_both_layouts_and_reject_each_wrong_answer(data_dir):
    """Region 0: the MLP's layers in make_model; region 1: least_squares."""
    no_batchnorm = """
for hidden in (256, 128, 64):
    layers += [nn.Linear(width, hidden), nn.ReLU()]
    width = hidden
layers.append(nn.Linear(width, 10))
"""
    bn_before_always = """
for hidden in (256, 128, 64):
    layers += [nn.BatchNorm1d(width), nn.Linear(width, hidden), nn.ReLU()]
    width = hidden
layers.append(nn.Linear(width, 10))
"""
    forgot_inverse = "return x.T @ y  # the normal equations without solving them"
    results = run_hidden_checks("mlp", [{0: bn_before_always}, {0: no_batchnorm}, {1: forgot_inverse}])
    checks = {"mlp_architecture", "mlp_heldout", "softmax_heldout", "closed_form"}
    for result, failing in zip(results, (set(), {"mlp_architecture"}, {"closed_form"})):
        assert result["__errors__"] == [], result["__errors__"]
        assert {n for n in checks if not result[n]["passed"]} == failing, {n: result[n]["message"] for n in checks}
    assert "BatchNorm1d" in results[1]["mlp_architecture"]["message"]
    assert 0.8 <= results[0]["mlp_heldout"]["values"]["mlp_test_acc"] <= 1.0
    assert 0.6 <= results[0]["closed_form"]["values"]["linreg_closed_form_test_acc"] <= 1.0
    assert 0.7 <= results[0]["softmax_heldout"]["values"]["softmax_test_acc"] <= 1.0


def test_mlp_source_recipe_runs(tmp_path, data_dir):
    """`-p recipe source`: the source's MLP in the three models; English."""
    result = render_lab("mlp", tmp_path, recipe="source", epoch_grid=[1, 2], loss_grid=["cross_entropy"],
                        batch_grid=[256], optimizer_grid=["sgd", "adadelta"])
    assert result.failure is None, result.failure
    text = re.sub(r"[ \t]+", " ", pdf_text(tmp_path / "mlp.pdf"))
    for heading in ("1. Objectives", "3.8 The source's MLP, measured", "recipe source", "at the shared rate 5e-3"):
        assert heading in text, heading
    assert "实验目的" not in text


def test_mlp_figures_print_at_their_own_size_and_the_determinism_claim_names_the_threads(mlp_report):
    """The head × BatchNorm and optimizer figures printed their legends at about 4 pt: a figure whose title or
    legend is wider than the page (labkit.plots.PAGE_WIDTH, 6.3 in) is shrunk to the page, its text with it.
    Every figure of the Chinese report prints its 7.5 pt legend at 7 pt or more. And section 3.4's "training
    is deterministic" says: the same seed and the same number of threads (LABKIT_THREADS)."""
    import nbformat

    from labkit.plots import PAGE_WIDTH
    from labkit.report.document import png_print_width

    result, out = mlp_report
    nb = nbformat.read(out / "mlp.ipynb", as_version=4)
    widths = [png_print_width(o["data"]["image/png"]) for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(widths) >= 6 and None not in widths, widths
    printed = [7.5 * min(1.0, PAGE_WIDTH * 96 / width) for width in widths]  # CSS pixels: 96 a printed inch
    assert min(printed) >= 7.0, [round(width / 96, 2) for width in widths]  # the figures' widths in inches
    text = re.sub(r"\s+", "", pdf_text(out / "mlp.pdf"))
    assert "在随机种子和CPU线程数都相同时，训练是确定的" in text and "LABKIT_THREADS=N" in text
    assert "给定随机种子时训练是确定的" not in text
