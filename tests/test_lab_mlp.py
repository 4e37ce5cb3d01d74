"""The mlp lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium)."""
import json

import pytest

from conftest import full_data_dir, pdf_text, render_lab

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def mlp_report(tmp_path_factory):
    if full_data_dir() is None:
        pytest.skip("set LABKIT_DATA to the course data (../shared/data)")
    out = tmp_path_factory.mktemp("mlp")
    return render_lab("mlp", out, lang="zh"), out  # Chinese labkit text, English notebook prose


def test_mlp_smoke_report_is_complete(mlp_report):
    result, out = mlp_report
    assert result.failure is None, result.failure
    for name in ("mlp.ipynb", "mlp.html", "mlp.pdf", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    recorded = metrics["metrics"]
    for key in ("linreg_test_acc", "softmax_test_acc", "mlp_test_acc"):
        assert 0.1 < recorded[key] <= 1.0, key
    # every sweep setting recorded
    for key in ("sweep_epochs_3_test_acc", "sweep_loss_mse_test_acc", "sweep_batch_size_64_test_acc",
                "sweep_optimizer_adadelta_test_acc", "pitfall_softmax_before_ce_test_acc"):
        assert key in recorded, key
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "full"
    assert metrics["provenance"]["settings"]["epochs"] == 2


def test_mlp_pdf_has_sections_and_recorded_accuracy(mlp_report):
    result, out = mlp_report
    text = pdf_text(out / "mlp.pdf")
    for heading in ("运行环境与来源", "测试准确率", "1. The data", "2. Three models", "3.1 Number of epochs",
                    "3.2 Loss function", "3.3 Batch size", "3.4 Optimizer", "4. The pitfall, measured",
                    "Common pitfall"):
        assert heading in text, heading
    acc = result.records["mlp_test_acc"]
    assert f"mlp_test_acc = {acc:.6g}" in text
    for raw_tex in ("\\lVert", "\\arg", "\\tilde", "$\\", "\\sum"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex
