"""Grading the seq2seq lab: the solution earns full marks, the unfilled release at most a third, and each
plausible wrong answer fails exactly the hidden check of its own exercise.

The solution and the unfilled release go through the real grader (``labkit grade`` in a bubblewrap
sandbox). The wrong answers are checked faster: the grader's own verdict process
(:func:`labkit.grade.inside.run_verdicts`, a fresh interpreter running the solution's setup cells, the
submission's exercise cells and the hidden checks) runs outside a sandbox on each of them, without the
notebook's experiments and without the one check that retrains a model.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grading_support import hidden_check_verdicts, region_number, release_fill_and_grade
from labkit.grade.release import BEGIN, release_notebook
from labkit.grade.rubric import load_rubric
from labkit.grade.sandbox import bwrap_executable

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "notebooks" / "seq2seq.ipynb"
UNIT_CHECKS = ("vocabulary", "gru_cell", "attention", "masked_loss")  # one per exercise

# (exercise cell id, which solution region of that cell, the wrong code, the check that must fail)
WRONG_ANSWERS = {
    # forgets the <eos> that ends every encoded sentence
    "vocabulary": ("ex-vocabulary", 1, [
        "return [self.word2index.get(word, UNK) for word in sentence.split()]"], "vocabulary"),
    # the source report's cell: the hidden state enters the gates with no weights of its own
    "source_gru": ("ex-gru-cell", 0, [
        "x_r, x_z, x_n = (x @ self.weight_ih.T + self.bias_ih).chunk(3, dim=-1)",
        "r, z = torch.sigmoid(x_r + h), torch.sigmoid(x_z + h)",
        "return (1 - z) * torch.tanh(x_n + r * h) + z * h"], "gru_cell"),
    # attends to padding: the softmax runs over every source position
    "unmasked_attention": ("ex-attention", 0, [
        "scores = self.v(torch.tanh(self.w_query(query).unsqueeze(1) + keys)).squeeze(-1)",
        "weights = torch.softmax(scores, dim=-1)",
        "context = torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)"], "attention"),
    # averages over every position of the padded batch, padding included
    "padding_in_loss": ("ex-masked-loss", 0, [
        "picked = log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)",
        "loss = -picked.mean()",
        "accuracy = (log_probs.argmax(-1) == target).float().mean()"], "masked_loss"),
}


def test_the_release_has_a_stub_per_region_and_no_checks():
    released, stubs, hidden = release_notebook(nbformat.read(SOLUTION, as_version=4))
    assert stubs == 5 and hidden == 1


def unit_verdicts(replaced: dict[int, str] | None, monkeypatch, data) -> dict[str, dict]:
    """The unit checks' results on the solution with ``replaced`` regions, from the grader's verdict process
    (every check but the retraining one, which the full grading test covers)."""
    monkeypatch.setenv("LABKIT_DATA", str(data))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    results = hidden_check_verdicts("seq2seq", replaced, skip=["translation"], budget=120)
    assert results.pop("__errors__") == []
    return results


@pytest.mark.parametrize("wrong", list(WRONG_ANSWERS))
def test_a_wrong_answer_fails_exactly_its_own_check(wrong, data_dir, monkeypatch):
    cell_id, region, body, own_check = WRONG_ANSWERS[wrong]
    number = region_number(nbformat.read(SOLUTION, as_version=4), cell_id, region)
    results = unit_verdicts({number: "\n".join(body)}, monkeypatch, data_dir)
    assert set(results) == set(UNIT_CHECKS)
    failed = {name for name, result in results.items() if not result["passed"]}
    assert failed == {own_check}, {name: results[name]["message"] for name in failed}
    message = results[own_check]["message"]
    assert message and "assert " not in message and "torch." not in message, message  # says what, not how


def test_the_model_answer_passes_every_unit_check(data_dir, monkeypatch):
    results = unit_verdicts(None, monkeypatch, data_dir)
    assert all(result["passed"] for result in results.values()), results


@pytest.mark.pipeline
@pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
def test_release_fill_in_and_grade_the_seq2seq_lab(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("LABKIT_DATA", str(data_dir))
    released, rows, out = release_fill_and_grade("seq2seq", tmp_path)
    text = nbformat.writes(released)
    assert "hidden-check" not in text and BEGIN not in text and "@check(" not in text
    total = sum(item.points for item in load_rubric("seq2seq").items)
    assert total == 20
    alice = json.loads((out / "results" / "alice.json").read_text())
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == total, alice["items"]
    checks = {c["name"]: c for c in alice["checks"]}
    assert 0.1 <= checks["translation"]["values"]["heldout_token_acc"] <= 1.0
    assert 0.0 <= checks["translation"]["values"]["heldout_bleu"] <= 100.0

    unfilled = json.loads((out / "results" / "unfilled.json").read_text())
    assert unfilled["status"] == "error"
    assert unfilled["failure"]["ename"] == "NotImplementedError"
    assert "exercise: count the word" in unfilled["failure"]["evalue"]  # the first stub's hint
    assert float(rows["unfilled"]["total"]) <= total / 3
    for item in ("vocabulary", "gru_cell", "attention", "masked_loss", "heldout_token_acc"):
        assert float(rows["unfilled"][item]) == 0, item
