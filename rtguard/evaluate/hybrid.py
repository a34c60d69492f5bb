"""Hybrid detector: a classifier and an anomaly detector side by side, alerting when either fires.

Both are the runs' own artifacts, scored on the same test flows (the two runs must have
been prepared from the same data). Every decision is held to the same false-positive
budget on the benign validation flows: the classifier alone and the detector alone each
get all of it; the hybrid gives `classifier_share` of it to the classifier (a threshold
on its attack probability) and the rest to the detector, whose threshold is set on the
benign flows the classifier left unflagged, so the union spends exactly the budget.
What matters is the attack types the training data never held: how many each catches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtguard.artifact import ANOMALY_SCORE, calibrate_threshold, threshold_allowing
from rtguard.config import RuntimeConfig
from rtguard.data.anomaly import AttackLabels, anomaly_labels_path
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.evaluate.anomaly import detection_by_label
from rtguard.runfolder import RunFolder
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME, create_session

DETECTORS = ("classifier", "anomaly", "hybrid")
CAUGHT = 0.5  # a type is caught when at least this share of its test flows alert


def hybrid_runs(classifier_run: Path, anomaly_run: Path, target_fpr: float = 0.01, classifier_share: float = 0.5,
                classifier_variant: str = "onnx-fp32", anomaly_variant: str = "onnx-fp32") -> dict:
    """Score both runs' artifacts on the shared validation and test flows and compare the three detectors."""
    classify, anomaly = RunFolder(classifier_run), RunFolder(anomaly_run)
    if classify.load_config().task.kind != "classify" or anomaly.load_config().task.kind != "anomaly":
        raise RtguardError(f"{classifier_run} must be a classify run and {anomaly_run} an anomaly run ([task] kind)")
    splits, shared = Splits.load(classify.splits), Splits.load(anomaly.splits)
    if not (np.array_equal(splits.x_val, shared.x_val) and np.array_equal(splits.x_test, shared.x_test)):
        raise RtguardError(f"{classifier_run} and {anomaly_run} were prepared from different data (their validation or test "
                           "flows differ): build both from the same [data] settings")
    schema = FeatureSchema.load(classify.schema)
    labels = AttackLabels.load(anomaly.require(anomaly_labels_path(anomaly), "rebuild the anomaly run's data stage"))
    attack_probability = _classifier(classify.variant(classifier_variant) / "model.onnx", schema.benign_index)
    anomaly_score = _detector(anomaly.variant(anomaly_variant) / "model.onnx")
    benign_val = splits.y_val == schema.benign_index
    return compare(
        {"classifier": attack_probability(splits.x_val), "anomaly": anomaly_score(splits.x_val)}, benign_val,
        {"classifier": attack_probability(splits.x_test), "anomaly": anomaly_score(splits.x_test)}, shared.y_test, labels,
        target_fpr, classifier_share,
    ) | {"classifier_run": str(classifier_run), "anomaly_run": str(anomaly_run),
         "classifier_variant": classifier_variant, "anomaly_variant": anomaly_variant}


def compare(val: dict[str, np.ndarray], benign_val: np.ndarray, test: dict[str, np.ndarray], y_test: np.ndarray,
            labels: AttackLabels, target_fpr: float, classifier_share: float) -> dict:
    """Thresholds on the benign validation scores; detection overall and per type on the test scores."""
    if not 0 <= classifier_share <= 1:
        raise RtguardError(f"classifier_share must lie in [0, 1], not {classifier_share}")
    budget = int(np.floor(target_fpr * int(benign_val.sum())))
    alone = {name: calibrate_threshold(val[name][benign_val], target_fpr) for name in ("classifier", "anomaly")}
    joint_classifier = threshold_allowing(val["classifier"][benign_val], int(np.floor(classifier_share * budget)))
    left = benign_val & (val["classifier"] < joint_classifier)  # benign flows the classifier leaves to the detector
    spent = int((val["classifier"][benign_val] >= joint_classifier).sum())
    joint_anomaly = threshold_allowing(val["anomaly"][left], budget - spent)

    def alerts(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"classifier": scores["classifier"] >= alone["classifier"], "anomaly": scores["anomaly"] >= alone["anomaly"],
                "hybrid": (scores["classifier"] >= joint_classifier) | (scores["anomaly"] >= joint_anomaly)}

    on_val, on_test = alerts(val), alerts(test)
    attacks = y_test == 1
    unseen = [name for name in labels.types if name not in set(labels.types_in_training)]
    benign_types = {labels.types[code] for code in np.unique(labels.test_type[~attacks])}
    by_type = {name: detection_by_label(on_test[name], labels.test_type, labels.types, benign_types) for name in DETECTORS}
    unseen_present = [name for name in unseen if name in by_type["hybrid"]]
    return {
        "target_fpr": target_fpr,
        "classifier_share": classifier_share,
        "thresholds": {"classifier": alone["classifier"], "anomaly": alone["anomaly"],
                       "hybrid": {"classifier": joint_classifier, "anomaly": joint_anomaly}},
        "validation_fpr": {name: float(on_val[name][benign_val].mean()) for name in DETECTORS},
        "test_fpr": {name: float(on_test[name][~attacks].mean()) for name in DETECTORS},
        "detection_rate": {name: float(on_test[name][attacks].mean()) for name in DETECTORS},
        "by_type": {type_name: {"rows": by_type["hybrid"][type_name]["rows"], "in_training": type_name not in unseen,
                                **{name: by_type[name][type_name]["rate"] for name in DETECTORS}}
                    for type_name in by_type["hybrid"]},
        "test_only": {
            "types": unseen_present,
            "caught": {name: [t for t in unseen_present if by_type[name][t]["rate"] >= CAUGHT] for name in DETECTORS},
            "flows_detected": {name: _share(by_type[name], unseen_present) for name in DETECTORS},
        },
    }


def hybrid_lines(result: dict) -> list[str]:
    """The comparison in a few sentences (CLI and bench)."""
    unseen = result["test_only"]["types"]
    lines = [f"Budget: {result['target_fpr']:.2%} false positives on benign validation flows "
             f"(hybrid: {result['classifier_share']:.0%} of it to the classifier)."]
    for name in DETECTORS:
        caught = result["test_only"]["caught"][name]
        lines.append(f"{name}: detection {result['detection_rate'][name]:.4f}, test FPR {result['test_fpr'][name]:.4f}; "
                     f"catches {len(caught)} of {len(unseen)} test-only types (≥{CAUGHT:.0%} of their flows), "
                     f"{result['test_only']['flows_detected'][name]:.2%} of their flows")
    return lines


def _share(by_type: dict, names: list[str]) -> float:
    rows = sum(by_type[name]["rows"] for name in names)
    return sum(by_type[name]["detected"] for name in names) / rows if rows else 0.0


def _classifier(path: Path, benign_index: int):
    session = create_session(path, RuntimeConfig())
    return lambda rows: 1.0 - session.run([OUTPUT_NAME], {INPUT_NAME: rows})[0][:, benign_index]


def _detector(path: Path):
    session = create_session(path, RuntimeConfig())
    return lambda rows: session.run([ANOMALY_SCORE], {INPUT_NAME: rows})[0]
