"""The seq2seq lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium)."""
import json
import math

import pytest

from conftest import full_data_dir, pdf_text, render_lab

pytestmark = pytest.mark.pipeline

MODELS = ("rnn", "gru", "gru_handwritten", "gru_attention")  # the smoke profile's models


@pytest.fixture(scope="module")
def seq2seq_report(tmp_path_factory):
    data = full_data_dir()
    if data is None:
        pytest.skip("set LABKIT_DATA to the course data (../shared/data)")
    out = tmp_path_factory.mktemp("seq2seq")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_DATA", str(data))
        patch.delenv("LABKIT_OFFLINE", raising=False)
        return render_lab("seq2seq", out), out


def check_records(recorded):
    assert 0 <= recorded["gru_cell_max_abs_diff"] < 1e-6
    assert recorded["source_gru_cell_max_abs_diff"] > 1e-2  # the source's cell is not a GRU
    assert 0 <= recorded["encoder_handwritten_max_abs_diff"] < 1e-5
    for kind in MODELS:
        assert 0.0 <= recorded[f"bleu_{kind}"] <= 100.0, kind
        assert 0.0 <= recorded[f"test_token_acc_{kind}"] <= 1.0, kind
    # the hand-written cell starts from nn.GRU's weights and computes the same function
    assert math.isclose(recorded["bleu_gru_handwritten"], recorded["bleu_gru"], abs_tol=1.0)
    assert math.isclose(recorded["test_token_acc_gru_handwritten"], recorded["test_token_acc_gru"], abs_tol=0.01)
    assert recorded["bleu_max_length_10"] == recorded["bleu_gru_attention"]
    short, long = recorded["pairs_max_length_10"], recorded["pairs_max_length_64"]
    assert 0 < short < long  # a larger max_length keeps more pairs
    for length in (10, 64):  # (the smoke profile caps the training pairs, so the sizes are not ordered)
        assert recorded[f"source_vocab_max_length_{length}"] > 4 and recorded[f"target_vocab_max_length_{length}"] > 4
    assert 0.0 <= recorded["bleu_max_length_64"] <= 100.0


def test_seq2seq_smoke_report_is_complete(seq2seq_report):
    result, out = seq2seq_report
    assert result.failure is None, result.failure
    for name in ("seq2seq.ipynb", "seq2seq.html", "seq2seq.pdf", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "full"
    check_records(metrics["metrics"])


def test_seq2seq_pdf_has_sections_translations_and_recorded_bleu(seq2seq_report):
    result, out = seq2seq_report
    text = pdf_text(out / "seq2seq.pdf")
    for heading in ("Environment and provenance", "1. The data", "2. A GRU cell written by hand",
                    "3. Encoder and decoder", "4. Training: batches, masked loss, teacher",
                    "5. RNN vs GRU vs GRU with attention", "6. Translations and attention",
                    "7. The dataset-size effect", "8. Discussion", "Common pitfall",
                    "Each heat-map shows", "--- gru_attention"):
        assert heading in text, heading
    assert "\n> " in text and "\n= " in text and "\n< " in text  # > source / = reference / < output
    bleu = result.records["bleu_gru_attention"]
    assert f"bleu_gru_attention = {bleu:.6g}" in text
    for raw_tex in ("\\sigma", "\\tanh", "$\\", "\\sum"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex


def test_seq2seq_runs_offline_on_the_embedded_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    result = render_lab("seq2seq", tmp_path / "out")
    assert result.failure is None, result.failure
    assert result.pdf is not None and result.pdf.stat().st_size > 0
    assert [d["source"] for d in result.datasets] == ["sample"]
    check_records(result.records)
