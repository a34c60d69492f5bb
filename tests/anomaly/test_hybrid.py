"""Hybrid detector: one false-positive budget, alert when either fires, counted on the types training never held."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rtguard.config import validate_config
from rtguard.data.anomaly import AttackLabels
from rtguard.errors import RtguardError
from rtguard.evaluate.hybrid import compare, hybrid_lines, hybrid_runs

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "nsl_kdd"


def _labels(test_type: np.ndarray) -> AttackLabels:
    types = ["normal", "neptune", "mscan"]
    return AttackLabels(classes=["normal", "DoS", "Probe"], types=types, types_in_training=["normal", "neptune"],
                        val_class=np.zeros(0, int), test_class=np.minimum(test_type, 2), test_type=test_type)


def test_the_hybrid_spends_one_budget_and_catches_what_each_catches_alone():
    rng = np.random.default_rng(0)
    n = 4000
    benign_val = np.ones(n, bool)
    val = {"classifier": rng.uniform(0, 1, n).astype(np.float32), "anomaly": rng.lognormal(0, 1, n).astype(np.float32)}
    # test: 2000 benign, 500 neptune (the classifier knows it), 500 mscan (only the detector finds it odd)
    test_type = np.repeat([0, 1, 2], [2000, 500, 500])
    test = {"classifier": np.concatenate([rng.uniform(0, 1, 2000), np.full(500, 1.0), rng.uniform(0, 1, 500)]).astype(np.float32),
            "anomaly": np.concatenate([rng.lognormal(0, 1, 2500), np.full(500, 1e4)]).astype(np.float32)}
    result = compare(val, benign_val, test, (test_type > 0).astype(int), _labels(test_type), target_fpr=0.02, classifier_share=0.5)
    for name in ("classifier", "anomaly", "hybrid"):
        assert result["validation_fpr"][name] <= 0.02
    assert result["validation_fpr"]["hybrid"] > 0.015  # the whole budget is used, not half of it
    assert not result["by_type"]["mscan"]["in_training"] and result["by_type"]["neptune"]["in_training"]
    assert result["test_only"]["caught"] == {"classifier": [], "anomaly": ["mscan"], "hybrid": ["mscan"]}
    assert result["by_type"]["neptune"]["hybrid"] == 1.0 and result["by_type"]["neptune"]["anomaly"] < 0.1
    assert "catches 1 of 1 test-only types" in hybrid_lines(result)[3]


def test_the_share_must_be_a_share():
    labels = _labels(np.zeros(2, int))
    with pytest.raises(RtguardError, match="classifier_share"):
        compare({"classifier": np.zeros(2), "anomaly": np.zeros(2)}, np.ones(2, bool), {"classifier": np.zeros(2), "anomaly": np.zeros(2)},
                np.zeros(2, int), labels, 0.01, 1.5)


def _stages(folder: Path, raw: dict) -> None:
    from rtguard.data.stage import prepare_run_data
    from rtguard.optimize import optimize_run
    from rtguard.runfolder import RunFolder
    from rtguard.train import train_run

    run = RunFolder(folder)
    folder.mkdir()
    prepare_run_data(run, validate_config(raw))
    train_run(run, show_progress=False)
    optimize_run(run)


def test_two_runs_on_nsl_kdd_rows_compare_on_the_test_only_attack_types(tmp_path):
    data = tmp_path / "nsl-kdd"
    data.mkdir()
    shutil.copy(SAMPLES / "train-sample.txt", data / "KDDTrain+.txt")
    shutil.copy(SAMPLES / "test-sample.txt", data / "KDDTest+.txt")
    common = {"data": {"dataset": "nsl-kdd", "path": str(data), "val_fraction": 0.3}, "train": {"epochs": 2, "batch_size": 16},
              "optimize": {"variants": ["onnx-fp32"]}}
    _stages(tmp_path / "classify", common)
    _stages(tmp_path / "anomaly", common | {"task": {"kind": "anomaly"}, "anomaly": {"hidden": [8, 4]}})
    result = hybrid_runs(tmp_path / "classify", tmp_path / "anomaly", target_fpr=0.2)
    assert {"mscan", "apache2", "xterm"} <= set(result["test_only"]["types"])
    assert "neptune" in result["by_type"] and result["by_type"]["neptune"]["in_training"]
    for name in ("classifier", "anomaly", "hybrid"):
        assert result["validation_fpr"][name] <= 0.2
        assert set(result["test_only"]["caught"][name]) <= set(result["test_only"]["types"])
    with pytest.raises(RtguardError, match="classify run"):
        hybrid_runs(tmp_path / "anomaly", tmp_path / "classify")


def test_the_command_line_names_a_missing_run_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from rtguard.cli import app

    result = CliRunner().invoke(app, ["hybrid", str(tmp_path / "nope"), str(tmp_path / "nada")])
    assert result.exit_code == 2 and "is missing" in result.output and "Traceback" not in result.output
