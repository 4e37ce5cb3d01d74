"""The seq2seq lab, executed in its smoke profile through the real pipeline (papermill, nbconvert, Chromium)."""
import math
import re

import pytest

from conftest import complete_report, pdf_text, render_lab, render_lab_on_full_data

pytestmark = pytest.mark.pipeline

MODELS = ("rnn", "gru", "gru_handwritten", "gru_source_cell", "gru_attention")  # the smoke profile's models
#: the models' names in the English report (the notebook's labkit.add_value_labels)
SHOWN = {"rnn": "RNN", "gru": "GRU", "gru_handwritten": "hand-written GRU", "gru_source_cell": "GRU on the source's cell",
         "gru_attention": "GRU with attention"}


@pytest.fixture(scope="module")
def seq2seq_report(tmp_path_factory):
    return render_lab_on_full_data("seq2seq", tmp_path_factory)


def check_records(recorded, recipe="kit"):
    assert 0 <= recorded["gru_cell_max_abs_diff"] < 1e-5
    assert recorded["source_gru_cell_max_abs_diff"] > 1e-2  # the source's cell is not a GRU
    assert 0 <= recorded["encoder_handwritten_max_abs_diff"] < 1e-5
    assert 0 <= recorded["masked_nll_max_abs_diff"] < 1e-4  # the exercise's loss equals labkit's loop's
    assert recorded["padding_counted_test_loss"] != recorded["masked_test_loss"]  # padding changes the average
    for kind in MODELS:
        assert 0.0 <= recorded[f"bleu_{kind}"] <= 100.0, kind
        assert 0.0 <= recorded[f"test_token_acc_{kind}"] <= 1.0, kind
    # the hand-written cell starts from nn.GRU's weights and computes the same function
    assert math.isclose(recorded["bleu_gru_handwritten"], recorded["bleu_gru"], abs_tol=1.0)
    assert math.isclose(recorded["test_token_acc_gru_handwritten"], recorded["test_token_acc_gru"], abs_tol=0.01)
    assert recorded["bleu_max_length_10"] == recorded["bleu_gru_attention"] == recorded[f"recipe_{recipe}_bleu"]
    assert 0.0 <= recorded["recipe_kit_bleu"] <= 100.0 and 0.0 <= recorded["recipe_source_bleu"] <= 100.0
    assert 0.0 <= recorded["train_bleu_gru_attention"] <= 100.0
    short, long = recorded["pairs_max_length_10"], recorded["pairs_max_length_64"]
    assert 0 < short < long  # a larger max_length keeps more pairs
    for length in (10, 64):  # (the smoke profile caps the training pairs, so the sizes are not ordered)
        assert recorded[f"source_vocab_max_length_{length}"] > 4 and recorded[f"target_vocab_max_length_{length}"] > 4
    assert 0.0 <= recorded["bleu_max_length_64"] <= 100.0


def test_seq2seq_smoke_report_is_complete(seq2seq_report):
    result, out = seq2seq_report
    metrics = complete_report(result, out, "seq2seq")
    assert metrics["parameters"]["profile"] == "smoke"
    assert metrics["provenance"]["datasets"][0]["source"] == "full"
    check_records(metrics["metrics"])


def test_seq2seq_pdf_has_sections_translations_and_recorded_bleu(seq2seq_report):
    result, out = seq2seq_report
    text = pdf_text(out / "seq2seq.pdf")
    for heading in ("Environment and provenance", "1. Objectives", "2. Principles", "2.2 The GRU cell",
                    "3. Experiments and results", "3.2 Checking the hand-written parts",
                    "3.3 RNN vs GRU vs GRU with attention", "3.4 Translations and attention",
                    "3.5 The source report", "3.6 The dataset-size effect", "4. Summary", "5. Suggestions",
                    "Common pitfall (from the source reports)", "Each heat-map shows",
                    "Greedy translations of 6 held-out sentences, per model", "A few training pairs",
                    "The hand-written parts, checked", "GRU with attention under the two recipes"):
        assert heading in text, heading
    for hidden in ("BEGIN SOLUTION", "[check]", "@check", "实验原理"):  # no solution markers, checks or Chinese
        assert hidden not in text, hidden
    # the summary's sentences: BLEU printed with the digits that tell the models apart, no "best" among near-zero scores
    bleu_all = {kind: result.records[f"bleu_{kind}"] for kind in MODELS}
    said = " ".join(text.split())
    line = said.rsplit("Test BLEU per model: ", 1)[1][:300]  # the output, printed after the cell's code
    if max(bleu_all.values()) < 1:
        assert "All are below 1 (out of 100)" in line and "the highest" not in line
    else:
        assert "the highest:" in line
    # the models by their display names (labkit.add_value_labels), each followed by its BLEU
    listed = dict(entry.rsplit(" ", 1) for entry in re.split(r"[;.] (?:All|the highest)", line)[0].split(", "))
    printed = {kind: float(listed[SHOWN[kind]]) for kind in MODELS}
    for a in MODELS:
        for b in MODELS:
            if bleu_all[a] < bleu_all[b]:  # the stated order is visible in the printed values
                assert printed[a] < printed[b], (printed, bleu_all)
    recipes = said.rsplit("Recipes (GRU with attention): ", 1)[1][:200]
    assert "BLEU" in recipes and not re.search(r"(?<![0-9.])0 s\b", recipes)  # a time that passed is never "0 s"
    bleu = result.records["bleu_gru_attention"]
    assert f"bleu_gru_attention = {bleu:.6g}" in text
    for raw_tex in ("\\sigma", "\\tanh", "$\\", "\\sum"):  # MathJax typeset every formula
        assert raw_tex not in text, raw_tex


def test_seq2seq_results_are_report_content_not_logs(seq2seq_report):
    # what the prose promises (busiest words, training pairs, translations) survives --no-logs: a table or
    # text output, never a print
    import nbformat

    result, out = seq2seq_report
    nb = nbformat.read(out / "seq2seq.ipynb", as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    streams = " ".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    shown = " ".join(str(o.get("data", {}).get(mime, "")) for o in outputs for mime in ("text/html", "text/markdown"))
    for result_text in ("Busiest target words", "A few training pairs", "Greedy translations of", "coincide"):
        assert result_text in shown and result_text not in streams, result_text


def test_seq2seq_runs_offline_in_chinese_with_the_source_recipe(tmp_path, monkeypatch):
    # the embedded sample, the report in Chinese, and the source report's recipe (SGD, one pair per update)
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    result = render_lab("seq2seq", tmp_path / "out", lang="zh", recipe="source")
    assert result.failure is None, result.failure
    assert result.pdf is not None and result.pdf.stat().st_size > 0
    assert {d["source"] for d in result.datasets} == {"sample"}  # every load and split record of eng-fra
    check_records(result.records, recipe="source")
    text = " ".join(pdf_text(result.pdf).split())  # pdftotext spaces out Chinese headings
    for heading in ("1. 实验目的", "2. 实验原理", "3. 实验内容、结果与分析", "3.5", "4. 总结与心得", "5. 改进建议",
                    "常见错误（来自源报告）", "手写部分的检验", "带注意力的 GRU：两种方案的比较", "各模型的测试 BLEU",
                    "源报告方案", "本套件方案", "本套件", "出现最多的目标词", "几个训练句对", "贪心译文",
                    "3.5 源报告方案与本套件方案"):  # the recipes by labkit.value_label
        assert heading in text, heading
    for english in ("Objectives", "Common pitfall", "Each heat-map shows", "Questions to answer"):
        assert english not in text, english
    # the models by their Chinese names in the generated sentences (the prose still names the `models` values)
    summary = text.rsplit("各模型的测试 BLEU：", 1)[1][:300]
    for kind, shown in (("rnn", "RNN"), ("gru_handwritten", "手写 GRU"), ("gru_source_cell", "源报告单元的 GRU"),
                        ("gru_attention", "带注意力的 GRU")):
        assert shown in summary and kind not in summary, (kind, summary)
    recipes = text.rsplit("两种方案（带注意力的 GRU）：", 1)[1][:200]
    assert re.search(r"用时 [0-9.]+ (毫秒|秒|分)", recipes) and not re.search(r"[0-9] m?s\b", recipes), recipes


@pytest.mark.parametrize("name, value, says", [
    ("models", "bogus", "Valid choices: 'rnn', 'gru', 'gru_handwritten', 'gru_source_cell', 'gru_attention'"),
    ("models", "[]", "must not be empty"),
    ("raw_size", "0", "must be >= 1"),
    ("teacher_forcing", "2", "must be <= 1"),
])
def test_a_bad_parameter_is_refused_before_any_work(tmp_path, capsys, name, value, says):
    # checked against the parameters cell's annotations: exit 2, one line, nothing written
    from labkit.cli import main

    out = tmp_path / "out"
    assert main(["report", "seq2seq", "-p", name, value, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and f"'{name}'" in err and "\n" not in err, err
    assert not out.exists()


def test_seq2seq_summary_quotes_its_tables_and_hedges_smoke_conclusions(seq2seq_report):
    """The summary said BLEU 0.17 beside the table's 0.2 (each rounded its own way), and stated at the smoke
    profile that the training BLEU is below the held-out BLEU as a finding."""
    import nbformat

    result, out = seq2seq_report
    nb = nbformat.read(out / "seq2seq.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "Test BLEU per model" in c.source)
    summary = " ".join(o.get("data", {}).get("text/markdown", "") for o in cell.outputs)
    for line in summary.splitlines():
        if "held-out pairs" in line or "the highest" in line or "Recipes (" in line:
            assert "(Smoke run:" in line, line
    table = next(c for c in nb.cells if c.cell_type == "code" and "models_table = " in c.source)
    html = " ".join(o.get("data", {}).get("text/html", "") for o in table.outputs)
    scores = re.search(r"Test BLEU per model: (.*?)[.;] ", summary).group(1)
    for entry in scores.split(", "):
        assert f">{entry.rsplit(' ', 1)[1]}<" in html, (entry, scores)
