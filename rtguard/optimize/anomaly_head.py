"""The anomaly artifact's head: the calibrated threshold inside the graph, so the served alert is the evaluated one.

Every anomaly variant ends with this pass. It finds the detector's score in the graph
(an `anomaly_score` output, or the ratio p1/p0 of the two-class softmax that the
detectors' export produces: softmax(±½ log s) = [1/(1+s), s/(1+s)]), runs the
variant as built (INT8, FP16, ...) on the selection split's benign flows, sets the threshold
at the target false-positive rate of *its own* scores, and appends:

    anomaly_score [batch]     the score
    alert         [batch]     score >= threshold (bool)
    probabilities [batch, 2]  [1 - p, p], p = sigmoid(SHARPNESS * (log score - log threshold)),
                              so p = 0.5 exactly at the threshold and runtime/serving code
                              that reads class probabilities (benign, anomaly) works unchanged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from pydantic import Field

from rtguard.artifact import ALERT, ANOMALY_SCORE, OUTPUT_NAME, THRESHOLD, calibrate_threshold
from rtguard.compute import graph_output
from rtguard.errors import RtguardError
from rtguard.optimize.operating_point import set_alert_threshold
from rtguard.optimize.passes import OnnxPass, PassContext

LOG_THRESHOLD = "anomaly_log_threshold"
# p moves from 0.27 to 0.73 as the score goes from 0.78x to 1.28x the threshold: a readable
# confidence near the decision, saturating for flows far from it.
SHARPNESS = 4.0
DETECTOR_ODDS = "detector_odds"
PROBABILITY_AT_THRESHOLD = 0.5  # P(anomaly) at the score threshold: the alert on the probability scale


class CalibratedThreshold(OnnxPass):
    """Threshold at the target FPR of this variant's scores on the selection split's benign flows, appended to the graph."""

    name: ClassVar[str] = "calibrated-threshold"
    target_fpr: float = Field(gt=0, lt=0.5, description="Share of benign selection flows allowed to alert.")

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        model = with_score_output(onnx.load(str(source)))
        splits = context.splits
        scores = graph_output(model, ANOMALY_SCORE, splits.x_selection)
        benign = splits.y_selection == 0
        threshold = calibrate_threshold(scores[benign], self.target_fpr)
        onnx.save(with_threshold(model, threshold), str(target))
        alerted = scores >= np.float32(threshold)
        return {"threshold": threshold, "target_fpr": self.target_fpr, "selection_rows": int(len(scores)),
                "selection_false_positive_rate": float(alerted[benign].mean()),
                "selection_detection_rate": float(alerted[~benign].mean()) if (~benign).any() else None, "sharpness": SHARPNESS}


def with_score_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with one output, `anomaly_score` [batch]: as it is, or derived from the detector's softmax."""
    outputs = [output.name for output in model.graph.output]
    if ANOMALY_SCORE in outputs:
        return _keep_outputs(model, [ANOMALY_SCORE])
    if outputs != [OUTPUT_NAME]:
        raise RtguardError(f"an anomaly detector graph must output {ANOMALY_SCORE!r} or the two-class {OUTPUT_NAME!r}; it outputs {outputs}")
    _rename_tensor(model.graph, OUTPUT_NAME, DETECTOR_ODDS)
    model.graph.initializer.extend([numpy_helper.from_array(np.array(0, dtype=np.int64), "anomaly_index_benign"),
                                    numpy_helper.from_array(np.array(1, dtype=np.int64), "anomaly_index_anomaly")])
    model.graph.node.extend([
        helper.make_node("Gather", [DETECTOR_ODDS, "anomaly_index_benign"], ["anomaly_p_benign"], name="anomaly_p_benign", axis=1),
        helper.make_node("Gather", [DETECTOR_ODDS, "anomaly_index_anomaly"], ["anomaly_p_anomaly"], name="anomaly_p_anomaly", axis=1),
        helper.make_node("Div", ["anomaly_p_anomaly", "anomaly_p_benign"], [ANOMALY_SCORE], name="anomaly_score_from_odds"),
    ])
    del model.graph.output[:]
    model.graph.output.append(_vector(ANOMALY_SCORE, TensorProto.FLOAT))
    return model


def with_threshold(model: onnx.ModelProto, threshold: float) -> onnx.ModelProto:
    """Append alert and probabilities to a model whose one output is `anomaly_score`."""
    graph = model.graph
    graph.initializer.extend([
        numpy_helper.from_array(np.array(threshold, dtype=np.float32), THRESHOLD),
        numpy_helper.from_array(np.array(math.log(threshold), dtype=np.float32), LOG_THRESHOLD),
        numpy_helper.from_array(np.array(SHARPNESS, dtype=np.float32), "anomaly_sharpness"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "anomaly_one"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "anomaly_column_axis"),
    ])
    graph.node.extend([
        helper.make_node("GreaterOrEqual", [ANOMALY_SCORE, THRESHOLD], [ALERT], name="anomaly_alert"),
        helper.make_node("Log", [ANOMALY_SCORE], ["anomaly_log_score"], name="anomaly_log_score"),
        helper.make_node("Sub", ["anomaly_log_score", LOG_THRESHOLD], ["anomaly_margin"], name="anomaly_margin"),
        helper.make_node("Mul", ["anomaly_margin", "anomaly_sharpness"], ["anomaly_logit"], name="anomaly_logit"),
        helper.make_node("Sigmoid", ["anomaly_logit"], ["anomaly_p"], name="anomaly_p"),
        helper.make_node("Unsqueeze", ["anomaly_p", "anomaly_column_axis"], ["anomaly_p_column"], name="anomaly_p_column"),
        helper.make_node("Sub", ["anomaly_one", "anomaly_p_column"], ["anomaly_benign_column"], name="anomaly_benign_column"),
        helper.make_node("Concat", ["anomaly_benign_column", "anomaly_p_column"], [OUTPUT_NAME], name="anomaly_probabilities", axis=1),
    ])
    del graph.output[:]
    probabilities = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 2])
    graph.output.extend([probabilities, _vector(ANOMALY_SCORE, TensorProto.FLOAT), _vector(ALERT, TensorProto.BOOL)])
    set_alert_threshold(model, PROBABILITY_AT_THRESHOLD)
    onnx.checker.check_model(model)
    return model


def _vector(name: str, element_type: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, element_type, ["batch"])


def _keep_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    kept = [output for output in model.graph.output if output.name in names]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    return model


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
