"""Grading the seq2seq lab: the solution earns full marks, the unfilled release at most a third, and each
plausible wrong answer fails exactly the hidden check of its own exercise.

The solution and the unfilled release go through the real grader (``labkit grade`` in a bubblewrap
sandbox). The wrong answers are checked faster: the grader's own verdict process
(:func:`labkit.grade.inside.run_verdicts`, a fresh interpreter running the solution's setup cells, the
submission's exercise cells and the hidden checks) runs outside a sandbox on each of them, without the
notebook's experiments and without the one check that retrains a model.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from conftest import full_data_dir
from labkit.cli import main
from labkit.grade.execute import build_verdict_plan
from labkit.grade.inside import run_verdicts
from labkit.grade.release import BEGIN, END, fill_in, release_notebook
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


def replace_region(source: str, region: int, body: list[str]) -> str:
    """``source`` with its ``region``-th solution region (markers included) replaced by ``body``."""
    lines, seen, out, inside = source.splitlines(), -1, [], False
    for line in lines:
        text = line.strip()
        if text.startswith(BEGIN):
            seen += 1
            if seen == region:
                indent = line[:len(line) - len(line.lstrip())]
                out += [indent + code for code in body]
                inside = True
                continue
        if inside:
            inside = text != END
            continue
        out.append(line)
    assert seen >= region, f"the cell has no solution region {region}"
    return "\n".join(out)


@pytest.fixture(scope="module")
def data_dir():
    data = full_data_dir()
    if data is None:
        pytest.skip("set LABKIT_DATA to the course data (../shared/data)")
    return data


@pytest.fixture(scope="module")
def filled():
    """What a student who writes exactly the model answer hands in (released, then filled in)."""
    solution = nbformat.read(SOLUTION, as_version=4)
    released, stubs, hidden = release_notebook(solution)
    assert stubs == 5 and hidden == 1
    return fill_in(released, solution)


def unit_verdicts(rubric, submission, monkeypatch, data) -> dict[str, dict]:
    """The unit checks' results on ``submission``, from the grader's verdict process."""
    monkeypatch.setenv("LABKIT_DATA", str(data))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    plan, _, notes = build_verdict_plan(rubric, submission, {"profile": "smoke"})
    assert not notes, notes
    # every check but the last one (the retraining check, which the full grading test covers)
    source = plan["checks"][0]
    plan["checks"] = [source[:source.index('@check("translation"')]]
    plan["check_names"] = list(UNIT_CHECKS)
    verdicts = run_verdicts(plan, budget=120)
    assert not verdicts["errors"], verdicts["errors"]
    return {result["name"]: result for result in verdicts["results"]}


@pytest.mark.parametrize("wrong", list(WRONG_ANSWERS))
def test_a_wrong_answer_fails_exactly_its_own_check(wrong, filled, data_dir, monkeypatch):
    cell_id, region, body, own_check = WRONG_ANSWERS[wrong]
    rubric = load_rubric("seq2seq")
    solution = nbformat.read(SOLUTION, as_version=4)
    submission = fill_in(release_notebook(solution)[0], solution)
    (cell,) = [c for c in submission.cells if c.get("id") == cell_id]
    (original,) = [c for c in solution.cells if c.get("id") == cell_id]
    cell.source = replace_region(original.source, region, body)
    results = unit_verdicts(rubric, submission, monkeypatch, data_dir)
    assert set(results) == set(UNIT_CHECKS)
    failed = {name for name, result in results.items() if not result["passed"]}
    assert failed == {own_check}, {name: results[name]["message"] for name in failed}
    message = results[own_check]["message"]
    assert message and "assert " not in message and "torch." not in message, message  # says what, not how


def test_the_model_answer_passes_every_unit_check(filled, data_dir, monkeypatch):
    results = unit_verdicts(load_rubric("seq2seq"), filled, monkeypatch, data_dir)
    assert all(result["passed"] for result in results.values()), results


@pytest.mark.pipeline
@pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
def test_release_fill_in_and_grade_the_seq2seq_lab(tmp_path, monkeypatch, data_dir, filled):
    monkeypatch.setenv("LABKIT_DATA", str(data_dir))
    assert main(["release", "seq2seq", "--out", str(tmp_path / "release")]) == 0
    released = nbformat.read(tmp_path / "release" / "seq2seq.ipynb", as_version=4)
    text = nbformat.writes(released)
    assert "hidden-check" not in text and BEGIN not in text and "@check(" not in text
    subs = tmp_path / "submissions"
    (subs / "alice").mkdir(parents=True)
    nbformat.write(filled, subs / "alice" / "seq2seq.ipynb")
    nbformat.write(released, subs / "unfilled.ipynb")

    out = tmp_path / "grades"
    assert main(["grade", "seq2seq", str(subs), "--out", str(out), "--workers", "2"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
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
