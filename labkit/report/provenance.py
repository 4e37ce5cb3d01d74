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

from labkit.i18n import dataset_title, t
from labkit.records import format_duration, format_number

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
    """NVIDIA GPUs of this machine as the driver lists them (``/proc/driver/nvidia/gpus/*/information``),
    without importing torch (2 s in the report's own process, which trains nothing)."""
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "Model" and value.strip():
                    names.append(value.strip())
        except OSError:
            continue
    return names


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
    """The commit of the labkit checkout (``...-dirty`` with uncommitted changes to its tracked files,
    as ``git describe --dirty`` counts them: a student's ``student.yaml`` or a report folder beside the
    kit is not a change to the kit).

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
    status = _git(folder, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    return f"{commit}-dirty" if status else commit


def environment(gpus: list[str] | None = None) -> dict[str, Any]:
    """The machine and software this process runs on, as a plain JSON-able dict.

    Keys: ``os``, ``cpu``, ``cpu_count``, ``gpu`` (the CUDA device names ``gpus`` that the notebook's
    kernel saw, as :func:`labkit.start` records them; without them, the NVIDIA driver's list; empty
    without a GPU), ``python``, ``torch``, ``torchvision``, ``labkit``, ``commit`` (see
    :func:`git_commit`). Missing packages give None.
    """
    return {
        "os": _os_name(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": list(gpus) if gpus is not None else _gpus(),
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


def _duration(seconds: float | None, lang: str | None = None) -> str:
    """The wall time as :func:`labkit.records.format_duration` writes it in ``lang`` (``83.2`` ->
    ``"1 min 23 s"`` / ``"1 分 23 秒"``); None, or a time a clock set back made negative, -> ``"—"``."""
    if seconds is None or not float(seconds) >= 0:
        return _EMPTY
    return format_duration(seconds, lang)


def _count(size: Any) -> str:
    """``8000`` -> ``"8,000"``; anything not a whole number as written."""
    return f"{size:,}" if isinstance(size, int) and not isinstance(size, bool) else str(size)


def _sizes(records: list[Any], lang: str, kind: str = "loads") -> str:
    """The split sizes of one or more loads (or uses) of a dataset, said plainly: one load
    ``train 1,000, test 500``; the same sizes several times ``train 1,000, test 500 (loaded 2 times)``;
    different sizes ``2 loads: train 1,000 and 2,000, test 500`` (each split's distinct sizes, in
    order; more than three as their range ``250–2,000``). ``kind="uses"`` says "splits" / "used" instead (:func:`_splits`)."""
    per_split: dict[str, list[Any]] = {}
    for sizes in records:
        if isinstance(sizes, dict):
            for name, size in sizes.items():
                per_split.setdefault(str(name), []).append(size)
    if not per_split:
        return _EMPTY
    def said(name: str, sizes: list[Any]) -> str:
        distinct = list(dict.fromkeys(sizes))
        if all(isinstance(size, (int, float)) for size in distinct):
            distinct.sort()
        if len(distinct) > 3:  # many sizes (a sweep over the training-set size): their range
            counts = f"{_count(distinct[0])}–{_count(distinct[-1])}"
        else:
            counts = _count(distinct[-1]) if len(distinct) == 1 else (
                t("provenance.list", lang).join(map(_count, distinct[:-1])) + t("provenance.and", lang)
                + _count(distinct[-1]))
        return t("provenance.pairs", lang, n=counts) if name == "pairs" else f"{t('split.' + name, lang)} {counts}"

    text = t("provenance.sep", lang).join(said(name, sizes) for name, sizes in per_split.items())
    if len(records) == 1:
        return text
    if all(len(set(map(str, sizes))) == 1 for sizes in per_split.values()):
        return t(f"provenance.{kind}_same", lang, sizes=text, n=len(records))
    return t(f"provenance.{kind}", lang, n=len(records), sizes=text)


def _splits(loads: list[Any], lang: str, uses: list[Any] | None = None) -> str:
    """A dataset row's "split sizes": what was loaded, and, when the notebook recorded the splits it
    made of it (:func:`labkit.data.text.record_use`), what was used: ``sentence pairs 8,000 read;
    used: train 300, test 63``."""
    loaded = _sizes(loads, lang)
    if not uses:
        return loaded
    return t("provenance.read_used", lang, read=loaded, used=_sizes(uses, lang, "uses"))


def _datasets(prov: dict, lang: str) -> list[tuple[str, ...]]:
    """One row per dataset file set: the loads of the same dataset from the same source, with the same
    checksum and path, are merged (a lab loads MNIST at several sizes: one row that says so), with the
    splits the notebook recorded of it (``use``); names in the report's language."""
    merged: dict[tuple, tuple[list, list]] = {}
    for info in prov.get("datasets") or []:
        key = (
            _text(dataset_title(info, lang) or None),
            _text(t(f"source.{info['source']}", lang) if info.get("source") else None),
            _text(t(f"checksum.{info['checksum']}", lang) if info.get("checksum") else None),
            _cell(info.get("path")),
        )
        loads, uses = merged.setdefault(key, ([], []))
        (uses if "use" in info else loads).append(info.get("use", info.get("sizes")))
    return [(name, _text(_splits(loads, lang, uses)), source, checksum, path)
            for (name, source, checksum, path), (loads, uses) in merged.items()]


def _threads(policy: Any, lang: str = "en") -> str | None:
    """``labkit.threads.describe()`` as one line: ``2 of 2 cores (policy auto, OMP_WAIT_POLICY default)``,
    ``2 个核心中使用 2 个（策略：自动；OMP_WAIT_POLICY：默认）``."""
    if isinstance(policy, int):  # reports of older runs recorded only the count
        return str(policy)
    if not isinstance(policy, dict) or "threads" not in policy:
        return None
    mode, wait = str(policy.get("mode", "?")), str(policy.get("wait_policy", "default"))
    return t("provenance.threads_line", lang, threads=policy["threads"], cores=policy.get("cores", "?"),
             mode=t(f"threads.{mode}", lang), wait=t(f"threads.{wait}", lang) if wait == "default" else wait)


def _device(device: Any) -> Any:
    """The device line: ``"CPU (cpu)"`` -> ``"CPU"`` (the name says it all); ``"NVIDIA H200 (cuda)"``
    kept."""
    if isinstance(device, str):
        name, _, kind = device.rpartition(" (")
        if name and kind.rstrip(")").lower() == name.lower():
            return name
    return device


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
        ("provenance.device", _text(_device(prov.get("device")))),
        ("provenance.threads", _text(_threads(prov.get("threads"), lang))),
        ("provenance.python", _text(env.get("python"))),
        ("provenance.torch", _text(env.get("torch"))),
        ("provenance.torchvision", _text(env.get("torchvision"))),
        ("provenance.labkit", _text(version)),
        ("provenance.notebook", _cell(prov.get("notebook"))),
        ("provenance.profile", _cell(prov.get("profile"))),
        ("provenance.seed", _cell(prov.get("seed"))),
        ("provenance.started", _text(prov.get("started"))),
        ("provenance.wall_time", _text(_duration(prov.get("wall_seconds"), lang))),
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
