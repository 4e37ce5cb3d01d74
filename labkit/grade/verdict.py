"""The fresh interpreter that computes the hidden checks' verdicts (``python -I -m labkit.grade.verdict``).

:mod:`labkit.grade.inside` starts this program in the submission's sandbox
*after* the student's notebook has run and after it has killed every process
the notebook left (its kernel included). It is a new Python process: nothing
the notebook did to its own interpreter (replacing functions of the kit,
torch, numpy, the built-ins or IPython's display) exists here. It reads its
plan, a JSON object, from stdin::

    {"cells": [{"origin": "setup" | "parameters" | "exercise", "label": str, "source": str}, ...],
     "checks": [hidden-check cell sources], "check_names": [...]}

``setup`` and ``parameters`` cells come from the instructor's solution
notebook (trusted), ``exercise`` cells are the student's code of the cells
that hold an exercise; they run in notebook order, in one namespace. Then the
checks run one at a time and each result is written as one line to the
results pipe, which the runner opened before this process (or any student
code) existed.

The results channel is kept from the student's code (a submission once
wrote passing verdicts into it from its exercise cell): the plan on stdin
also holds ``"channel": {"fd": N, "key": hex}``. The descriptor's number is
random, it is not in ``sys.argv`` or the environment, it is moved to another
random number (close-on-exec) before any cell runs, and stdin is drained.
Every message is signed (:func:`sign`: HMAC-SHA256 with the per-run key,
which lives only in a closure of :func:`main`, over a sequence number and
the message) and the stream ends with a signed ``{"event": "done"}``; the
runner (:func:`labkit.grade.inside.run_verdicts`, with :func:`verify`)
accepts only valid messages, in sequence, one per check, and treats any
other line as tampering.

What the student's exercise code could still do here, it does in plain
sight, and this program watches for it:

* **tampering** — before the first exercise cell runs, every callable of every
  loaded module (and of the classes they define), ``sys.meta_path`` and
  ``sys.modules`` are fingerprinted; after the exercise cells and after each
  check they are compared again. A difference voids every verdict from then
  on (``"tampered"``), naming what changed;
* **shadowing** — the checks' globals hold the check cells' own names, the
  trusted setup cells' values and the built-ins over anything the exercise
  cells rebound, so a student's ``len = ...`` or ``digits = ...`` does not
  change what a check sees (the student's own functions still see theirs);
* **leaking** — a failure raised by the student's code is reported as its type
  and message only (never a frame of the check), at most :data:`MAX_MESSAGE`
  characters; the grader then removes every line and string constant of the
  checks' source from it (:func:`redactor`), outside the sandbox. A check's own
  ``AssertionError`` message (raised in the check's frame: ``own_words``) is
  the instructor's feedback and is shown as written.
"""
from __future__ import annotations

import builtins
import hmac
import json
import os
import random
import signal
import sys
import types
from typing import Any, Callable

#: Longest failure message a check may report (characters).
MAX_MESSAGE = 400
#: Modules whose callables legitimately change while running (not fingerprinted).
_VOLATILE = ("__main__", "matplotlib", "mpl_toolkits", "IPython", "ipykernel", "tqdm", "logging",
             "warnings", "threading", "_pytest", "pytest", "linecache", "codecs", "encodings")


def _fingerprint() -> dict[str, Any]:
    """``{"module.attr" or "module.Class.attr": value}`` for every callable of every loaded module."""
    prints: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] in _VOLATILE:
            continue
        prints[f"sys.modules[{name}]"] = module
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            if not callable(value):
                continue
            prints[f"{name}.{attr}"] = value
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                for key, member in list(vars(value).items()):
                    if callable(member) or isinstance(member, (classmethod, staticmethod, property)):
                        prints[f"{name}.{value.__name__}.{key}"] = member
    prints.update({f"builtins.{k}": v for k, v in vars(builtins).items()})
    prints.update({f"sys.meta_path[{i}]": finder for i, finder in enumerate(sys.meta_path)})
    prints.update({f"sys.path_hooks[{i}]": hook for i, hook in enumerate(sys.path_hooks)})
    return prints


def _from_student(value: Any) -> bool:
    """Whether ``value`` was made by the notebook's cells (``__main__``): a function, class, or one wrapping them.

    Looks only at types and at the attributes of known wrapper types, so no
    method of the student's objects runs here.
    """
    import functools

    try:
        for _ in range(5):
            if type(value).__module__ == "__main__" or (isinstance(value, type) and value.__module__ == "__main__"):
                return True
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            elif isinstance(value, types.MethodType):
                value = value.__func__
            elif isinstance(value, functools.partial):
                value = value.func
            elif isinstance(value, types.FunctionType):
                return value.__module__ == "__main__" or value.__code__.co_filename.startswith("<exercise")
            else:
                return False
    except Exception:  # an odd descriptor: not the student's
        return False
    return False


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What now holds the notebook's own code where the libraries' code was before (or was added).

    Libraries rebind some of their own functions while they run (torch wraps
    ``manual_seed`` and an optimizer's ``step`` lazily): a change counts only
    when the new value comes from the notebook's cells.
    """
    return sorted(key for key, value in after.items()
                  if (key not in before or before[key] is not value) and _from_student(value))


def redactor(check_sources: list[str]) -> Callable[[str], str]:
    """A function that removes every line and string constant of the checks from a message, and caps it.

    For messages raised by the student's code only (they could carry what that code found of the
    checks); a check's own assertion message is shown as written (:func:`labkit.grade.execute.shown_verdicts`).
    """
    import ast

    secrets = set()
    for source in check_sources:
        secrets.update(line.strip() for line in source.splitlines() if len(line.strip()) >= 6)
        try:
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 6:
                    secrets.add(node.value)
        except SyntaxError:
            pass
    ordered = sorted(secrets, key=len, reverse=True)

    def redact(message: str) -> str:
        for secret in ordered:
            if secret in message:
                message = message.replace(secret, "[…]")
        return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"

    return redact


def _tampering(tampered: list[str]) -> str:
    """``"replaced builtins.abs, ..."`` and/or ``"was seen reading the interpreter's frames ..."``."""
    replaced = [t for t in tampered if not t.startswith("reading ")]
    seen = [t for t in tampered if t.startswith("reading ")]
    parts = (["replaced " + ", ".join(replaced[:5]) + (" and more" if len(replaced) > 5 else "")] if replaced else []) \
        + ["was seen " + t for t in seen[:2]]
    return " and ".join(parts)


def _run_cell(source: str, label: str, namespace: dict[str, Any]) -> str | None:
    """Execute one cell's code; the error (type and message) or None. Lines of IPython magics are skipped."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        exec(compile("\n".join(lines), f"<{label}>", "exec"), namespace)
    except BaseException as error:  # SystemExit and KeyboardInterrupt from a cell too
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return None


def sign(key: bytes, seq: int, body: str) -> bytes:
    """One line of the results channel: ``"<hex HMAC-SHA256 of 'seq\\n' + body> <body>\\n"`` (UTF-8).

    ``body`` is the message's JSON, which holds ``"seq": seq``.
    """
    data = body.encode("utf-8")
    return hmac.digest(key, b"%d\n" % seq + data, "sha256").hex().encode() + b" " + data + b"\n"


def verify(key: bytes, seq: int, line: bytes) -> dict[str, Any] | None:
    """The message of one line of the results channel if it is signed with ``key`` as number ``seq``; else None."""
    mac, _, data = line.partition(b" ")
    try:
        expected = hmac.digest(key, b"%d\n" % seq + data, "sha256").hex().encode()
        if not hmac.compare_digest(mac, expected):
            return None
        message = json.loads(data)
    except (ValueError, TypeError):
        return None
    return message if isinstance(message, dict) and message.get("seq") == seq else None


def move_fd(fd: int, inheritable: bool = False) -> int:
    """``fd`` moved to a random free descriptor number (close-on-exec unless ``inheritable``, for
    ``pass_fds``); the new number. Used on both sides of the results channel."""
    import fcntl
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    top = 1 << 16 if soft == resource.RLIM_INFINITY else min(soft, 1 << 16)
    start = random.SystemRandom().randrange(64, max(65, top - 64)) if top > 128 else 3
    new = fcntl.fcntl(fd, fcntl.F_DUPFD if inheritable else fcntl.F_DUPFD_CLOEXEC, start)
    os.close(fd)
    return new


#: Audit events (PEP 578) through which code reaches the interpreter's frames, objects or memory.
_WATCHED = frozenset({"sys._getframe", "sys._current_frames", "sys._current_exceptions", "gc.get_objects",
                      "gc.get_referrers", "gc.get_referents", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata",
                      "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at", "ctypes.call_function",
                      "sys.setprofile", "sys.settrace", "object.__getattr__"})
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})


def _watch(trusted_files: tuple[str, ...], trusted_names: frozenset[str]) -> list[str]:
    """Install an audit hook (it cannot be removed); the list it fills with what untrusted code did.

    An entry is added when the Python code that *directly* caused a watched
    event (:data:`_WATCHED`; for ``object.__getattr__`` only a traceback's or
    generator's frame) is neither in a file under ``trusted_files`` (the
    standard library, site-packages, the kit) nor compiled from a trusted cell
    (``trusted_names``: the setup cells and the checks): in practice, the
    exercise cells reading frames (``sys._getframe``, ``tb_frame``), walking
    ``gc`` or using ``ctypes``. Libraries that read frames for their own ends
    (``collections.namedtuple``, ``typing``, ``logging``) are not counted.
    """
    found: list[str] = []
    busy = [False]
    getframe, append = sys._getframe, found.append

    def hook(event: str, args: tuple) -> None:
        if event not in _WATCHED or busy[0]:
            return
        if event == "object.__getattr__" and (len(args) < 2 or args[1] not in _FRAME_ATTRS):
            return
        busy[0] = True
        try:
            filename = getframe(1).f_code.co_filename
            if filename in trusted_names or filename.startswith(trusted_files):
                return
            what = f".{args[1]}" if event == "object.__getattr__" else event
            entry = f"reading the interpreter's frames, objects or memory ({what} in {filename})"
            if entry not in found and len(found) < 20:
                append(entry)
        except Exception:  # noqa: BLE001 - a hook must not raise into the code it watches
            pass
        finally:
            busy[0] = False

    sys.addaudithook(hook)
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the plan read from stdin (see the module's docs); 0, or 2 without a valid plan."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    raw = sys.stdin.buffer.read()
    sys.stdin.close()
    try:
        plan = json.loads(raw)
        channel = plan.pop("channel")
        key, fd = bytes.fromhex(channel["key"]), move_fd(int(channel["fd"]))
    except (ValueError, KeyError, TypeError, OSError) as error:
        print(f"labkit.grade.verdict: no valid plan with its results channel on stdin ({error})", file=sys.stderr)
        return 2
    del raw, channel
    sys.argv[1:] = []
    # every function this loop needs, bound now, before any student code: rebinding the module's
    # globals (or json's) later changes nothing here, and is seen by the fingerprint
    # the key passes through one C function only: hmac.digest's module globals could be replaced
    try:
        from _hashlib import hmac_digest
    except ImportError:  # pragma: no cover - CPython without OpenSSL
        hmac_digest = hmac.digest
    dumps, write, mask = json.dumps, os.write, signal.pthread_sigmask
    block, unblock, sigint = signal.SIG_BLOCK, signal.SIG_SETMASK, {signal.SIGINT}
    fingerprint, changed = _fingerprint, _changed
    from labkit.grade import hidden

    collect, evaluate = hidden.collect_quietly, hidden.evaluate
    cells, check_sources = list(plan["cells"]), list(plan["checks"])
    del plan  # what the student's code could find in this frame: as little as possible
    seq = [0]

    def send(message: dict[str, Any]) -> None:
        """Sign and write one message (SIGINT held off, so a time-out never cuts a line)."""
        data = dumps({**message, "seq": seq[0]}, ensure_ascii=False).encode("utf-8")
        line = hmac_digest(key, b"%d\n" % seq[0] + data, "sha256").hex().encode() + b" " + data + b"\n"  # as sign()
        seq[0] += 1
        previous = mask(block, sigint)
        try:
            view = memoryview(line)
            while view:
                view = view[write(fd, view):]
        finally:
            mask(unblock, previous)

    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    trusted: dict[str, Any] = {}  # names the trusted cells bound, with the values they bound
    checks: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] = {}
    check_globals: dict[str, Any] = {}
    check_names: set[str] = set()
    before: dict[str, int] | None = None
    errors: list[str] = []

    def collect_checks() -> None:
        nonlocal before, checks
        check_globals.update(namespace)
        keys_before = {k: id(v) for k, v in check_globals.items()}
        checks, problems = collect(check_sources, check_globals)
        check_sources.clear()
        errors.extend(problems)
        check_names.update(k for k, v in check_globals.items() if keys_before.get(k) != id(v))
        before = fingerprint()

    roots = {os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
    roots.update(p for p in sys.path if os.path.isabs(p) and os.path.isdir(p))
    frames_read = _watch(tuple(os.path.join(r, "") for r in roots),
                         frozenset(f"<{c['label']}>" for c in cells if c["origin"] != "exercise")
                         | frozenset(f"<hidden check cell {i}>" for i in range(len(check_sources) + 1)))
    for cell in cells:
        if cell["origin"] == "exercise" and before is None:
            collect_checks()
        if cell["origin"] == "exercise":
            error = _run_cell(cell["source"], cell["label"], namespace)
            if error:
                errors.append(f"{cell['label']}: {error[:MAX_MESSAGE]}")
            continue
        ids = {k: id(v) for k, v in namespace.items()}
        error = _run_cell(cell["source"], cell["label"], namespace)
        if error:
            errors.append(f"{cell['label']} (setup, from the lab's notebook): {error}")
        trusted.update({k: v for k, v in namespace.items() if ids.get(k) != id(v)})
    if before is None:
        collect_checks()

    # what the checks see: the student's names, then the setup's, then the built-ins, then their own
    shadows = set(vars(builtins))
    for name, value in namespace.items():
        if name in check_names:
            continue
        if name in trusted:
            check_globals[name] = trusted[name]
        elif name not in shadows or name.startswith("__"):
            check_globals[name] = value
    send({"event": "ready", "names": list(checks), "errors": errors,
          "provides": {n: list(p) for n, (_, p) in checks.items()}})

    tampered = (changed(before, fingerprint()) if before is not None else []) + frames_read
    for name, (function, provides) in checks.items():
        if tampered:
            send({"name": name, "passed": False, "values": {}, "provides": list(provides), "seconds": 0.0,
                  "tampered": tampered[:20],
                  "message": "not trusted: the submission's code " + _tampering(tampered)
                             + " (see the grader's flags)"})
            continue
        result = evaluate(name, function, provides)
        result["message"] = result["message"][:MAX_MESSAGE]  # the grader redacts the checks' source from it
        tampered = changed(before, fingerprint()) + frames_read
        if tampered:
            result = {**result, "passed": False, "values": {}, "tampered": tampered[:20],
                      "message": "not trusted: while this check ran, the submission's code " + _tampering(tampered)}
        send(result)
    send({"event": "done"})
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
