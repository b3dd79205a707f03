"""Argument checks that raise ``ValueError`` naming the parameter and its allowed range."""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real

import numpy as np


def check_int(name: str, value, lo: int, hi: int) -> int:
    """Return ``value`` as int if it is an integer in [lo, hi], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


def check_float(name: str, value, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """Return ``value`` as float if finite and in [lo, hi] (or (lo, hi] with lo_open)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number in {_interval(lo, hi, lo_open)}, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        raise ValueError(f"{name} must be in {_interval(lo, hi, lo_open)}, got {value}")
    return value


def check_choice(name: str, value, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _interval(lo: float, hi: float, lo_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo}, {hi}]"


def as_float_array(name: str, value) -> np.ndarray:
    """``value`` (a number or an array-like of numbers) as a float ndarray; ValueError naming ``name`` otherwise."""
    if isinstance(value, str | bytes):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from None
