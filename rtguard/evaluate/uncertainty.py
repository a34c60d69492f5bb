"""How far a quality number carries: a paired bootstrap over the selection split's rows.

Every variant is scored on the *same* resamples (one seed, one index draw per resample),
so the difference between two variants is measured row for row and the noise they share
cancels: a 95% interval of a difference that holds 0 is a tie, whatever the point
estimates say. metrics.json keeps, per variant,

    confidence    {metric: [low, high]}   the metric's 95% percentile interval
    vs_reference  {metric: [low, high]}   the interval of (variant - reference)
    bootstrap     {resamples, seed, <metric>: [value per resample]}  for DECIDING metrics,
                  so the gate can compare any two variants on the same resamples later
"""

from __future__ import annotations

import numpy as np

from rtguard.evaluate.quality import quality_metrics
from rtguard.intervals import DECIDING, interval

RESAMPLES = 1000
METRICS = ("accuracy", "macro_f1", "detection_rate", "false_positive_rate")


def bootstrap(y: np.ndarray, decisions: dict[str, tuple[np.ndarray, np.ndarray]], classes: list[str], benign: int,
              reference: str, seed: int, resamples: int = RESAMPLES) -> dict[str, dict]:
    """{name: {confidence, vs_reference, bootstrap}} for decisions {name: (predicted class, alert)} on rows labelled y."""
    rng = np.random.default_rng(seed)
    replicates = {name: {metric: np.empty(resamples) for metric in METRICS} for name in decisions}
    for r in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        truth = y[rows]
        for name, (predicted, alert) in decisions.items():
            for metric, value in _metrics(truth, predicted[rows], alert[rows], classes, benign).items():
                replicates[name][metric][r] = value
    results = {}
    for name, values in replicates.items():
        results[name] = {
            "confidence": {m: interval(v) for m, v in values.items() if not np.isnan(v).all()},
            "vs_reference": {m: interval(v - replicates[reference][m]) for m, v in values.items() if not np.isnan(v).all()},
            "bootstrap": {"resamples": resamples, "seed": seed, **{m: [round(float(x), 6) for x in values[m]] for m in DECIDING}},
        }
    return results


def _metrics(y: np.ndarray, predicted: np.ndarray, alert: np.ndarray, classes: list[str], benign: int) -> dict[str, float]:
    argmax = quality_metrics(y, predicted, classes, benign)
    attack = y != benign
    return {
        "accuracy": argmax["accuracy"],
        "macro_f1": argmax["macro_f1"],
        "detection_rate": float(alert[attack].mean()) if attack.any() else np.nan,
        "false_positive_rate": float(alert[~attack].mean()) if (~attack).any() else np.nan,
    }
