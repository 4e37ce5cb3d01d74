"""The hidden checks' verdict process on hand-made plans (no sandbox, no notebook run: seconds each).

What the student reads of a check (its own words as written, what the student's code raised redacted),
what counts as tampering (torch's own lazy rebinding does not, the notebook's code does) and a process
killed by the submission's code (status ``killed``, a flag).
"""
from __future__ import annotations

from labkit.grade.execute import shown_verdicts
from labkit.grade.inside import run_verdicts

CHECKS = '''
from labkit.grade.hidden import check

@check("mse_matches")
def _():
    a, b = [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]
    got = mse(a, b)
    assert abs(got - 5 / 3) < 1e-9, f"mse gave {got:.6g} on new lists; expected {5 / 3:.6g}"
'''


def verdicts(exercise: str, checks: str = CHECKS, setup: str = "x = 1") -> dict[str, dict]:
    plan = {"cells": [{"origin": "setup", "label": "setup cell 1", "source": setup},
                      {"origin": "exercise", "label": "exercise cell 1", "source": exercise}],
            "checks": [checks], "check_names": ["mse_matches", "trains"]}
    raw = run_verdicts(plan, budget=120)
    shown, errors = shown_verdicts(plan["checks"], raw["results"], raw["errors"])
    assert errors == [], errors
    return shown


def test_a_checks_own_message_is_shown_as_written_and_the_students_errors_redacted():
    wrong = verdicts("def mse(a, b):\n    return sum(x - y for x, y in zip(a, b))")["mse_matches"]
    assert not wrong["passed"]
    assert wrong["message"] == "mse gave 3 on new lists; expected 1.66667", wrong["message"]
    # the student's code raising what it read of the check: removed
    leaking = verdicts("def mse(a, b):\n    raise ValueError('saw: a, b = [0.0, 1.0, 2.0], [0.0, 0.0, 0.0] and on new lists; expected')"
                       )["mse_matches"]
    assert leaking["message"].startswith("ValueError: saw: ") and "[0.0, 1.0, 2.0]" not in leaking["message"]
    assert "on new lists; expected" not in leaking["message"] and "[…]" in leaking["message"]


TRAINS = '''
from labkit.grade.hidden import check

@check("trains")
def _():
    p = torch.nn.Parameter(torch.zeros(3))
    for make in (torch.optim.Adam, torch.optim.SGD, torch.optim.RMSprop):
        opt = make([p], lr=0.1)
        (double(p) - 1).pow(2).sum().backward()
        opt.step()
    assert float(p.detach().sum()) != 0, "the parameter did not move"
'''


def test_a_check_that_trains_is_trusted_and_a_real_monkeypatch_is_not():
    plain = "def double(x):\n    return 2 * x"
    trusted = verdicts(plain, TRAINS, setup="import torch")["trains"]
    assert trusted["passed"] and "tampered" not in trusted, trusted
    patched = verdicts(plain + "\ntorch.optim.Adam.step = lambda self, closure=None: None", TRAINS,
                       setup="import torch")["trains"]
    assert not patched["passed"] and patched["message"].startswith("not trusted")
    assert "torch.optim.adam.Adam.step" in patched["tampered"]


def test_a_process_ended_by_the_exercise_code_is_reported_as_killed():
    died = verdicts("import os\ndef mse(a, b):\n    os._exit(3)")["mse_matches"]
    assert died["died"] and not died["passed"]
    assert died["message"].startswith("killed: ") and "exit status 3" in died["message"]
    exits = verdicts("import sys\ndef mse(a, b):\n    sys.exit(0)")["mse_matches"]  # a failure, not a death
    assert not exits["passed"] and exits["message"].startswith("SystemExit") and not exits.get("died")
