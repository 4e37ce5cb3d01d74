"""Starting a lab: resolve the profile, check the settings, seed, choose the device, set the language.

Every lab notebook's second cell is one call to :func:`start`::

    cfg = labkit.start("vae", PROFILES)

It reads the parameters from the notebook's own annotated ``parameters``
cell (the caller's top-level names and their annotations: a parameter is
declared once, there), resolves every parameter left at None from
``PROFILES[profile]``, checks every value against its annotation (type,
``Literal`` choices, ``Annotated`` bounds: see :mod:`labkit.report.params`)
and returns a typed, read-only :class:`Config`.
"""
from __future__ import annotations

import dataclasses
import platform
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from labkit import __version__, threads
from labkit.device import device_name, pick_device, seed_everything
from labkit.i18n import set_language, t
from labkit.records import RUN_MIME, emit, plain_scalar
from labkit.report.params import ParameterError, ParameterSpec, annotation_source, coerce, make_parameter

#: The parameters every lab has; :func:`start` reads them from the notebook, with these defaults.
RUN_PARAMETERS = {"profile": None, "seed": 0, "lang": "en", "device": "auto"}


@dataclasses.dataclass(frozen=True)
class Config:
    """The resolved settings of a run, read-only: ``cfg.epochs`` (or ``cfg["epochs"]``).

    A dataclass made for each lab by :func:`start`, one typed field per
    parameter after ``lab``, ``profile``, ``seed``, ``lang`` and ``device``
    (a :class:`torch.device`). It has no public methods, so a parameter called
    ``items`` or ``copy`` is simply a field. ``"name" in cfg``, ``list(cfg)``
    (the names) and ``cfg["name"]`` work; :func:`as_dict` gives a dict, and
    :func:`dataclasses.replace` a changed copy.
    """

    lab: str
    profile: str | None
    seed: int
    lang: str
    device: torch.device

    def __getitem__(self, name: str) -> Any:
        if name not in self.__dataclass_fields__:
            raise KeyError(f"no setting {name!r}; settings: {', '.join(self)}")
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in self.__dataclass_fields__

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def __reduce__(self):  # the class is made at run time: pickle the values, rebuild a class like it
        return _rebuild, (type(self).__name__, as_dict(self))


def _rebuild(name: str, values: dict[str, Any]) -> "Config":
    extra = [(key, Any) for key in values if key not in Config.__dataclass_fields__]
    return dataclasses.make_dataclass(name, extra, bases=(Config,), frozen=True)(**values)


def as_dict(cfg: Config) -> dict[str, Any]:
    """The settings of ``cfg`` as a plain dict (name -> value), in declaration order."""
    return {name: getattr(cfg, name) for name in cfg}


class ConfigError(ParameterError):
    """PROFILES and the parameters cell disagree, or a resolved value is invalid."""


def declared_parameters(namespace: Mapping[str, Any], lab: str = "notebook") -> ParameterSpec:
    """The parameters a notebook declared: its annotated top-level names, with their current values.

    ``namespace`` is the notebook's globals (in a kernel, IPython keeps the
    annotations of top-level assignments in ``__annotations__``). Names that
    start with ``_`` are skipped.
    """
    spec = ParameterSpec(Path(f"{lab}.ipynb"))
    for name, annotation in dict(namespace.get("__annotations__", {})).items():
        if name.startswith("_") or name not in namespace:
            continue
        param = make_parameter(name, annotation_source(annotation), namespace[name], where=f"{lab}.ipynb")
        spec.parameters[name] = param
    return spec


def resolve(profile: str, profiles: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any],
            spec: ParameterSpec | None = None) -> dict[str, Any]:
    """The profile's settings, overridden by every parameter that is not None.

    A parameter left at None takes the profile's value; the profile must
    define it. Keys only the profile defines are kept too. With ``spec``
    every profile key must be a declared parameter, and every resolved value
    is checked against its declaration (raises :class:`ConfigError` naming
    the parameter, the profile and what is valid).
    """
    if profile not in profiles:
        raise ConfigError(f"profile {profile!r} is not defined; choose one of: {', '.join(profiles)}")
    if spec is not None:
        for name, values in profiles.items():
            unknown = [key for key in values if key not in spec.parameters]
            if unknown:
                raise ConfigError(
                    f"PROFILES[{name!r}] sets {', '.join(map(repr, unknown))}, which the parameters cell does not "
                    f"declare; declare it there (annotated, default None) or remove it from the profile")
    profile_values = profiles[profile]
    chosen: dict[str, Any] = {}
    for name, value in params.items():
        if value is not None:
            chosen[name] = value
        elif name in profile_values:
            chosen[name] = profile_values[name]
        elif spec is not None and name in spec.parameters:
            chosen[name] = None  # declared Optional and left None: None it is
        else:
            raise ConfigError(f"parameter {name!r} is None and profile {profile!r} gives it no value; "
                              f"set it, or add it to the profile")
    for name, value in profile_values.items():
        chosen.setdefault(name, value)
    if spec is not None:
        for name, value in chosen.items():
            if name not in spec.parameters:  # the keyword form may pass names the cell does not declare
                continue
            source = "" if params.get(name) is not None else f" (from PROFILES[{profile!r}])"
            try:
                chosen[name] = coerce(spec.parameters[name], value)
            except ParameterError as exc:
                raise ConfigError(f"{exc}{source}") from None
    return chosen


def _caller_globals() -> dict[str, Any]:
    frame = sys._getframe(2)
    return frame.f_globals


def start(lab: str, profiles: Mapping[str, Mapping[str, Any]] | None = None, *,
          namespace: Mapping[str, Any] | None = None, **explicit: Any) -> Config:
    """Begin a lab run and return its settings as a read-only :class:`Config`.

    ``start("vae", PROFILES)`` reads every annotated parameter from
    ``namespace`` (default: the caller's globals, i.e. the notebook's), among
    them ``profile``, ``seed``, ``lang`` and ``device``. Every ``PROFILES`` key
    must be a declared parameter; a parameter left at None takes
    ``PROFILES[profile]``'s value; every value is checked against its
    annotation (type, choices, bounds). Then seeds every generator with
    ``seed``, picks ``device`` (``auto``: CUDA, MPS, then CPU), sets the report
    language, sets up matplotlib (CJK fonts), shows a one-line banner and
    records the run's settings for the report's provenance section.

    The older keyword form ``start(lab, profile=..., profiles=..., seed=...,
    lang=..., device=..., **params)`` still works: keyword values win over
    the namespace's. Raises :class:`ConfigError` (a ``ValueError``) before
    anything else happens when the profiles and parameters disagree.
    """
    if profiles is None:
        profiles = explicit.pop("profiles", None)
    namespace = _caller_globals() if namespace is None else namespace
    spec = declared_parameters(namespace, lab)
    params = {name: p.default for name, p in spec.parameters.items()}
    params.update(explicit)
    run = {name: params.pop(name, default) for name, default in RUN_PARAMETERS.items()}
    if run["profile"] is None:
        choices = ", ".join(map(repr, profiles or {"quick": None}))
        raise ConfigError(f"{lab}: no profile is set; declare `profile: Literal[{choices}] = ...` in the parameters cell")
    reserved = [name for name in params if name in Config.__dataclass_fields__]
    if reserved:
        raise ConfigError(f"{lab}: parameter {reserved[0]!r} clashes with a setting start() makes; rename it")
    for name in RUN_PARAMETERS:
        if name in spec.parameters and run[name] is not None:
            try:
                run[name] = coerce(spec.parameters[name], run[name])
            except ParameterError as exc:
                raise ConfigError(str(exc)) from None
    profile, seed, lang, device = run["profile"], run["seed"], run["lang"], run["device"]
    if profiles is None:
        profiles = {profile: {}}
    settings = resolve(profile, profiles, params, spec if spec.parameters else None)

    set_language(lang)
    seed_everything(seed)
    threads.adapt(force=True)
    chosen = pick_device(device)
    from labkit.plots import setup_matplotlib
    setup_matplotlib()
    cfg = _config_class(lab, spec, settings)(lab=lab, profile=profile, seed=seed, lang=lang, device=chosen,
                                             **settings)
    payload = {
        "lab": lab, "profile": profile, "seed": seed, "lang": lang, "device": str(chosen),
        "device_name": device_name(chosen), "settings": {k: _plain(v) for k, v in settings.items()},
        "torch": torch.__version__, "python": platform.python_version(), "labkit": __version__,
        "threads": threads.describe(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available() else [],
    }
    banner = t("run.banner", version=__version__, lab=lab, profile=profile, seed=seed, device=device_name(chosen))
    emit(RUN_MIME, payload, banner)
    return cfg


_PY_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


def _config_class(lab: str, spec: ParameterSpec, settings: Mapping[str, Any]) -> type[Config]:
    fields = []
    for name in settings:
        param = spec.parameters.get(name)
        kind: Any = _PY_TYPES.get(param.type, Any) if param is not None else Any
        if param is not None and (param.optional or param.kind.words) and kind is not Any:
            kind = Any if param.kind.words else kind | None
        fields.append((name, kind))
    title = "".join(part.capitalize() for part in lab.replace("-", "_").split("_") if part) or "Lab"
    return dataclasses.make_dataclass(f"{title}Config", fields, bases=(Config,), frozen=True)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    value = plain_scalar(value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
