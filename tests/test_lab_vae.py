"""The vae lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium).

It runs on the embedded sample (an empty data folder, offline): the path a student without the course
data takes with ``make report LAB=vae``.
"""
import json
import math
import re

import pytest

from labkit.i18n import STRINGS

from conftest import complete_report, pdf_text, render_lab
from lab_tables import html_tables, unmarked_collapses

pytestmark = pytest.mark.pipeline

SWEEPS = {
    "activation": ["relu", "sigmoid", "tanh"],
    "dropout": ["0", "0.1", "0.2", "0.3", "0.4", "0.5"],
    "train_size": ["250", "500", "1000"],
    "lr": ["1e-5", "1e-4", "1e-3", "1e-2", "1e-1"],  # records.format_rate
    "batch_size": ["64", "128", "256", "512", "1024"],
}


@pytest.fixture(scope="module")
def vae_report(tmp_path_factory):
    empty = tmp_path_factory.mktemp("no-data")
    out = tmp_path_factory.mktemp("vae")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_DATA", str(empty))
        mp.setenv("LABKIT_OFFLINE", "1")
        result = render_lab("vae", out)
    return result, out


def test_vae_smoke_report_is_complete(vae_report):
    result, out = vae_report
    metrics = complete_report(result, out, "vae")
    recorded = metrics["metrics"]
    for key in ("vae_test_loss_nats", "conv_vae_test_loss_nats"):
        assert 50 < recorded[key] < 600, (key, recorded[key])  # nats per image, sum over 784 pixels
    for key in ("vae_fid", "conv_vae_fid", "gan_fid", "wgan_fid", "wgan_fashion_mnist_fid", "fid_floor", "ae_prior_fid",
                "pitfall_noise_first_epoch_fid", "pitfall_noise_every_epoch_fid"):
        assert isinstance(recorded[key], float) and recorded[key] >= 0, key
    assert recorded["fid_floor"] < recorded["fid_noise_0.1"]
    assert 0.1 < recorded["ae_probe_acc"] <= 1.0
    assert 0.1 < recorded["score_classifier_test_acc"] <= 1.0
    for sweep, labels in SWEEPS.items():
        for label in labels:
            for metric in ("test_loss_nats", "fid"):
                assert f"sweep_{sweep}_{label}_{metric}" in recorded, (sweep, label, metric)
    for beta in ("1", "2", "3", "4"):
        assert f"beta_{beta}_fid" in recorded
    for pct in ("1", "10", "20", "80"):
        assert f"noise_{pct}pct_fid" in recorded
    assert recorded["pitfall_never_reset_last_printed"] > recorded["pitfall_never_reset_last_true"]  # 2 epochs summed
    for key in ("pitfall_test_split_seen_loss", "pitfall_test_split_unseen_loss", "pitfall_shared_bn_test_loss_nats",
                "ae_mlp_test_loss_nats"):
        assert 0 < recorded[key] < 800, (key, recorded[key])
    for beta in ("1", "4"):
        assert 0 <= recorded[f"beta_{beta}_active_dims"] <= 20
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "sample"


def test_vae_pdf_has_every_part_and_a_recorded_number(vae_report):
    result, out = vae_report
    text = " ".join(pdf_text(out / "vae.pdf").split())
    for heading in ("1. Objectives", "2. Principles", "2.2 The variational autoencoder and the evidence lower bound",
                    "2.5 Scoring generated images", "3. Experiments and results", "3.1 The data and the recipe",
                    "Calibration of the classifier FID", "3.3 Losses in nats", "3.4 Autoencoders", "Linear probe",
                    "3.5 Variational autoencoders", "Reconstruction loss: BCE vs MSE vs L1", "Ablations",
                    "Latent interpolation", "3.6 VAE sweeps", "Sweep: activation", "Sweep: dropout",
                    "Sweep: training-set size", "Sweep: learning rate", "Sweep: batch size", "How the tables rank runs",
                    "3.7 β-VAE and posterior collapse", "Active latent dimensions", "3.8 Noise robustness",
                    "after the first and the last epoch", "3.9 AE vs VAE", "3.10 The vanilla GAN",
                    "3.11 The Wasserstein GAN", "WGAN MNIST", "WGAN Fashion-MNIST", "3.12 Every generative model",
                    "3.13 The source reports' bugs, measured", "Common pitfall (from the source reports)",
                    "never-reset total", "test split (the source)", "first epoch only (the source)",
                    "one shared BatchNorm (the source)", "4. Summary", "5. Suggestions"):
        assert heading in text, heading
    for chinese in ("实验目的", "重参数化", "证据下界"):  # lang=en: the Chinese twin cells are left out
        assert chinese not in text, chinese
    assert "vae_test_loss_nats" in text
    # a fresh tester: 3.6 promised log-scale curves and 3.8 "the first and the last epoch" where a one-epoch run draws
    # final-value bars and a single snapshot; the text says what each profile draws
    assert "shows each run's final train and test loss as bars" in text
    assert "after the only epoch when sweep_epochs is 1" in text
    # learning rates in one form, lr_label's, in captions as in the sweep's labels: 3e-3, not 0.003
    assert "The MLP VAE under the two recipes (Adam 3e-3, " in text and "Adam 0.003" not in text
    for raw_tex in ("\\mathbb", "\\operatorname", "$\\", "\\lVert"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex
    assert not math.isnan(result.records["vae_fid"])
    for secret in ("BEGIN SOLUTION", "hidden-check", "@check", "[check]"):
        assert secret not in text, secret
    # 3.12 (a fresh tester): the sentences agree with each other whether some, none or only one model trained normally
    assert "Fashion-MNIST: WGAN Fashion-MNIST is the only model scored on it; it " in text  # the smoke run's one model
    for dataset in (r"(?<!-)MNIST", "Fashion-MNIST"):
        none = re.search(dataset + r": none of the \d+ runs scored on it trained normally", text) is not None
        normal = re.search(dataset + r": (in this run, among the runs that trained normally|[^:.]{1,80} is the only run scored on it "
                                     r"that trained normally)", text) is not None
        assert not (none and normal), dataset
        if none:
            assert not re.search(dataset + r": [^:]*collapsed onto a few classes [^:]*: ranked after the runs that trained", text)
    # a sentence concluding from a smoke run's numbers is hedged (i18n.smoke_hedge)
    assert STRINGS["en"]["note.smoke.hedge"] in text
    assert re.search(r"The VAE trained on the test split scores [\d.]+ nats per image on its training images and [\d.]+ on "
                     r"unseen images: .*?\. \(Smoke run: a few seconds of training", text)


def test_vae_source_recipe_in_chinese(tmp_path):
    """recipe=source (constant lr 1e-2, ReLU code, MSE autoencoder) runs, and a zh report's prose is Chinese."""
    result = render_lab("vae", tmp_path, recipe="source", lang="zh", experiments=["ae", "vae"])
    assert result.failure is None, result.failure
    recorded = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert recorded["ae_mlp_test_loss_mse"] > 0 and "ae_mlp_test_loss_nats" not in recorded
    assert 50 < recorded["vae_test_loss_nats"] < 600
    text = " ".join(pdf_text(tmp_path / "vae.pdf").split())
    for chinese in ("实验目的", "实验原理", "实验内容、结果与分析", "重参数化", "证据下界", "总结与心得", "改进建议",
                    "自编码器与 VAE 的两种训练方案", "线性探针准确率"):
        assert chinese in text, chinese
    for english in ("1. Objectives", "2. Principles", "The evidence lower bound"):
        assert english not in text, english
    # a fresh tester: zh captions mixed 奈特数 and "nats"; the notebook's own Chinese says 奈特 (the kit's column headers
    # are labkit.i18n's)
    for chinese in ("主训练集上的 VAE（每张图像的奈特数；分类器 FID）", "每张测试图像 104.4 奈特"):
        assert chinese in text, chinese
    assert "（每张图像的 nats" not in text and "VAE：BCE nats" not in text  # (the printed code keeps its English twin)


def test_vae_rejects_unknown_experiment_group(tmp_path):
    """A misspelt experiment is refused before any kernel starts: exit 2, one line naming the valid choices."""
    import subprocess
    import sys

    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "labkit.cli", "report", "vae", "--profile", "smoke",
                           "-p", "experiments", "gan,bogus", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "'experiments'" in message and "bogus" in message and "'pitfalls'" in message
    assert not out.exists()


def test_vae_rankings_put_degenerate_runs_last_and_name_each_run_once(vae_report):
    """A fresh tester's findings: mode-collapsed runs ranked first by FID, the baseline VAE listed once per sweep
    that retrained it, the β table's settings shown as bare 2/3/4/1 beside the rank column."""
    _, out = vae_report
    tables = list(html_tables(out / "vae.ipynb"))
    beta = next(rows for caption, rows in tables if caption.startswith("β-VAE: objective"))
    assert sorted(row[0] for row in beta[1:]) == ["β=1", "β=2", "β=3", "β=4"]
    ranked = [rows for _, rows in tables if rows and "Rank" in rows[0]]
    assert len(ranked) >= 10, [caption for caption, _ in tables]  # VAEs, losses, ablations, 5 sweeps, β, noise, overall
    # a fresh tester: captions said "ranked by FID" while every smoke run collapsed and the ranks followed class
    # entropy; each ranked table's caption states the rule it applies (image_scores.rank_scores, explained in 2.5)
    for caption, rows in tables:
        if rows and "Rank" in rows[0]:
            assert "ranked as in 2.5: by FID among the runs that trained normally, marked runs after them" in caption, caption
            assert "ranked by FID" not in caption and "ranked by classifier FID" not in caption, caption
    for rows in ranked:
        header, body = rows[0], rows[1:]
        assert [int(row[header.index("Rank")]) for row in body] == list(range(1, len(body) + 1)), rows
        entropy = header.index("Class entropy")
        notes = [row[header.index("note")] if "note" in header else "" for row in body]
        flagged = [bool(note) for note in notes]
        assert flagged == sorted(flagged), rows  # a degenerate run never ranks above one that trained normally
        for row, note in zip(body, notes):
            value = float(row[entropy]) if row[entropy] not in ("", "nan", "—") else math.nan
            if value < math.log(3):
                assert note in ("mode collapse", "diverged"), row
    overall = next(rows for caption, rows in tables if caption.startswith("MNIST") and "every scored model" in caption)
    names = [row[0] for row in overall[1:]]
    merged = [name for name in names if name.startswith("BCE VAE (also: ")]
    assert len(merged) == 1, names
    assert " = " not in merged[0] and merged[0].endswith(")"), merged  # "(also: a, b, …)", not "(= a = b = …)"
    for alias in ("Activation=relu", "Dropout=0", "Batch size=128", "β=1"):
        assert alias in merged[0] and alias not in names, (alias, names)


def test_vae_every_scores_table_marks_collapsed_runs(vae_report):
    """dcgan 3.7 printed a collapsed generator (class entropy 0.155) without a mark: every table of generated-image
    scores, ranked or side by side (two recipes, AE vs VAE, the pitfalls' runs), marks a class entropy below ln 3."""
    _, out = vae_report
    tables = list(html_tables(out / "vae.ipynb"))
    bad, seen = unmarked_collapses(tables, "Class entropy", "note", ("mode collapse", "diverged"))
    assert not bad, bad
    captions = [caption for caption, rows in tables if rows and any(h.startswith("Class entropy") for h in rows[0])]
    for side_by_side in ("The MLP VAE under the two recipes", "AE vs VAE", "salt-and-pepper noise", "VAE with BatchNorm"):
        assert any(side_by_side in caption for caption in captions), (side_by_side, captions)



def test_vae_figures_mark_degenerate_runs_as_the_tables_do():
    """A fresh tester: lr=0.1 (train loss 3.2e4) was marked 发散 in the tables but not in the bar chart, the prior-samples
    grid or 3.12's class-histogram panel. The notebook's figure labels carry the tables' marker words
    (labkit.tables.marker_text) in both languages; every figure of runs goes through them."""
    import nbformat

    import labkit
    from labkit import i18n
    from labkit.tables import marker_text

    from conftest import ROOT

    nb = nbformat.read(ROOT / "notebooks" / "vae.ipynb", 4)
    helpers = next(cell.source for cell in nb.cells if "def figure_labels" in cell.source)
    namespace = {"math": math, "tr": labkit.tr, "setting_label": i18n.setting_label, "marker_text": marker_text}
    exec(helpers[helpers.index("def run_mark"):helpers.index("def sample_rows")], namespace)

    class Run:
        def __init__(self, diverged):
            self._diverged = diverged

        def diverged(self):
            return self._diverged

    class Score:
        def __init__(self, fid, collapsed):
            self.fid, self.collapsed = fid, collapsed

    class Runs:
        histories = {"lr=1e-1": Run(True), "lr=1e-3": Run(False), "lr=1e-2": Run(False), "lr=1e-4": Run(False)}
        extras = {"lr=1e-1": {"score": Score(74.6, False)}, "lr=1e-3": {"score": Score(30.0, True)},
                  "lr=1e-2": {"score": Score(20.0, False)}, "lr=1e-4": {"score": Score(math.nan, False)}}

    before = i18n.language()
    try:
        for lang, sep in (("en", " ({})"), ("zh", "（{}）")):
            i18n.set_language(lang)
            shown = namespace["figure_labels"](Runs())
            diverged, collapsed = i18n.STRINGS[lang]["table.diverged"], i18n.STRINGS[lang]["table.collapsed"]
            assert shown["lr=1e-1"] == i18n.setting_label("lr=1e-1") + sep.format(diverged), shown
            assert shown["lr=1e-4"].endswith(sep.format(diverged)), shown  # samples not finite: diverged, as in 3.12
            assert shown["lr=1e-3"] == i18n.setting_label("lr=1e-3") + sep.format(collapsed), shown
            assert shown["lr=1e-2"] == "lr=1e-2", shown  # trained normally: the plain label
    finally:
        i18n.set_language(before)
    # every figure of runs is drawn from these labels, not from a Sweep's bare histories
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "curves(" in code and not re.search(r"curves\(\w+\.histories", code)
    assert "class_histograms({k: scored[k]" not in code and "marked(k, \"\" if marks[k] == \"collapsed\" else marks[k])" in code


def test_vae_chinese_names_its_unit_one_way():
    """A fresh tester: zh captions said both 每张图像的奈特数 and "nats" (（自编码器：BCE，每张图像的奈特数；VAE：BCE nats）).
    The notebook's Chinese (lang-zh cells, and string literals with Chinese in code) says 奈特; "nats" only glosses the
    term where it is introduced (以**奈特**（nats）为单位, **每张图像的奈特数**（nats）)."""
    import nbformat

    from conftest import ROOT

    nb = nbformat.read(ROOT / "notebooks" / "vae.ipynb", 4)
    chinese = re.compile(r"[\u4e00-\u9fff]")
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "lang-zh" in cell.metadata.get("tags", []):
            texts = [re.sub(r"奈特数?\*\*（nats）", "", cell.source)]  # the glosses where the term is introduced
        elif cell.cell_type == "code":
            texts = [m.group(1) for m in re.finditer(r'"([^"\n]*)"', cell.source) if chinese.search(m.group(1))
                     or "：" in m.group(1)]
        else:
            continue
        found += [(cell.id, text) for text in texts if re.search(r"\bnats\b", text.replace("_nats", ""))]
    assert not found, found
