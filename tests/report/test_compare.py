"""`rtguard compare`: metric deltas and verdict changes between two runs."""

import copy
import json
import shutil

from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.report.compare import compare_reports, metric_rows, summary, verdict_rows


def _report(run, chosen, blocking, latency, policy_latency=100.0, names=("torch-fp32", "onnx-fp32")):
    return {
        "run": run,
        "variants": [{"name": n, "metrics": {"latency_p99_ms": latency, "throughput_batch": 1024, "file_bytes": 2048}} for n in names],
        "selection": {"chosen": chosen, "policy": {"max_latency_p99_ms": policy_latency},
                      "variants": [{"name": n, "blocking": blocking if n == "onnx-fp32" else []} for n in names]},
    }


def test_deltas_verdict_changes_and_policy_changes():
    before = _report("before", "onnx-fp32", [], 0.10)
    after = _report("after", None, ["max_latency_p99_ms"], 0.15, policy_latency=0.12, names=("torch-fp32", "onnx-fp32", "int8"))
    comparison = compare_reports(before, after)
    latency = next(r for r in comparison["metrics"] if r["variant"] == "onnx-fp32" and r["metric"] == "latency_p99_ms")
    assert latency["change"] == 0.15 - 0.10 and round(latency["relative"], 6) == 0.5
    assert comparison["verdicts"][1] == {"variant": "onnx-fp32", "before": "ships", "after": "blocked: max_latency_p99_ms"}
    assert comparison["verdicts"][2] == {"variant": "int8", "before": "not in this run", "after": "passes"}
    assert comparison["added"] == ["int8"] and comparison["removed"] == []
    assert comparison["policy_changes"] == {"max_latency_p99_ms": {"before": 100.0, "after": 0.12}}
    header, rows = metric_rows(comparison)
    assert header[2:4] == ["before", "after"]
    assert ["onnx-fp32", "p99 ms (b=1)", "0.1000", "0.1500", "+0.0500", "+50.0%"] in rows
    assert verdict_rows(comparison)[1][1][2].tone == "bad"
    assert summary(comparison)[0] == "chosen: onnx-fp32 -> nothing"


def test_a_report_from_before_the_gate_compares_as_not_selected():
    old = copy.deepcopy(_report("old", "onnx-fp32", [], 0.1))
    del old["selection"]
    comparison = compare_reports(old, _report("new", "onnx-fp32", [], 0.1))
    assert comparison["verdicts"][1]["before"] == "not selected" and comparison["policy_changes"] == {}


def test_compare_command_on_two_runs(tiny_run, tmp_path):
    strict = tmp_path / "strict"
    shutil.copytree(tiny_run[0], strict)
    policy = tmp_path / "p.toml"
    policy.write_text("max_latency_p99_ms = 1e-9\n")
    runner = CliRunner()
    assert runner.invoke(app, ["select", str(strict), "--policy", str(policy), "--apply"]).exit_code == 3
    result = runner.invoke(app, ["compare", str(tiny_run[0]), str(strict)])
    assert result.exit_code == 0, result.output
    assert "max_latency_p99_ms 100.0 -> 1e-09" in result.output and "blocked: max_latency_p99_ms" in result.output
    as_json = json.loads(runner.invoke(app, ["compare", str(tiny_run[0]), str(strict), "--json"]).output)
    assert as_json["chosen"]["after"] is None and as_json["chosen"]["before"] is not None
