"""The vae lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium).

It runs on the embedded sample (an empty data folder, offline): the path a student without the course
data takes with ``make report LAB=vae``.
"""
import json
import math

import pytest

from conftest import pdf_text, render_lab

pytestmark = pytest.mark.pipeline

SWEEPS = {
    "activation": ["relu", "sigmoid", "tanh"],
    "dropout": ["0", "0.1", "0.2", "0.3", "0.4", "0.5"],
    "train_size": ["250", "500", "1000"],
    "lr": ["1e-5", "1e-4", "1e-3", "1e-2", "1e-1"],
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
    assert result.failure is None, result.failure
    for name in ("vae.ipynb", "vae.html", "vae.pdf", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    recorded = metrics["metrics"]
    for key in ("vae_test_loss_nats", "conv_vae_test_loss_nats"):
        assert 50 < recorded[key] < 600, (key, recorded[key])  # nats per image, sum over 784 pixels
    for key in ("vae_fid", "conv_vae_fid", "gan_fid", "wgan_fid", "fid_floor", "ae_prior_fid"):
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
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "sample"


def test_vae_pdf_has_every_part_and_a_recorded_number(vae_report):
    result, out = vae_report
    text = " ".join(pdf_text(out / "vae.pdf").split())
    for heading in ("1. The data", "2. Scoring generated images", "Calibration of the classifier FID",
                    "4. Autoencoders", "Linear probe", "5.1 The evidence lower bound", "5.2 The MLP VAE",
                    "5.3 Reconstruction loss", "Ablations", "6. VAE sweeps", "Sweep: activation", "Sweep: dropout",
                    "Sweep: training-set size", "Sweep: learning rate", "Sweep: batch size", "ranked by FID",
                    "7. β-VAE", "8. Noise robustness", "9. AE vs VAE", "10. The vanilla GAN",
                    "11. The Wasserstein GAN", "12. Every generative model", "13. Discussion: VAE vs GAN",
                    "Common pitfall"):
        assert heading in text, heading
    value = result.records["vae_test_loss_nats"]
    assert f"vae_test_loss_nats = {value:.6g}" in text
    for raw_tex in ("\\mathbb", "\\operatorname", "$\\", "\\lVert"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex
    assert not math.isnan(result.records["vae_fid"])


def test_vae_rejects_unknown_experiment_group(tmp_path):
    result = render_lab("vae", tmp_path, experiments=["gan", "bogus"])
    assert result.failure is not None
    assert result.failure.ename == "ValueError" and "bogus" in result.failure.evalue
