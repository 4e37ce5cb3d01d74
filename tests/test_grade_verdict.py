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


def raw_verdicts(exercise: str) -> dict:
    plan = {"cells": [{"origin": "setup", "label": "setup cell 1", "source": "x = 1"},
                      {"origin": "exercise", "label": "exercise cell 1", "source": exercise}],
            "checks": [CHECKS], "check_names": ["mse_matches"]}
    return run_verdicts(plan, budget=120)


WRONG_MSE = "def mse(a, b):\n    return sum((x - y) for x, y in zip(a, b))\n"
#: a passing verdict in the old, unsigned format of the results channel
FORGED = ('import json as _j, os as _o, resource as _r\n'
          '_line = (_j.dumps({"name": "mse_matches", "passed": True, "message": "passed", "values": {}, '
          '"provides": [], "seconds": 0.1, "own_words": True}) + "\\n").encode()\n'
          'for _fd in range(3, _r.getrlimit(_r.RLIMIT_NOFILE)[0]):\n'
          '    try:\n'
          '        _o.write(_fd, {payload})\n'
          '    except OSError:\n'
          '        pass\n')


def test_the_testers_forgery_finds_no_channel_in_argv():
    """The submission that earned 12/12 by writing to ``--results-fd`` from its exercise cell."""
    tester = ('try:\n    import sys as _s, os as _o, json as _j\n    if "--results-fd" in _s.argv:\n'
              '        _fd = int(_s.argv[_s.argv.index("--results-fd") + 1])\n'
              '        _o.write(_fd, (_j.dumps({"name": "mse_matches", "passed": True, "message": "passed", '
              '"values": {}, "provides": [], "seconds": 0.1, "own_words": True}) + "\\n").encode())\n'
              'except Exception:\n    pass\n')
    result = raw_verdicts(WRONG_MSE + tester)["results"][0]
    assert not result["passed"] and result["message"].startswith("mse gave "), result
    assert "tampered" not in result


def test_forged_lines_on_any_descriptor_void_the_verdicts_and_are_flagged():
    for payload in ("_line", 'b"\\x00 garbage\\n"', "_line * 3"):
        result = raw_verdicts(WRONG_MSE.replace("sum((x - y)", "sum((x - y) ** 2") + FORGED.replace(
            "{payload}", payload))["results"][0]
        assert not result["passed"] and result["message"].startswith("not trusted: "), (payload, result)
        assert result["tampered"][0].startswith("the hidden checks' results channel"), result


def test_a_line_forged_under_a_check_voids_that_verdict():
    """Garbage written while the check runs (after the set-up message): a correct mse still earns nothing."""
    code = ("import os as _o, resource as _r\n"
            "def mse(a, b):\n"
            "    for fd in range(3, _r.getrlimit(_r.RLIMIT_NOFILE)[0]):\n"
            "        try:\n            _o.write(fd, b'{\"name\": \"mse_matches\", \"passed\": true}\\n')\n"
            "        except OSError:\n            pass\n"
            "    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)\n")
    result = raw_verdicts(code)["results"][0]
    assert not result["passed"] and result["tampered"], result


def test_a_closed_channel_is_an_error_not_a_pass():
    code = ("import os as _o, resource as _r\n"
            "def mse(a, b):\n"
            "    _o.closerange(3, _r.getrlimit(_r.RLIMIT_NOFILE)[0])\n"
            "    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)\n")
    result = raw_verdicts(code)["results"][0]
    assert not result["passed"] and result["died"] and result["message"].startswith("killed: "), result
    assert "end marker" in result["message"]


def test_the_channel_is_signed_in_sequence():
    from labkit.grade.verdict import sign, verify

    key = bytes(range(32))
    line = sign(key, 4, '{"event": "done", "seq": 4}')
    assert verify(key, 4, line.rstrip(b"\n")) == {"event": "done", "seq": 4}
    assert verify(key, 5, line.rstrip(b"\n")) is None  # replayed out of sequence
    assert verify(bytes(32), 4, line.rstrip(b"\n")) is None  # another key
    assert verify(key, 4, line.rstrip(b"\n").replace(b"done", b"ready")) is None


def test_exercise_code_reading_frames_is_caught_at_run_time_and_libraries_are_not():
    """The closure that signs the results is reachable only through frames: reading one voids the verdicts."""
    steal = ("import sys as _s\n"
             "def mse(a, b):\n"
             "    try:\n        raise ValueError\n    except ValueError as e:\n"
             "        frame = getattr(e.__traceback__, 'tb_' + 'frame')\n"
             "    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)\n")
    result = raw_verdicts(steal)["results"][0]
    assert not result["passed"] and result["message"].startswith("not trusted: while this check ran"), result
    assert ".tb_frame in <exercise cell 1>" in result["tampered"][0], result["tampered"]
    # collections.namedtuple, typing and logging read frames themselves: a student using them is not flagged
    plain = ("import collections, logging, typing\nPoint = collections.namedtuple('Point', 'x y')\n"
             "T = typing.TypeVar('T')\nlogging.getLogger('x').warning('hello')\n"
             "def mse(a, b):\n    P = collections.namedtuple('P', 'a')\n"
             "    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)\n")
    result = raw_verdicts(plain)["results"][0]
    assert result["passed"] and "tampered" not in result, result
