"""One tiny anomaly run per test session, shared by the tests of this folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TARGET_FPR = 0.05  # high enough that a few thousand benign test flows measure it to within a few points
TINY_ANOMALY = {
    "task": {"kind": "anomaly"},
    "anomaly": {"target_fpr": TARGET_FPR, "hidden": [16, 6], "forest_trees": 20},
    "data": {"n_flows": 8000, "seed": 7},
    "train": {"epochs": 3, "batch_size": 256},
    "optimize": {"variants": ["onnx-fp32", "int8-dynamic", "fp16", "pruned-50", "kitnet", "isolation-forest"]},
    "evaluate": {
        "latency_calls": 10, "warmup_calls": 1, "throughput_batch": 64, "throughput_seconds": 0.02, "threads": 1,
        "robustness": {"attack_flows": 60, "epsilons": [1.0], "pgd_steps": 3},
    },
}


@pytest.fixture(scope="session")
def anomaly_run(tmp_path_factory) -> tuple[Path, dict]:
    """A complete anomaly run folder on tiny synthetic data, built by `rtguard run --task anomaly`, and its report."""
    from typer.testing import CliRunner

    from rtguard.cli import app

    folder = tmp_path_factory.mktemp("runs")
    settings = {key: value for key, value in TINY_ANOMALY.items() if key != "task"}  # the task comes from --task
    config = folder / "tiny-anomaly.toml"
    config.write_text("".join(f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in table.items())
                              for name, table in settings.items()))
    out = folder / "anomaly"
    result = CliRunner().invoke(app, ["run", "--task", "anomaly", "--config", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code in (0, 3), result.output  # 3: no variant passed the default policy
    return out, json.loads((out / "report.json").read_text())


def _toml(value) -> str:
    """A TOML value; sub-sections as inline tables."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value)
