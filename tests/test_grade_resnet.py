"""Grading the resnet lab: the solution earns full marks through the real grader, the unfilled release at
most a third, and each exercise's plausible wrong answer fails exactly its own check.

The wrong answers go through the grader's own verdict path (:func:`labkit.grade.execute.build_verdict_plan`
and :func:`labkit.grade.inside.run_verdicts`: a fresh interpreter that runs the lab's setup cells, the
submission's exercise cells and the hidden checks) without the sandboxed notebook run, to keep the suite
fast (:func:`grading_support.hidden_check_verdicts`); they run only the structural checks, not the training one.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grading_support import hidden_check_verdicts, release_fill_and_grade
from labkit.grade.release import STUB_PREFIX, release_notebook
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


def _structural_verdicts(replaced: dict[int, str] | None = None) -> dict[str, dict]:
    """The structural checks' results on the solution with ``replaced`` regions (the training check left out)."""
    results = hidden_check_verdicts("resnet", replaced, skip=["resnet18_trains"], budget=300)
    assert results.pop("__errors__") == []
    return results


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
    results = _structural_verdicts(OTHER_LAYOUTS)
    assert all(result["passed"] for result in results.values()), results


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_wrong_answer_fails_exactly_its_own_check(data_dir, wrong):
    if wrong == "relu_before_add":  # the solution itself passes every structural check
        assert all(r["passed"] for r in _structural_verdicts().values())
    number, code, failing = WRONG[wrong]
    results = _structural_verdicts({number: code})
    assert set(results) == set(STRUCTURAL), results
    for name, result in results.items():
        assert result["passed"] == (name != failing), (wrong, name, result["message"])
    message = results[failing]["message"]
    assert message and "_reference" not in message and "@check" not in message, message


@pytest.mark.skipif(bwrap_executable() is None, reason="bubblewrap is not installed (make setup)")
def test_release_fill_in_and_grade_the_resnet_lab(data_dir, tmp_path):
    _, rows, out = release_fill_and_grade("resnet", tmp_path)
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
