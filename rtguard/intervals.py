"""Intervals for the numbers that decide: bootstrap percentiles and proportions of sampled flows.

Torch-free, for the evaluation that draws them and the gate that reads them.
"""

from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95
Z = 1.959964  # the standard normal's 97.5th percentile: two-sided 95%
DECIDING = ("macro_f1", "detection_rate")  # the quality metrics whose replicates metrics.json keeps, for comparing any two variants


def interval(values: np.ndarray) -> list[float] | None:
    """The central 95% percentile interval, ignoring resamples where the metric was undefined (NaN)."""
    finite = values[~np.isnan(values)]
    if not len(finite):
        return None
    tail = (1 - LEVEL) / 2 * 100
    return [float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))]


def difference_interval(mine: list[float], theirs: list[float]) -> list[float] | None:
    """The 95% interval of (mine - theirs) from two variants' replicates drawn on the same resamples."""
    return interval(np.asarray(mine, dtype=float) - np.asarray(theirs, dtype=float))


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion: sound at 0 of 40, where the normal approximation collapses to a point."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """The 95% interval of k1/n1 - k2/n2 from two independent samples (Newcombe's hybrid score method, from Wilson's)."""
    p1, p2 = k1 / n1, k2 / n2
    (low1, high1), (low2, high2) = wilson(k1, n1), wilson(k2, n2)
    return (p1 - p2 - math.hypot(p1 - low1, high2 - p2), p1 - p2 + math.hypot(high1 - p1, p2 - low2))
