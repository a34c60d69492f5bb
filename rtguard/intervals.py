"""Percentile intervals of bootstrap replicates: torch-free, for the evaluation that draws them and the gate that reads them."""

from __future__ import annotations

import numpy as np

LEVEL = 0.95
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
