"""`rtguard update`: new labelled traffic, with a family the model never saw, to new evaluated variants."""

from __future__ import annotations

import json

import pytest

from rtguard.config import validate_config
from rtguard.data.synthetic import new_traffic
from rtguard.errors import DataError
from rtguard.runfolder import RunFolder
from rtguard.train.update import UpdateError, update_run

CONFIG = {
    "data": {"n_flows": 3000, "seed": 5}, "model": {"hidden": [16]}, "train": {"epochs": 3, "batch_size": 128, "update": {"epochs": 5}},
    "optimize": {"variants": ["onnx-fp32", "int8-dynamic"]},
    "evaluate": {"latency_calls": 10, "warmup_calls": 1, "throughput_batch": 64, "throughput_seconds": 0.02, "threads": 1,
                 "robustness": {"enabled": False}},
}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> RunFolder:
    from rtguard.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("update") / "deployed"
    run_pipeline(validate_config(CONFIG), out, show_progress=False)
    return RunFolder(out)


def _snapshot(run: RunFolder) -> dict[str, bytes]:
    return {str(p.relative_to(run.root)): p.read_bytes() for p in sorted(run.root.rglob("*")) if p.is_file()}


def test_update_learns_a_new_attack_family_into_a_new_run(deployed, tmp_path):
    before = _snapshot(deployed)
    new = tmp_path / "new.csv"
    new_traffic(2000, seed=11).to_csv(new, index=False)
    result = update_run(deployed, new, tmp_path / "updated")
    updated = RunFolder(tmp_path / "updated")
    assert result["new_classes"] == ["c2-beacon"]
    assert json.loads(updated.schema.read_text())["classes"][-1] == "c2-beacon"
    assert result["new_class_recall"]["c2-beacon"] > 0.5
    assert result["forgetting"]["macro_f1_drop"] <= result["forgetting"]["tolerance"]
    assert 0 < result["seconds"]["fine_tune"] < result["seconds"]["new_data_to_variants"] <= result["seconds"]["total"]
    assert json.loads((updated.root / "update.json").read_text()) == result
    report = json.loads(updated.report_json.read_text())
    assert {v["name"] for v in report["variants"]} >= {"onnx-fp32", "int8-dynamic"}
    assert "c2-beacon" in report["dataset"]["classes"]
    assert _snapshot(deployed) == before  # the deployed run is never touched


def test_forgetting_beyond_the_tolerance_fails_and_writes_nothing(deployed, tmp_path):
    before = _snapshot(deployed)
    poisoned = new_traffic(6000, seed=12).assign(label="dos")  # mislabelled: every flow called dos
    new = tmp_path / "poisoned.csv"
    poisoned.to_csv(new, index=False)
    with pytest.raises(UpdateError, match="update rejected: macro-F1 over the old classes .* untouched"):
        update_run(deployed, new, tmp_path / "updated")
    assert not (tmp_path / "updated").exists()
    assert not list(tmp_path.glob(".updated*"))
    assert _snapshot(deployed) == before


def test_new_data_with_another_schema_is_a_clear_error_naming_the_columns(deployed, tmp_path):
    frame = new_traffic(200, seed=13).drop(columns=["rst_rate"]).rename(columns={"duration": "flow_duration"})
    new = tmp_path / "other.csv"
    frame.to_csv(new, index=False)
    with pytest.raises(DataError, match=r"does not match the run's schema: missing columns \['duration', 'rst_rate'\]; "
                                        r"unexpected columns \['flow_duration'\]"):
        update_run(deployed, new, tmp_path / "updated")
    assert not (tmp_path / "updated").exists()


def test_cli_update_reports_the_error_in_one_line(deployed, tmp_path):
    from typer.testing import CliRunner

    from rtguard.cli import app

    new = tmp_path / "unlabelled.csv"
    new_traffic(200, seed=14).drop(columns=["label"]).to_csv(new, index=False)
    result = CliRunner().invoke(app, ["update", str(deployed.root), "--data", str(new), "--out", str(tmp_path / "u")])
    assert result.exit_code == 2
    assert "missing columns ['label']" in result.output
