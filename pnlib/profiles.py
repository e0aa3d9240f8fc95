"""Profiles: named parameter sets (``smoke`` / ``cpu`` / ``paper``) resolved into one frozen,
validated config per notebook.

A notebook's ``parameters`` cell holds ``profile = None`` and optional overrides (``None`` means
"take the profile's value"). The next cell calls ``resolve(Config, PRESETS, profile, **overrides)``.
Precedence: an explicit ``profile`` (``papermill -p profile paper``, ``make run PROFILE=paper``)
beats ``$PNLIB_PROFILE``, which beats the default ``cpu``. nbval cannot inject parameters, so
``PNLIB_PROFILE=smoke`` is how ``make test`` runs the small version.
"""
from __future__ import annotations

import dataclasses
import math
import os

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"
ENV = "PNLIB_PROFILE"


def resolve_profile(profile: str | None = None) -> tuple[str, str]:
    """The profile in force and where it came from: ``profile`` if given, else ``$PNLIB_PROFILE``,
    else the default (``cpu``)."""
    env = os.environ.get(ENV)
    if profile is not None:
        name, source = profile, "the notebook's profile parameter"
    elif env:
        name, source = env, f"${ENV}"
    else:
        name, source = DEFAULT_PROFILE, "the default"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from {source}); allowed: {', '.join(PROFILES)}")
    return name, source


def resolve(cls, presets: dict[str, dict], profile: str | None = None, **overrides):
    """Build ``cls`` (a frozen dataclass that validates itself) from a profile's preset values,
    replaced by every override that is not ``None``."""
    name, source = resolve_profile(profile)
    print(f"profile {name} (from {source})")
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
