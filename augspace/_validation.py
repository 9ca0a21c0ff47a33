"""Argument checks shared by the transforms.

Every check raises ``TypeError`` for a value of the wrong type (a bool counts as the wrong type wherever a number is
meant) and ``ValueError`` for a value out of range. Each message names the owner, the argument, what was expected
and the ``repr`` of what was given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import torch
from torchvision.transforms.v2 import InterpolationMode

#: The string fills accepted by the erasing transforms.
FILL_MODES = ("normal", "uniform", "mean")


def is_real(value: Any) -> bool:
    """Return whether ``value`` is a real number that is not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)


def check_real(owner: str, name: str, value: Any) -> float:
    """Return ``value`` as a finite float, or raise naming ``owner`` and ``name``."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    return float(value)


def check_probability(owner: str, name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1], or raise naming ``owner`` and ``name``."""
    value = check_real(owner, name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1], got {value!r}")
    return value


def check_int(owner: str, name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` as an int of at least ``minimum``, or raise naming ``owner`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value!r}")
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool, or raise naming ``owner`` and ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {value!r}")
    return value


def check_range(
    owner: str, name: str, value: Any, *, lower: float, upper: float, open_lower: bool = False
) -> tuple[float, float]:
    """Return ``value`` as an ordered pair ``(low, high)`` inside the given bounds.

    ``lower`` is excluded when ``open_lower`` is set. A reversed pair raises rather than being swapped, because a
    reversed range is almost always a typo.
    """
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"{owner}: {name} must be a pair (low, high) of numbers, got {value!r}")
    low = check_real(owner, f"{name}[0]", value[0])
    high = check_real(owner, f"{name}[1]", value[1])
    if low > high:
        raise ValueError(f"{owner}: {name} must satisfy low <= high, got {value!r}")
    below = low <= lower if open_lower else low < lower
    if below or high > upper:
        bracket = "(" if open_lower else "["
        raise ValueError(f"{owner}: {name} must lie in {bracket}{lower}, {upper}], got {value!r}")
    return low, high


def check_size(owner: str, name: str, value: Any) -> tuple[int | float, int | float]:
    """Return a hole size as a pair ``(height, width)``.

    Each side is an int of at least 1 (pixels or cells) or a float in (0, 1] (a fraction of the shorter side). The
    type decides the meaning, never the magnitude: ``1`` is one pixel and ``1.0`` the whole shorter side.
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise TypeError(f"{owner}: {name} must be a number or a pair (height, width), got {value!r}")
        sides = tuple(value)
    else:
        sides = (value, value)
    for side in sides:
        if isinstance(side, bool) or not isinstance(side, (int, float)):
            raise TypeError(f"{owner}: {name} must contain ints (pixels) or floats (fractions), got {value!r}")
        if isinstance(side, int) and side < 1:
            raise ValueError(f"{owner}: {name} in pixels must be at least 1, got {value!r}")
        if isinstance(side, float) and not 0.0 < side <= 1.0:
            raise ValueError(f"{owner}: {name} as a fraction of the shorter side must be in (0, 1], got {value!r}")
    return sides[0], sides[1]


def check_fill(owner: str, value: Any) -> float | tuple[float, ...] | str:
    """Return a fill as a float, a tuple of per-channel floats, or one of :data:`FILL_MODES`."""
    if isinstance(value, str):
        if value not in FILL_MODES:
            raise ValueError(
                f"{owner}: fill must be a number, a sequence of numbers or one of {FILL_MODES}, got {value!r}"
            )
        return value
    if is_real(value):
        return check_real(owner, "fill", value)
    if isinstance(value, Sequence) and len(value) > 0 and all(is_real(item) for item in value):
        return tuple(check_real(owner, "fill", item) for item in value)
    raise TypeError(
        f"{owner}: fill must be a number, a non-empty sequence of numbers or one of {FILL_MODES}, got {value!r}"
    )


def check_generator(owner: str, value: Any) -> torch.Generator | None:
    """Return ``value`` if it is ``None`` or a ``torch.Generator``."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{owner}: generator must be a torch.Generator or None, got {value!r}")
    return value


def check_number_fill(owner: str, value: Any) -> float | tuple[float, ...]:
    """Return a numeric fill as a float or a tuple of per-channel floats."""
    if is_real(value):
        return check_real(owner, "fill", value)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0:
        if all(is_real(item) for item in value):
            return tuple(check_real(owner, "fill", item) for item in value)
    raise TypeError(f"{owner}: fill must be a number or a non-empty sequence of numbers, got {value!r}")


def check_interpolation(owner: str, value: Any, allowed: tuple[InterpolationMode, ...]) -> InterpolationMode:
    """Return ``value``, an ``InterpolationMode`` or its string value, as one of the ``allowed`` modes."""
    if isinstance(value, InterpolationMode):
        mode = value
    elif isinstance(value, str):
        mode = next((candidate for candidate in InterpolationMode if candidate.value == value), None)
    else:
        raise TypeError(f"{owner}: interpolation must be an InterpolationMode or its string value, got {value!r}")
    if mode not in allowed:
        names = ", ".join(repr(candidate.value) for candidate in allowed)
        raise ValueError(f"{owner}: interpolation must be one of {names}, got {value!r}")
    return mode
