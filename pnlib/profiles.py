"""Profiles: named parameter sets (``smoke`` / ``cpu`` / ``paper``) resolved into one frozen,
validated config per notebook.

A notebook's ``parameters`` cell holds ``profile`` and optional overrides (``None`` means "take
the profile's value"). The next cell calls ``resolve(Config, PRESETS, profile, **overrides)``.
``PNLIB_PROFILE`` in the environment wins over the notebook's value, so nbval, which cannot
inject parameters, runs the ``smoke`` version.
"""
from __future__ import annotations

import dataclasses
import math
import os

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"
ENV = "PNLIB_PROFILE"


def resolve_profile(profile: str | None = None) -> str:
    """The profile in force: ``$PNLIB_PROFILE``, else ``profile``, else the default (``cpu``)."""
    name = os.environ.get(ENV) or profile or DEFAULT_PROFILE
    if name not in PROFILES:
        source = f"${ENV}" if os.environ.get(ENV) else "profile"
        raise ValueError(f"unknown {source} {name!r}; allowed: {', '.join(PROFILES)}")
    return name


def resolve(cls, presets: dict[str, dict], profile: str | None = None, **overrides):
    """Build ``cls`` (a frozen dataclass that validates itself) from a profile's preset values,
    replaced by every override that is not ``None``."""
    name = resolve_profile(profile)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
    values = {**presets[name], **{k: v for k, v in overrides.items() if v is not None}}
    if "profile" in fields:
        values["profile"] = name
    return cls(**values)


# -- validators the config dataclasses call in __post_init__ ----------------------------------
def check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


def check_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")


def check_positive(name: str, value, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'≥' if allow_zero else '>'} 0; got {value!r}")


def check_fraction(name: str, value) -> None:
    if not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a fraction in (0, 1]; got {value!r}")
