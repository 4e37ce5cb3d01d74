"""The resnet lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium)."""
import json

import nbformat
import pytest

from conftest import complete_report, pdf_text, render_lab, render_lab_on_full_data

pytestmark = pytest.mark.pipeline

HEADINGS = ("Environment and provenance", "1. Objectives", "2. Principles", "3. Experiments and results",
            "3.1 The data", "3.2 The baseline: LeNet-5", "3.3 ResNet-18", "3.4 The training recipe",
            "3.5 Training ResNet-18: checkpoint and resume", "3.6 The stem", "3.7 Feature maps",
            "3.8 Which classes are confused?", "3.9 Why it is fast", "4. Summary", "5. Suggestions",
            "Common pitfall (from the source reports)")


def _outputs_text(ipynb) -> str:
    """The text the code cells showed: printed streams and generated Markdown (labkit.show_text)."""
    nb = nbformat.read(ipynb, as_version=4)
    return "\n".join(o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/markdown", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.get("output_type") in ("stream", "display_data"))


@pytest.fixture(scope="module")
def resnet_report(tmp_path_factory):
    return render_lab_on_full_data("resnet", tmp_path_factory)


def test_resnet_smoke_report_is_complete(resnet_report):
    result, out = resnet_report
    metrics = complete_report(result, out, "resnet")
    recorded = metrics["metrics"]
    assert 0.1 < recorded["lenet_test_acc"] <= 1.0
    for key in ("resnet18_test_acc", "resnet18_test_acc_no_tta", "resnet18_test_acc_flip_tta"):
        assert 0.0 <= recorded[key] <= 1.0, key
    assert recorded["resnet18_epoch_seconds"] > 0
    assert recorded["resnet18_images_per_second"] > 0
    assert recorded["resnet18_train_seconds"] >= recorded["resnet18_epoch_seconds"]
    assert recorded["resnet18_parameters"] == 177362  # ResNet-18 at width 8 with the source's 7x7 ImageNet stem
    # the source's pitfalls, measured: the stems side by side, and a weights-only resume beside the complete one
    for key in ("sweep_stem_cifar_test_acc", "sweep_stem_imagenet_test_acc", "resume_weights_only_test_acc",
                "resume_complete_test_acc"):
        assert 0.0 <= recorded[key] <= 1.0, key
    assert recorded["sweep_stem_imagenet_seconds"] > 0 and recorded["sweep_stem_cifar_seconds"] > 0
    per_class = recorded["resnet18_per_class_acc"]
    assert len(per_class) == 10 and "cat" in per_class and all(0 <= v <= 1 for v in per_class.values())
    assert "resnet18_test_loss_rise_epoch" in recorded
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "full"
    settings = metrics["provenance"]["settings"]
    assert settings["width"] == 8 and settings["recipe"] == "source" and settings["interrupt_at"] == 1


def test_resnet_resumes_with_the_same_epoch_numbering(resnet_report):
    result, out = resnet_report
    text = _outputs_text(out / "resnet.ipynb")
    assert "interrupted after epoch 1" in text
    # the notebook asserts the resumed history is epochs 1..2; the table shows both rows
    assert "ResNet-18 test accuracy" in text


def test_resnet_pdf_has_sections_and_recorded_accuracy(resnet_report):
    result, out = resnet_report
    text = pdf_text(out / "resnet.pdf")
    for heading in HEADINGS:
        assert heading in text, heading
    acc = result.records["resnet18_test_acc"]
    assert f"resnet18_test_acc = {acc:.6g}" in text
    assert "LeNet-5 vs ResNet-18" in text and "accuracy per class" in text
    assert "weights only (the source)" in text and "In this run the CIFAR stem's test accuracy is" in text
    for hidden in ("[check]", "hidden-check", "BEGIN SOLUTION", "实验目的"):  # no checks, no markers, one language
        assert hidden not in text, hidden
    for raw_tex in ("\\operatorname", "\\frac", "\\mathcal", "$\\", "\\eta"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex


def test_resnet_offline_uses_the_embedded_sample(tmp_path, monkeypatch):
    """Offline, with a subset larger than the embedded sample, the lab still runs (in Chinese, with the kit's
    kit recipe: one-cycle schedule, CIFAR stem, flip TTA)."""
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    out = tmp_path / "report"
    result = render_lab("resnet", out, lang="zh", train_size=5000, test_size=400, epochs=1, lenet_epochs=1,
                        width=4, interrupt_at=0, recipe="kit", batch_size=256)
    assert result.failure is None, result.failure
    metrics = json.loads((out / "metrics.json").read_text())
    dataset = metrics["provenance"]["datasets"][0]
    assert dataset["source"] == "sample" and dataset["sizes"]["train"] == 2000
    assert 0 <= metrics["metrics"]["resnet18_test_acc"] <= 1
    text = pdf_text(out / "resnet.pdf")
    assert "运行环境与来源" in text and "测试准确率" in text  # labkit's Chinese headings and table columns
    words = " ".join(text.split())
    for heading in ("1. 实验目的", "2. 实验原理", "3. 实验内容、结果与分析", "4. 总结与心得", "5. 改进建议", "残差块", "单周期"):
        assert heading in words, heading
    for english in ("Objectives", "Principles", "Common pitfall", "Experiments and results"):
        assert english not in words, english  # the zh report holds the Chinese prose cells only
    # the stems as the tables name them (labkit.value_label), in the sentences and the prose too; the recipes
    # by their labels' names; no English term left in the prose
    nb = nbformat.read(out / "resnet.ipynb", as_version=4)  # what the report says (not its code's comments)
    said = " ".join([c.source for c in nb.cells if c.cell_type == "markdown" and "lang-en" not in c.metadata.get("tags", [])]
                    + [o.get("data", {}).get(mime, "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                       for mime in ("text/html", "text/markdown")])
    assert "CIFAR 式 stem" in said and "ImageNet 式 stem" in said and "CIFAR 式 stem" in words
    for mixed in ("CIFAR stem", "ImageNet stem", "现代方案", '"option A"'):
        assert mixed not in said, mixed
    assert "本套件方案" in words and "A 类捷径" in words
    assert metrics["provenance"]["settings"]["recipe"] == "kit"


def _html_outputs(nb, marker: str) -> str:
    """The HTML the code cell containing ``marker`` displayed (its tables)."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and marker in c.source)
    return "\n".join(o.get("data", {}).get("text/html", "") for o in cell.outputs if o.get("output_type") == "display_data")


def test_resnet_text_states_what_the_numbers_show(resnet_report):
    """The overfitting sentence and the summary say what was measured (issue 13: "does not rise" and "none"
    were printed beside a test loss that rose 2.308 -> 2.316), and the speed table shows the switches as they
    took effect on the device (bf16 is not "True" on a CPU)."""
    result, out = resnet_report
    nb = nbformat.read(out / "resnet.ipynb", as_version=4)
    text = _outputs_text(out / "resnet.ipynb")
    verdict = result.records["resnet18_test_loss_rise_verdict"]
    sentence, short = {"too_few_epochs": ("too few to judge a rise", "too few epochs to judge"),
                       "within_tolerance": ("that counts as a rise, so it shows no sign", "none (rose"),
                       "rises": ("starts rising at epoch", "epoch "),
                       "lowest_at_end": ("it is lowest", "none (lowest at the last epoch)")}[verdict]
    assert "ResNet-18's test loss" in text and sentence in text, verdict
    assert short in _html_outputs(nb, "rise.short()"), verdict
    speed = _html_outputs(nb, "bf16_used")
    if ">CPU<" in speed:  # the device column
        assert "n/a (CUDA only)" in speed and "bf16" not in speed
