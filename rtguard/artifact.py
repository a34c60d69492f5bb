"""The artifact contract: what an rtguard model file takes, gives and decides, in one torch-free place.

Every artifact takes `features` (raw flow rows, float32 [batch, features]) and gives
`probabilities` (float32 [batch, classes]). Beside them it gives its decision:

    attack_score [batch]  1 - P(benign) for a classifier; an anomaly detector gives `anomaly_score`
    alert        [batch]  the score at or above the artifact's own threshold (bool)

The threshold is calibrated on the selection split when the variant is built (the
operating point) and stored twice in the graph: as the constant the `alert` node compares
with, and in the model metadata under ALERT_THRESHOLD_KEY on the attack-probability scale,
so code that reads only `probabilities` (the /score route, `rtguard score`, other
backends) alerts on exactly the flows the graph's `alert` output flags.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from rtguard.errors import RtguardError

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
ATTACK_SCORE = "attack_score"
ANOMALY_SCORE = "anomaly_score"
ALERT = "alert"
# Outputs an artifact may give beside the probabilities, copied into a scored flow's line when present.
SCORE_OUTPUTS = (ATTACK_SCORE, ANOMALY_SCORE)
ALERT_THRESHOLD_KEY = "rtguard.alert_threshold"
THRESHOLD = "anomaly_threshold"  # the constant an anomaly artifact's `alert` node compares its score with


def attack_scores(probabilities: np.ndarray, benign_index: int) -> np.ndarray:
    """1 - P(benign) in float32, computed as the graph's `attack_score` node computes it."""
    return np.float32(1.0) - np.asarray(probabilities, dtype=np.float32)[:, benign_index]


def alerts(probabilities: np.ndarray, benign_index: int, threshold: float) -> np.ndarray:
    """The artifact's decision from its probabilities: attack score >= threshold."""
    return attack_scores(probabilities, benign_index) >= np.float32(threshold)


def point_threshold(benign_scores: np.ndarray, attack_flow_scores: np.ndarray, mode: str, target: float) -> float:
    """The threshold of an operating point, from selection-split scores; a split that cannot define it is an error."""
    try:
        if mode == "target_fpr":
            return calibrate_threshold(benign_scores, target)
        return threshold_for_detection(attack_flow_scores, target)
    except RtguardError as exc:
        raise RtguardError(f"cannot set the operating point ({mode} {target:g}) on the selection split: {exc}") from None


def calibrate_threshold(benign_scores: np.ndarray, target_fpr: float) -> float:
    """The smallest float32 threshold at which at most `target_fpr` of these benign flows alert (score >= threshold).

    Just above the (k+1)-th highest score, k = floor(target_fpr * n): exactly the k highest alert
    (fewer on ties), so the calibration split's FPR never exceeds the target.
    """
    if len(benign_scores) == 0:
        raise RtguardError("no benign flows to calibrate the alert threshold on")
    return threshold_allowing(benign_scores, int(np.floor(target_fpr * len(benign_scores))))


def threshold_for_detection(attack_flow_scores: np.ndarray, min_detection_rate: float) -> float:
    """The largest float32 threshold at which at least `min_detection_rate` of these attack flows alert."""
    if len(attack_flow_scores) == 0:
        raise RtguardError("no attack flows to calibrate the alert threshold on")
    ordered = np.sort(np.asarray(attack_flow_scores, dtype=np.float32))[::-1]
    needed = max(int(np.ceil(min_detection_rate * len(ordered))), 1)
    return float(ordered[needed - 1])


def threshold_allowing(scores: np.ndarray, alerts: int) -> float:
    """The smallest float32 threshold at which at most `alerts` of `scores` reach it (inf when there are none)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float32))[::-1]
    if alerts >= len(ordered):
        return float(np.nextafter(ordered[-1], np.float32(-np.inf))) if len(ordered) else float("-inf")
    return float(np.nextafter(ordered[max(alerts, 0)], np.float32(np.inf)))


def graph_threshold(path: Path) -> float:
    """The threshold constant inside an anomaly artifact."""
    for tensor in onnx.load(str(path)).graph.initializer:
        if tensor.name == THRESHOLD:
            return float(numpy_helper.to_array(tensor))
    raise RtguardError(f"{path} holds no {THRESHOLD!r}: it is not an anomaly artifact built by rtguard")
