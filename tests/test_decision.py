"""The ship decision reads the selection split only, each variant alerts at its own calibrated operating point,
and every deciding number carries its interval."""

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from rtguard.artifact import ALERT, ALERT_THRESHOLD_KEY, ATTACK_SCORE, INPUT_NAME, OUTPUT_NAME, attack_scores, point_threshold
from rtguard.cli import app
from rtguard.data.prepare import SPLITS, Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate import evaluate_run
from rtguard.evaluate.uncertainty import bootstrap
from rtguard.policy import Policy, dump_policy
from rtguard.runfolder import RunFolder, write_text
from rtguard.select import select_run

DECIDING = ("selection", "operating_point", "confidence", "vs_reference", "bootstrap")


def test_data_json_records_four_disjoint_splits(tiny_run):
    run = RunFolder(tiny_run[0])
    rows = run.read_json(run.data_summary)["rows"]
    splits = Splits.load(run.splits)
    assert list(rows) == list(SPLITS) and all(rows[name] > 0 for name in SPLITS)
    assert [len(getattr(splits, f"y_{name}")) for name in SPLITS] == [rows[name] for name in SPLITS]
    seen = [{row.tobytes() for row in getattr(splits, f"x_{name}")} for name in ("selection", "test")]
    assert not seen[0] & seen[1]


def test_permuting_the_test_labels_changes_no_decision(tiny_run, tmp_path):
    folder = shutil.copytree(tiny_run[0], tmp_path / "run")
    run = RunFolder(folder)
    policy = Policy(prefer="file_bytes")  # a deterministic objective: the timing of two evaluations may differ, labels may not matter
    write_text(run.policy, dump_policy(policy))
    before = _decisions(run), select_run(run, policy)
    splits = Splits.load(run.splits)
    splits.y_test = np.random.default_rng(0).permutation(splits.y_test)
    splits.save(run.splits)
    evaluate_run(run, show_progress=False)
    after = _decisions(run), select_run(run, policy)
    assert after[0]["metrics"] == before[0]["metrics"], "a number a decision reads changed with the test labels"
    assert after[0]["test"] != before[0]["test"], "the permutation did not reach the test metrics"
    assert after[1]["chosen"] == before[1]["chosen"] is not None and after[1]["split"] == "selection"
    assert _blocking(after[1]) == _blocking(before[1])


def _blocking(selection: dict) -> dict:
    return {v["name"]: v["blocking"] for v in selection["variants"]}


def _decisions(run: RunFolder) -> dict:
    metrics = {"torch-fp32": run.read_json(run.baseline_metrics)}
    metrics |= {name: run.read_json(run.variant(name) / "metrics.json") for name in run.variant_names()}
    return {"metrics": {name: {key: m[key] for key in DECIDING} for name, m in metrics.items()},
            "test": {name: (m["accuracy"], m["detection_rate"]) for name, m in metrics.items()}}


@pytest.mark.parametrize("variant", ["onnx-fp32", "int8-dynamic", "fp16"])
def test_each_variant_alerts_at_its_own_operating_point_inside_the_graph(tiny_run, variant):
    run = RunFolder(tiny_run[0])
    schema, splits = FeatureSchema.load(run.schema), Splits.load(run.splits)
    path = run.variant(variant) / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    threshold = float(session.get_modelmeta().custom_metadata_map[ALERT_THRESHOLD_KEY])
    probabilities, scores, alerts = session.run([OUTPUT_NAME, ATTACK_SCORE, ALERT], {INPUT_NAME: splits.x_selection})
    assert np.array_equal(scores, attack_scores(probabilities, schema.benign_index))
    assert np.array_equal(alerts, scores >= np.float32(threshold))
    benign = splits.y_selection == schema.benign_index
    assert alerts[benign].mean() <= 0.01
    point = run.read_json(run.variant(variant) / "metrics.json")["operating_point"]
    assert point["threshold"] == threshold and point["mode"] == "target_fpr" and point["target"] == 0.01
    assert point["selection_false_positive_rate"] == pytest.approx(alerts[benign].mean())


def test_an_operating_point_by_detection_rate_reaches_it():
    rng = np.random.default_rng(1)
    benign, attacks = rng.random(500).astype(np.float32) * 0.6, rng.random(300).astype(np.float32)
    threshold = point_threshold(benign, attacks, "min_detection_rate", 0.9)
    assert (attacks >= np.float32(threshold)).mean() >= 0.9
    assert (attacks >= np.nextafter(np.float32(threshold), np.float32(2))).mean() < 0.9  # the highest threshold that does
    fpr_threshold = point_threshold(benign, attacks, "target_fpr", 0.02)
    assert (benign >= np.float32(fpr_threshold)).mean() <= 0.02


def test_paired_bootstrap_intervals_hold_the_estimate_and_a_copy_is_no_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    good = np.where(rng.random(2000) < 0.9, y, (y + 1) % 3)
    worse = np.where(rng.random(2000) < 0.8, y, (y + 1) % 3)
    decisions = {name: (predicted, predicted != 0) for name, predicted in (("ref", good), ("copy", good.copy()), ("worse", worse))}
    results = bootstrap(y, decisions, ["benign", "a", "b"], 0, "ref", seed=0, resamples=300)
    accuracy = float((good == y).mean())
    low, high = results["ref"]["confidence"]["accuracy"]
    assert low < accuracy < high and high - low < 0.05
    assert results["copy"]["vs_reference"]["accuracy"] == [0.0, 0.0]
    assert results["worse"]["vs_reference"]["accuracy"][1] < 0  # a real loss is outside noise
    assert len(results["worse"]["bootstrap"]["macro_f1"]) == 300


def test_compare_refuses_runs_on_different_data_unless_forced(tiny_run, tmp_path):
    other = shutil.copytree(tiny_run[0], tmp_path / "other")
    report = json.loads((other / "report.json").read_text())
    report["dataset"]["name"], report["dataset"]["feature_names"] = "nsl-kdd", ["duration", "protocol_type"]
    (other / "report.json").write_text(json.dumps(report))
    refused = CliRunner().invoke(app, ["compare", str(tiny_run[0]), str(other)])
    assert refused.exit_code == 2 and "data set differ (synthetic vs nsl-kdd)" in refused.output and "features differ" in refused.output
    assert CliRunner().invoke(app, ["compare", str(tiny_run[0]), str(other), "--force"]).exit_code == 0
