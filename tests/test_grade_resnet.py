"""Grading the resnet lab: the solution earns full marks through the real grader, the unfilled release at
most a third, and each exercise's plausible wrong answer fails exactly its own check.

The wrong answers go through the grader's own verdict path (:func:`labkit.grade.execute.build_verdict_plan`
and :func:`labkit.grade.inside.run_verdicts`: a fresh interpreter that runs the lab's setup cells, the
submission's exercise cells and the hidden checks) without the sandboxed notebook run, to keep the suite
fast; they run only the structural checks (the first hidden-check cell), not the training one.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from labkit.cli import main
from labkit.grade.hidden import HIDDEN_TAG
from labkit.grade.release import STUB_PREFIX, _regions, fill_in, release_notebook
from labkit.grade.sandbox import bwrap_executable

ROOT = Path(__file__).resolve().parent.parent
STRUCTURAL = ("residual_block", "resnet18_model", "one_cycle")

pytestmark = pytest.mark.pipeline

# One plausible wrong answer per solution region (notebook order), and the check it must fail.
WRONG = {
    # Exercise 1, forward: ReLU applied to the branch before the addition (the block is no longer
    # ReLU(F(x) + x), and F(x) = 0 no longer gives ReLU(x))
    "relu_before_add": (1, """
y = F.relu(self.bn1(self.conv1(x)))
y = F.relu(self.bn2(self.conv2(y)))
return y + (x if self.shortcut is None else self.shortcut(x))
""", "residual_block"),
    # Exercise 2: stride 2 in every stage, so stage 1 already halves the resolution
    "stride_in_every_stage": (2, """
channels, stages = width, []
for out in [width, 2 * width, 4 * width, 8 * width]:
    stages.append(nn.Sequential(Residual(channels, out, 2, zero_init), Residual(out, out, 1, zero_init)))
    channels = out
self.stage1, self.stage2, self.stage3, self.stage4 = stages
self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
""", "resnet18_model"),
    # Exercise 3: no warm-up (the schedule starts at the peak rate)
    "no_warmup": (3, """
return max(0.0, (total - step) / total)
""", "one_cycle"),
}


def _solution():
    return nbformat.read(ROOT / "notebooks" / "resnet.ipynb", as_version=4)


def _submission(replaced: dict[int, str] | None = None):
    """The released notebook with every stub filled with the solution, except the regions in ``replaced``
    (region number in notebook order, from 0 -> the code of its body)."""
    replaced = replaced or {}
    solution = _solution()
    blocks = []
    for index, cell in enumerate(solution.cells):
        if cell.cell_type == "code" and HIDDEN_TAG not in cell.metadata.get("tags", []):
            lines = cell.source.splitlines()
            blocks += [lines[begin + 1:end] for begin, end in _regions(cell.source, f"cell {index}")]
    released, _, _ = release_notebook(solution)
    seen = -1
    for cell in released.cells:
        if cell.cell_type != "code":
            continue
        lines = []
        for line in cell.source.splitlines():
            if not line.strip().startswith(STUB_PREFIX):
                lines.append(line)
                continue
            seen += 1
            indent = line[: len(line) - len(line.lstrip())]
            lines += ([indent + row for row in replaced[seen].strip("\n").splitlines()] if seen in replaced
                      else blocks[seen])
        cell.source = "\n".join(lines)
    assert seen == len(blocks) - 1
    return released


def _structural_verdicts(submitted) -> dict[str, dict]:
    from labkit.grade.execute import build_verdict_plan
    from labkit.grade.inside import run_verdicts
    from labkit.grade.rubric import load_rubric

    rubric = load_rubric("resnet")
    plan, _, notes = build_verdict_plan(rubric, submitted, {"profile": "smoke"})
    assert not notes, notes
    plan["checks"] = [source for source in plan["checks"] if "@check(\"resnet18_trains\"" not in source]
    plan["check_names"] = list(STRUCTURAL)
    outcome = run_verdicts(plan, 300)
    assert not outcome["errors"], outcome["errors"]
    return {result["name"]: result for result in outcome["results"]}


def test_the_released_notebook_has_one_stub_per_region_with_a_hint():
    released, stubs, hidden = release_notebook(_solution())
    assert stubs == 4 and hidden == 2
    lines = [line.strip() for cell in released.cells if cell.cell_type == "code" for line in cell.source.splitlines()
             if line.strip().startswith(STUB_PREFIX)]
    assert len(lines) == 4 and all("write your solution here" not in line for line in lines), lines
    text = "\n".join(cell.source for cell in released.cells)
    assert "BEGIN SOLUTION" not in text and "hidden-check" not in json.dumps([c.metadata for c in released.cells])
    assert "nn.init.zeros_(self.bn2.weight)" not in text and "AdaptiveAvgPool2d" not in text


# Other correct layouts the lab allows: a Sequential branch with biased convolutions, the stride on the second
# convolution, nn.Identity as the shortcut, ReLU modules, zero_init through the Sequential; stages built in a
# loop with setattr and a head written as its own modules.
OTHER_LAYOUTS = {
    0: """
self.branch = nn.Sequential(
    nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
    nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1), nn.BatchNorm2d(out_channels))
if zero_init:
    self.branch[-1].weight.data.zero_()
self.shortcut = nn.Identity() if stride == 1 and in_channels == out_channels else nn.Sequential(
    nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride), nn.BatchNorm2d(out_channels))
self.out = nn.ReLU()
""",
    1: """
return self.out(self.branch(x) + self.shortcut(x))
""",
    2: """
previous = width
for number, factor in enumerate((1, 2, 4, 8), start=1):
    blocks = [Residual(previous, width * factor, 1 if number == 1 else 2, zero_init=zero_init),
              Residual(width * factor, width * factor, zero_init=zero_init)]
    setattr(self, f"stage{number}", nn.Sequential(*blocks))
    previous = width * factor
self.head = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1), nn.Linear(previous, num_classes))
""",
}


def test_other_correct_layouts_pass_every_check(data_dir):
    results = _structural_verdicts(_submission(OTHER_LAYOUTS))
    assert all(result["passed"] for result in results.values()), results


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_wrong_answer_fails_exactly_its_own_check(data_dir, wrong):
    if wrong == "relu_before_add":  # the solution itself passes every structural check
        assert all(r["passed"] for r in _structural_verdicts(_submission()).values())
    number, code, failing = WRONG[wrong]
    results = _structural_verdicts(_submission({number: code}))
    assert set(results) == set(STRUCTURAL), results
    for name, result in results.items():
        assert result["passed"] == (name != failing), (wrong, name, result["message"])
    message = results[failing]["message"]
    assert message and "_reference" not in message and "@check" not in message, message


@pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
def test_release_fill_in_and_grade_the_resnet_lab(data_dir, tmp_path):
    assert main(["release", "resnet", "--out", str(tmp_path / "release")]) == 0
    released = nbformat.read(tmp_path / "release" / "resnet.ipynb", as_version=4)
    subs = tmp_path / "submissions"
    (subs / "alice").mkdir(parents=True)
    nbformat.write(fill_in(released, _solution()), subs / "alice" / "resnet.ipynb")
    nbformat.write(released, subs / "unfilled.ipynb")

    out = tmp_path / "grades"
    assert main(["grade", "resnet", str(subs), "--out", str(out), "--workers", "2"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
    alice = json.loads((out / "results" / "alice.json").read_text())
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["total"]) == 14, alice["items"]
    assert all(item["passed"] for item in alice["items"]), alice["items"]
    checks = {c["name"]: c for c in alice["checks"]}
    assert 0.2 <= checks["resnet18_trains"]["values"]["resnet18_check_acc"] <= 1.0

    unfilled = json.loads((out / "results" / "unfilled.json").read_text())
    assert unfilled["status"] == "error" and unfilled["failure"]["ename"] == "NotImplementedError"
    assert "exercise: build self.stage1" in unfilled["failure"]["evalue"], unfilled["failure"]
    assert float(rows["unfilled"]["total"]) <= 14 / 3, rows["unfilled"]
    for item in ("residual_block", "resnet18_model", "one_cycle", "resnet18_trains"):
        assert float(rows["unfilled"][item]) == 0, item
