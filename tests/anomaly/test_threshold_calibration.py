"""Threshold calibration: the benign FPR measured on held-out flows is the target, and the threshold lives in the graph."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from rtguard.artifact import THRESHOLD, calibrate_threshold, graph_threshold
from rtguard.data.prepare import Splits
from rtguard.optimize.anomaly_head import SHARPNESS
from rtguard.runfolder import RunFolder


@pytest.mark.parametrize("target", [0.001, 0.01, 0.05, 0.2])
def test_calibrated_threshold_holds_the_target_on_held_out_benign_scores(target):
    rng = np.random.default_rng(0)
    validation, held_out = (rng.lognormal(0.0, 1.5, 20_000).astype(np.float32) for _ in range(2))
    threshold = calibrate_threshold(validation, target)
    assert (validation >= threshold).mean() <= target  # never above the target where it was set
    assert abs((held_out >= threshold).mean() - target) <= 4 * np.sqrt(target * (1 - target) / 20_000) + 2 / 20_000


def test_ties_never_push_the_validation_fpr_over_the_target():
    scores = np.array([1.0] * 50 + [2.0] * 50, dtype=np.float32)
    threshold = calibrate_threshold(scores, 0.3)  # the top 30 cannot be told apart from the other 20 of their value
    assert (scores >= threshold).mean() == 0.0 and threshold > 2.0


def _benign_rows(run):
    splits = Splits.load(RunFolder(run).splits)
    return splits.x_val[splits.y_val == 0], splits.x_test[splits.y_test == 0], splits


@pytest.mark.parametrize("variant", ["onnx-fp32", "int8-dynamic", "fp16", "pruned-50", "kitnet", "isolation-forest"])
def test_each_variant_meets_the_target_fpr_on_held_out_benign_flows(anomaly_run, variant):
    run, _ = anomaly_run
    benign_val, benign_test, _ = _benign_rows(run)
    target = RunFolder(run).load_config().anomaly.target_fpr
    session = ort.InferenceSession(str(run / "variants" / variant / "model.onnx"), providers=["CPUExecutionProvider"])
    alerts_val = session.run(["alert"], {"features": benign_val})[0]
    alerts_test = session.run(["alert"], {"features": benign_test})[0]
    assert alerts_val.mean() <= target
    # calibration on n_val flows, measurement on n_test: both sampling errors, 4 sigma
    bound = 4 * np.sqrt(target * (1 - target) * (1 / len(benign_val) + 1 / len(benign_test)))
    assert abs(alerts_test.mean() - target) <= bound, (alerts_test.mean(), bound)


def test_the_alert_is_score_at_or_above_the_threshold_inside_the_graph(anomaly_run):
    run, _ = anomaly_run
    _, _, splits = _benign_rows(run)
    path = run / "variants" / "onnx-fp32" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities, scores, alerts = session.run(["probabilities", "anomaly_score", "alert"], {"features": splits.x_test})
    threshold = np.float32(graph_threshold(path))
    assert alerts.dtype == bool and alerts.shape == scores.shape == (len(splits.x_test),)
    assert np.array_equal(alerts, scores >= threshold) and 0 < alerts.mean() < 1
    recorded = json.loads((path.parent / "variant.json").read_text())["recipe"][-1]["chosen"]["threshold"]
    assert np.float32(recorded) == threshold
    assert probabilities.shape == (len(scores), 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    expected = 1 / (1 + (threshold / scores.astype(np.float64)) ** SHARPNESS)  # sigmoid(k (log s - log t))
    assert np.allclose(probabilities[:, 1], expected, atol=1e-5)
    clear = np.abs(np.log(scores / threshold)) > 1e-5  # away from the threshold, p > 0.5 exactly when alerting
    assert np.array_equal((probabilities[:, 1] > 0.5)[clear], alerts[clear])


def test_changing_the_threshold_constant_in_the_graph_changes_the_alerts(anomaly_run, tmp_path):
    run, _ = anomaly_run
    _, _, splits = _benign_rows(run)
    model = onnx.load(str(run / "variants" / "onnx-fp32" / "model.onnx"))
    tensor = next(t for t in model.graph.initializer if t.name == THRESHOLD)
    scores = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["anomaly_score"], {"features": splits.x_test})[0]
    lowered = np.float32(np.median(scores))
    tensor.CopyFrom(numpy_helper.from_array(np.array(lowered, dtype=np.float32), THRESHOLD))
    alerts = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["alert"], {"features": splits.x_test})[0]
    assert np.array_equal(alerts, scores >= lowered)
