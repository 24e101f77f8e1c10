"""Timing and summary statistics shared by every measurement."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Slope of log(y) against log(x): 1.0 is linear scaling, below 1 sub-linear."""
    if len(xs) < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(np.asarray(xs, dtype=float)), np.log(np.asarray(ys, dtype=float)), 1)
    return float(slope)
