"""Starting a lab: resolve the profile, seed, choose the device, set the language.

Every lab notebook's second cell is one call to :func:`start`.
"""
from __future__ import annotations

import platform
from typing import Any, Mapping

import torch

from labkit import __version__
from labkit.device import device_name, pick_device, seed_everything
from labkit.i18n import set_language, t
from labkit.records import RUN_MIME, emit


class Config(dict):
    """The resolved settings of a run; read them as attributes (``cfg.epochs``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}; settings: {', '.join(self)}") from None


def resolve(profile: str, profiles: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's settings, overridden by every parameter that is not None.

    A parameter left at None takes the profile's value; the profile must
    define it. Keys only the profile defines are kept too.
    """
    if profile not in profiles:
        raise ValueError(f"profile {profile!r} is not defined; choose one of: {', '.join(profiles)}")
    chosen = dict(profiles[profile])
    for name, value in params.items():
        if value is not None:
            chosen[name] = value
        elif name not in chosen:
            raise ValueError(f"parameter {name!r} is None and profile {profile!r} gives it no value; "
                             f"set it, or add it to the profile")
    return chosen


def start(lab: str, *, profile: str, profiles: Mapping[str, Mapping[str, Any]], seed: int = 0,
          lang: str = "en", device: str = "auto", **params: Any) -> Config:
    """Begin a lab run and return its settings.

    Resolves ``params`` against ``profiles[profile]`` (None means "the
    profile's value"), seeds every generator with ``seed``, picks ``device``
    (``auto``: CUDA, MPS, then CPU), sets the report language, sets up
    matplotlib (CJK fonts), shows a one-line banner and records the run's
    settings for the report's provenance section.
    """
    set_language(lang)
    settings = resolve(profile, profiles, params)
    seed_everything(seed)
    chosen = pick_device(device)
    from labkit.plots import setup_matplotlib
    setup_matplotlib()
    cfg = Config(lab=lab, profile=profile, seed=seed, lang=lang, device=chosen, **settings)
    payload = {
        "lab": lab, "profile": profile, "seed": seed, "lang": lang, "device": str(chosen),
        "device_name": device_name(chosen), "settings": {k: _plain(v) for k, v in settings.items()},
        "torch": torch.__version__, "python": platform.python_version(), "labkit": __version__,
        "threads": torch.get_num_threads(),
    }
    banner = t("run.banner", version=__version__, lab=lab, profile=profile, seed=seed, device=device_name(chosen))
    emit(RUN_MIME, payload, banner)
    return cfg


def _plain(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
