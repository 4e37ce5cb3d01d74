"""Recording values into the executed notebook, and reading them back.

``record(name, value)`` is how a lab reports a result: the value is shown in
the notebook and stored in the cell's outputs under a labkit MIME type, so
the report pipeline (``metrics.json``) and the grader can read it later from
any executed notebook without re-running it.

Other labkit modules use :func:`emit` with their own MIME types for
provenance (the run's environment, the datasets a lab loaded).
"""
from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any, Iterable, Mapping

RECORD_MIME = "application/vnd.labkit.record+json"
RUN_MIME = "application/vnd.labkit.config+json"
DATASET_MIME = "application/vnd.labkit.dataset+json"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

#: Values recorded in this process, in order (the notebook's own view).
RECORDS: dict[str, Any] = {}


def plain_scalar(value: Any) -> Any:
    """A number, bool, string or None (numpy/torch scalars included) as a plain JSON value.

    Non-finite floats become strings ("nan", "inf"); anything else raises TypeError.
    """
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    raise TypeError(f"not a scalar: {type(value).__name__}")


def tidy_float(value: float) -> float:
    """``value`` as people would write it: no ``-0``, no float32 or float64 rounding noise.

    A value a float32 can hold exactly (``0.8123000264167786``, what ``tensor(0.8123).item()``
    gives) becomes the shortest decimal that reads back as the same float32 (``0.8123``, numpy's
    shortest round-trip repr); any other value is rounded to 15 significant digits, the precision a
    float64 keeps through decimal (``0.1 + 0.2`` -> ``0.3``). ``-0.0`` becomes ``0.0``; non-finite
    values are returned unchanged. The change is below float32 resolution, never a real digit.
    """
    if not math.isfinite(value):
        return value
    if value == 0:
        return 0.0
    import numpy as np

    single = np.float32(value)
    if math.isfinite(float(single)) and float(single) == value:
        return float(str(single))
    return float(f"{value:.15g}")


def _jsonable(value: Any) -> Any:
    """Convert numpy/torch scalars and containers into plain JSON values (floats tidied, see :func:`tidy_float`)."""
    try:
        scalar = plain_scalar(value)
    except TypeError:
        pass
    else:
        return tidy_float(scalar) if isinstance(scalar, float) else scalar
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    raise TypeError(
        f"cannot record a value of type {type(value).__name__}; "
        "record numbers, strings, booleans, or lists/dicts of them"
    )


def format_number(value: Any, digits: int = 6, *, decimals: int | None = None) -> str:
    """A number for people, never ``-0``: ``digits`` significant digits (``-0.0`` -> ``"0"``), or
    with ``decimals`` a fixed number of decimals (``-0.001`` -> ``"0.00"`` at 2, where ``f"{x:.2f}"``
    prints ``-0.00``). Floats of any kind (Python, NumPy, a 0-d tensor's ``.item()``)
    are formatted; ints, bools and non-numbers come back as ``str``. The one number formatter of the
    kit's tables, figure titles, records and reports."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = f"{value:.{decimals}f}" if decimals is not None else f"{value:.{digits}g}"
        if text.startswith("-") and float(text) == 0:
            text = text[1:]
        return "0" if decimals is None and float(text) == 0 else text
    return str(value)


def format_distinct(values: Iterable[Any], decimals: int = 1, most: int = 6) -> list[str]:
    """``values`` with one number of decimals, the fewest (at least ``decimals``, at most ``most``)
    at which values that differ print differently and no non-zero value prints as ``0``: a sentence
    that names the highest of ``[0.65, 0.74, 0.71]`` shows ``0.65, 0.74, 0.71``, not ``0.7, 0.7, 0.7``.

    Rounding keeps order, so distinct printed values show the values' order. Values equal to ``most``
    decimals print alike (they are equal for people). Non-numbers come back as ``str``; ints have no
    decimals. Returns one string per value, in order (``format_number`` with ``decimals``: no ``-0``).
    """
    values = list(values)
    numeric = [float(v) for v in values
               if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))]
    for places in range(decimals, max(decimals, most) + 1):
        shown = {v: format_number(v, decimals=places) for v in numeric}
        apart = len(set(shown.values())) == len(shown)
        if apart and all(v == 0 or float(text) != 0 for v, text in shown.items()):
            break

    def one(value: Any) -> str:
        if isinstance(value, numbers.Integral) or not isinstance(value, numbers.Real):
            return str(value)
        return format_number(float(value), decimals=places)

    return [one(v) for v in values]


def format_rate(value: Any) -> str:
    """A learning rate (or another small positive setting of that kind) for people, in the one form the
    course's reports write it, in tables, legends, captions and sentences alike: up to 0.1 as
    ``<mantissa>e-<k>`` with up to three significant digits and no zero padding (``0.001`` ->
    ``"1e-3"``, ``0.003`` -> ``"3e-3"``, ``2e-4`` -> ``"2e-4"``, ``0.0025`` -> ``"2.5e-3"``, ``0.1`` ->
    ``"1e-1"``: a sweep over powers of ten reads 1e-5 … 1e-1, not 1e-5 … 1e-2, 0.1); above 0.1 as a
    plain number (``0.4`` -> ``"0.4"``, ``1.0`` -> ``"1"``); ``0`` -> ``"0"``. Non-numbers
    come back as ``str``. (The reports had written one rate three ways: ``3e-3``, ``3·10⁻³`` and
    ``0.003``.)"""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return str(value)
    value = float(value)
    if not math.isfinite(value) or value == 0 or abs(value) > 0.1:
        return format_number(value, 3)
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{format_number(float(mantissa), 3)}e{int(exponent)}"


#: format_duration's units per language: milliseconds, seconds, minutes, hours.
_DURATION_UNITS = {"en": ("ms", "s", "min", "h"), "zh": ("毫秒", "秒", "分", "小时")}


def format_duration(seconds: float, lang: str | None = None) -> str:
    """A duration for people in ``lang`` (default: the report's current language,
    :func:`labkit.i18n.language`), never ``0 s`` for a time that passed: two significant digits below
    a minute (``0.42`` -> ``"0.42 s"``, ``3.71`` -> ``"3.7 s"``, ``12.3`` -> ``"12 s"``; below
    10 ms in ms: ``0.0042`` -> ``"4.2 ms"``), then
    ``"2 min 5 s"`` and ``"1 h 2 min"``. Exactly 0 prints ``"0 s"``. In Chinese the units are
    毫秒 / 秒 / 分 / 小时 (``"0.42 秒"``, ``"2 分 5 秒"``, ``"1 小时 2 分"``). Raises ValueError for a
    negative or non-finite ``seconds`` or an unsupported ``lang``."""
    from labkit import i18n  # imported when used, as the rest of records.py needs no language

    ms, s, mins, hours_unit = _DURATION_UNITS[i18n.check_language(lang or i18n.language())]
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {seconds}")
    if 0 < seconds < 0.01:
        return f"{format_number(seconds * 1000, 2)} {ms}"
    if seconds < 59.5:
        if seconds >= 10:
            return f"{seconds:.0f} {s}"
        return f"{format_number(seconds, 2)} {s}"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} {mins} {rest} {s}"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} {hours_unit} {minutes} {mins}"


def _format(value: Any) -> str:
    """A recorded value as its visible line: numbers for people at every depth of a list or dict
    (``{"cat": 0.0384615384615385}`` -> ``{"cat": 0.0384615}``), strings and the rest as JSON."""
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_format(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def emit(mime: str, payload: dict, text: str) -> None:
    """Display ``payload`` under ``mime`` with ``text`` as its visible form.

    Outside IPython (a plain script) only the text is printed.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({mime: payload, "text/plain": text}, raw=True)
    else:
        print(text)


def record(name: str, value: Any) -> None:
    """Record a named result (a number, string, bool, or list/dict of them).

    The value appears in the notebook as ``name = value``, in the report's
    ``metrics.json`` and in the grader's view of the notebook. Recording the
    same name again replaces the earlier value. Returns None, so that a cell ending with a
    ``record(...)`` shows only the ``[recorded]`` line, not the value again as an ``Out[n]``.

    >>> record("mlp_test_acc", 0.981)  # doctest: +SKIP
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"record name {name!r} is not valid: use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    clean = _jsonable(value)
    RECORDS[name] = clean
    emit(RECORD_MIME, {"name": name, "value": clean}, f"[recorded] {name} = {_format(clean)}")


def _outputs(nb: Any) -> Iterable[dict]:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("display_data", "execute_result"):
                yield output


def read_payloads(nb: Any, mime: str) -> list[dict]:
    """Every payload of type ``mime`` in an executed notebook, in cell order."""
    payloads = []
    for output in _outputs(nb):
        payload = output.get("data", {}).get(mime)
        if isinstance(payload, str):  # some writers store JSON as text
            payload = json.loads(payload)
        if isinstance(payload, dict):
            payloads.append(payload)
    return payloads


def read_records(nb: Any) -> dict[str, Any]:
    """The values recorded in an executed notebook (a later record wins).

    ``nb`` is a notebook as loaded by ``nbformat.read`` (or a plain dict).
    """
    return {p["name"]: p.get("value") for p in read_payloads(nb, RECORD_MIME) if "name" in p}
