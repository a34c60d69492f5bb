"""The anomaly run end to end: per-class and per-type detection, evasion, selection and the report's comparison."""

from __future__ import annotations

import json

from rtguard.config import RuntimeConfig
from rtguard.runtime.session import create_session


def test_every_detector_is_measured_with_the_meaning_of_detection_and_fpr_kept(anomaly_run):
    run, report = anomaly_run
    names = [v["name"] for v in report["variants"]]
    assert names == ["torch-fp32", "onnx-fp32", "int8-dynamic", "fp16", "pruned-50", "kitnet", "isolation-forest"]
    for variant in report["variants"]:
        metrics = variant["metrics"]
        anomaly = metrics["anomaly"]
        assert 0.5 < anomaly["auroc"] <= 1
        by_class = anomaly["detection_by_class"]
        assert set(by_class) == {"dos", "portscan", "bruteforce", "exfiltration"}
        detected = sum(c["detected"] for c in by_class.values())
        rows = sum(c["rows"] for c in by_class.values())
        assert abs(metrics["detection_rate"] - detected / rows) < 1e-12
        assert set(metrics["evasion_rate"]) == {"fgsm", "pgd"}
    assert report["dataset"]["classes"] == ["benign", "anomaly"]
    assert report["selection"]["reference"] == "torch-fp32"


def test_the_report_compares_the_detectors_side_by_side(anomaly_run):
    run, _ = anomaly_run
    text = (run / "report.md").read_text()
    section = text[text.index("## Anomaly detectors"):]
    for name in ("torch-fp32", "kitnet", "isolation-forest", "AUROC", "Detection per attack class"):
        assert name in section
    assert "Anomaly detectors" in (run / "report.html").read_text()


def test_artifacts_pass_the_runtime_validation_including_the_forest(anomaly_run):
    run, _ = anomaly_run
    for variant in ("onnx-fp32", "isolation-forest"):
        session = create_session(run / "variants" / variant / "model.onnx", RuntimeConfig())
        assert [o.name for o in session.get_outputs()] == ["probabilities", "anomaly_score", "alert"]
        assert [i.name for i in session.get_inputs()] == ["features"]


def test_data_json_keeps_the_original_classes(anomaly_run):
    run, _ = anomaly_run
    data = json.loads((run / "data.json").read_text())
    assert data["anomaly"]["classes"][0] == "benign" and data["anomaly"]["attack_rows_dropped_from_training"] > 0


def test_the_command_line_task_reached_the_run(anomaly_run):
    from rtguard.runfolder import RunFolder

    run, _ = anomaly_run  # built by `rtguard run --task anomaly --config FILE`, the file having no [task]
    config = RunFolder(run).load_config()
    assert config.task.kind == "anomaly" and config.anomaly.target_fpr == 0.05
    assert json.loads((run / "schema.json").read_text())["classes"] == ["benign", "anomaly"]
