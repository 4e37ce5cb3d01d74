"""Where and how a report was made: the machine, the software, the inputs.

:func:`environment` describes the machine and software that ran the report;
:func:`section_markdown` turns a provenance dict (built by
:func:`labkit.report.pipeline.render`, also stored in ``metrics.json``) into the
report's "Environment and provenance" section.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from labkit.i18n import t
from labkit.records import format_number

_EMPTY = "—"


def _os_name() -> str:
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        pretty = ""
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}".strip()
    return f"{pretty} ({kernel})" if pretty else platform.platform()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _gpus() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _labkit_version() -> str | None:
    version = _version("labkit")
    if version is None:
        import labkit

        version = getattr(labkit, "__version__", None)
    return version


def _git(folder: Path, *args: str) -> str | None:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the labkit checkout (``...-dirty`` with uncommitted changes).

    ``folder`` defaults to the folder that holds the ``labkit`` package. None
    when that folder is not the top of a git checkout (an installed kit).
    Uses ``--no-optional-locks`` so it never writes to the repository.
    """
    if folder is None:
        import labkit

        folder = Path(labkit.__file__).resolve().parent.parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != Path(folder).resolve():
        return None
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(folder, "--no-optional-locks", "status", "--porcelain")
    return f"{commit}-dirty" if status else commit


def environment() -> dict[str, Any]:
    """The machine and software this process runs on, as a plain JSON-able dict.

    Keys: ``os``, ``cpu``, ``cpu_count``, ``gpu`` (list of CUDA device names,
    empty without CUDA), ``python``, ``torch``, ``torchvision``, ``labkit``,
    ``commit`` (see :func:`git_commit`). Missing packages give None.
    """
    return {
        "os": _os_name(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": _gpus(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "labkit": _labkit_version(),
        "commit": git_commit(),
    }


def _cell(value: Any) -> str:
    """A markdown table cell: code-formatted (so MathJax leaves it alone), pipes escaped."""
    if value is None or value == "":
        return _EMPTY
    if isinstance(value, str):
        text = value
    elif isinstance(value, float) and value == 0:
        text = "0.0"  # a parameter keeps its written form (2.0 stays 2.0), but never -0.0
    else:
        text = json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split()).replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _text(value: Any) -> str:
    """A plain-text markdown table cell (labels the kit wrote itself)."""
    if value is None or value == "":
        return _EMPTY
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


#: A parameter table longer than this is printed as two column groups side by side (half the height);
#: a value longer than SIDE_BY_SIDE_VALUE characters (as written in the cell) gets a row of its own in
#: a second table after it, so that the side-by-side table fits the page without breaking a name.
SIDE_BY_SIDE_ROWS, SIDE_BY_SIDE_VALUE = 12, 26


def side_by_side(header: tuple[str, ...], rows: list[tuple[str, ...]], groups: int = 2) -> tuple[tuple, list]:
    """A long table as ``groups`` copies of its columns side by side: ``rows`` are dealt column-major
    (the first half down the left group, the rest down the right), the last group padded with empty
    cells. Returns ``(header, rows)`` for :func:`_table`. Raises ValueError for ``groups < 1``."""
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    height = -(-len(rows) // groups) if rows else 0
    empty = ("",) * len(header)
    columns = [rows[i * height:(i + 1) * height] for i in range(groups)]
    laid = [tuple(cell for column in columns for cell in (column[r] if r < len(column) else empty))
            for r in range(height)]
    return header * groups, laid


def format_seconds(seconds: float | None) -> str:
    """``83.2`` -> ``"1 min 23.2 s"``; None -> ``"—"``."""
    if seconds is None:
        return _EMPTY
    minutes, rest = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours} h {minutes} min {format_number(rest, decimals=0)} s"
    if minutes:
        return f"{minutes} min {format_number(rest, decimals=1)} s"
    return f"{format_number(rest, decimals=1)} s"


def _size_range(sizes: list[Any]) -> str:
    """``[1500, 250, 1000]`` -> ``"250–1500"``; one distinct size -> that size; sizes that are not
    all numbers -> the distinct ones joined with ``/``."""
    distinct = list(dict.fromkeys(sizes))
    if len(distinct) == 1:
        return str(distinct[0])
    if all(isinstance(size, (int, float)) for size in distinct):
        return f"{min(distinct)}–{max(distinct)}"
    return "/".join(map(str, distinct))


def _splits(loads: list[Any], lang: str) -> str:
    """The split sizes of one or more loads of a dataset: ``train 1000 · test 500``, or the range of
    each split over the loads with their count, ``train 250–2000 · test 500–10000 (×8)``."""
    per_split: dict[str, list[Any]] = {}
    for sizes in loads:
        if isinstance(sizes, dict):
            for name, size in sizes.items():
                per_split.setdefault(str(name), []).append(size)
    if not per_split:
        return _EMPTY
    text = " · ".join(f"{t('split.' + name, lang)} {_size_range(sizes)}" for name, sizes in per_split.items())
    return f"{text} (×{len(loads)})" if len(loads) > 1 else text


def _datasets(prov: dict, lang: str) -> list[tuple[str, ...]]:
    """One row per dataset file set: the loads of the same dataset from the same source, with the same
    checksum and path, are merged (a lab loads MNIST at several sizes: one row, each split's range of
    sizes and the number of loads)."""
    merged: dict[tuple, list[Any]] = {}
    for info in prov.get("datasets") or []:
        key = (
            _text(info.get("title") or info.get("name")),
            _text(t(f"source.{info['source']}", lang) if info.get("source") else None),
            _text(t(f"checksum.{info['checksum']}", lang) if info.get("checksum") else None),
            _cell(info.get("path")),
        )
        merged.setdefault(key, []).append(info.get("sizes"))
    return [(name, _text(_splits(loads, lang)), source, checksum, path)
            for (name, source, checksum, path), loads in merged.items()]


def _threads(policy: Any) -> str | None:
    """``labkit.threads.describe()`` as one line: ``2 of 2 cores (auto, OMP_WAIT_POLICY default)``."""
    if isinstance(policy, int):  # reports of older runs recorded only the count
        return str(policy)
    if not isinstance(policy, dict) or "threads" not in policy:
        return None
    return (f"{policy['threads']} / {policy.get('cores', '?')} ({policy.get('mode', '?')}, "
            f"OMP_WAIT_POLICY {policy.get('wait_policy', 'default')})")


def section_markdown(prov: dict, lang: str = "en") -> str:
    """The "Environment and provenance" section of a report, as markdown.

    ``prov`` is the dict :func:`labkit.report.pipeline.render` builds and stores in
    ``metrics.json["provenance"]``: ``environment`` (see :func:`environment`),
    ``notebook``, ``device``, ``profile``, ``seed``, ``started``,
    ``wall_seconds``, ``parameters`` (name -> value), ``overridden`` (names),
    ``settings`` (the values the notebook resolved from its profile)
    and ``datasets`` (the dataset infos the notebook emitted; the loads of one dataset are merged into
    one row). Missing keys show as "—". A long parameter table is printed in two column groups
    side by side (:func:`side_by_side`), its long values in a table of their own after it, so the
    appendix stays short.
    """
    env = prov.get("environment") or {}
    gpus = env.get("gpu")
    cpu = env.get("cpu")
    if cpu and env.get("cpu_count"):
        cpu = f"{cpu} × {env['cpu_count']}"
    version = env.get("labkit")
    if env.get("commit"):
        version = f"{version or _EMPTY} ({env['commit']})"
    items = [
        ("provenance.os", _text(env.get("os"))),
        ("provenance.cpu", _text(cpu)),
        ("provenance.gpu", _text(", ".join(gpus) if gpus else t("provenance.no_gpu", lang))),
        ("provenance.device", _text(prov.get("device"))),
        ("provenance.threads", _text(_threads(prov.get("threads")))),
        ("provenance.python", _text(env.get("python"))),
        ("provenance.torch", _text(env.get("torch"))),
        ("provenance.torchvision", _text(env.get("torchvision"))),
        ("provenance.labkit", _text(version)),
        ("provenance.notebook", _cell(prov.get("notebook"))),
        ("provenance.profile", _cell(prov.get("profile"))),
        ("provenance.seed", _cell(prov.get("seed"))),
        ("provenance.started", _text(prov.get("started"))),
        ("provenance.wall_time", _text(format_seconds(prov.get("wall_seconds")))),
    ]
    parts = [
        f"## {t('provenance.title', lang)}",
        _table((t("provenance.item", lang), t("provenance.value", lang)),
               [(t(key, lang), value) for key, value in items]),
    ]
    parameters = prov.get("parameters") or {}
    overridden = set(prov.get("overridden") or ())
    settings = prov.get("settings") or {}
    parts.append(f"### {t('provenance.parameters', lang)}")
    if parameters:
        rows = []
        for name, value in parameters.items():
            if name in overridden:
                source = "provenance.by_override"
            elif value is None and settings.get(name) is not None:  # left to the profile
                value, source = settings[name], "provenance.by_profile"
            else:
                source = "provenance.by_default"
            rows.append((_cell(name), _cell(value), t(source, lang)))
        header = (t("provenance.parameter", lang), t("provenance.value", lang), t("provenance.set_by", lang))
        if len(rows) > SIDE_BY_SIDE_ROWS:  # the short ones two by two, then the long ones a row each
            short = [row for row in rows if len(row[1]) <= SIDE_BY_SIDE_VALUE]
            parts.append(_table(*side_by_side(header, short, 2)))
            rows = [row for row in rows if len(row[1]) > SIDE_BY_SIDE_VALUE]
        if rows:
            parts.append(_table(header, rows))
    else:
        parts.append(t("provenance.none", lang))
    parts.append(f"### {t('provenance.datasets', lang)}")
    datasets = _datasets(prov, lang)
    if datasets:
        parts.append(_table(
            (t("provenance.dataset", lang), t("provenance.splits", lang), t("provenance.source", lang),
             t("provenance.checksum", lang), t("provenance.path", lang)),
            datasets,
        ))
    else:
        parts.append(t("provenance.none", lang))
    return "\n\n".join(parts) + "\n"
