"""Validation of every parameter, for configs, loaders and notebooks alike, in one message style:
``<name> must be <what>; got <value>`` and ``unknown <name> <value>; allowed: <names>``.

A boolean is never accepted where a number is expected (``True`` is an ``int`` to Python).
"""

from __future__ import annotations

import math
from numbers import Integral, Real


def choice(name: str, value, allowed) -> None:
    if isinstance(value, bool) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


def integer(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")


def number(
    name: str, value, *, minimum: float = 0.0, inclusive: bool = False, below: float | None = None
) -> None:
    """A finite real number > ``minimum`` (≥ with ``inclusive``), and < ``below`` if given."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= minimum if inclusive else value > minimum) and (below is None or value < below)
    if not ok:
        bound = f"{'≥' if inclusive else '>'} {minimum:g}" + (
            f" and < {below:g}" if below is not None else ""
        )
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")


def boolean(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False; got {value!r}")


def string(name: str, value) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")


def optional(check, name: str, value, *args, **kwargs) -> None:
    """``check`` unless ``value`` is None."""
    if value is not None:
        check(name, value, *args, **kwargs)


def as_tuple(name: str, value, item=str) -> tuple:
    """A list parameter as a tuple. Accepts a list or tuple (``papermill -y "models: [a, b]"``) and
    a comma-separated string (``papermill -p models a,b``); items are converted with ``item`` (a type,
    or a function that converts or raises ``ValueError``)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.strip("[]()").split(",")]
        value = [p.strip("'\"") for p in parts if p]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(
            f'{name} must be a non-empty list, e.g. -p {name} a,b or -y "{name}: [a, b]"; got {value!r}'
        )
    if any(isinstance(v, bool) for v in value):
        raise ValueError(
            f'{name} must be a list of {item.__name__}, e.g. -p {name} a,b or -y "{name}: [a, b]"; '
            f"got {value!r}"
        )
    try:
        return tuple(v if isinstance(item, type) and isinstance(v, item) else item(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a list of {item.__name__}, e.g. -p {name} a,b or "
            f'-y "{name}: [a, b]"; got {value!r}'
        ) from None
