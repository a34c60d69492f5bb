"""The task selector: the anomaly task's own variants, and recipes that do not apply refused with the reason."""

from __future__ import annotations

import pytest

from rtguard.config import RunConfig, dump_config, load_config, validate_config
from rtguard.errors import ConfigError


def test_the_anomaly_task_builds_the_other_detectors_beside_the_compressed_reference():
    config = validate_config({"task": {"kind": "anomaly"}})
    assert config.optimize.variants == ["onnx-fp32", "int8-dynamic", "int8-static", "pruned-50", "fp16", "kitnet", "isolation-forest"]
    kitnet = validate_config({"task": {"kind": "anomaly"}, "anomaly": {"detector": "kitnet"}})
    assert "autoencoder" in kitnet.optimize.variants and "kitnet" not in kitnet.optimize.variants


@pytest.mark.parametrize("variant", ["qat-int8", "mixed-int8", "distilled-small", "adversarial"])
def test_classifier_recipes_are_refused_for_the_anomaly_task_with_a_reason(variant):
    with pytest.raises(ConfigError, match=f"{variant} does not apply to the anomaly task: .+"):
        validate_config({"task": {"kind": "anomaly"}, "optimize": {"variants": ["onnx-fp32", variant]}})


def test_adversarial_training_of_the_reference_is_refused_for_the_anomaly_task():
    with pytest.raises(ConfigError, match="train.adversarial does not apply to the anomaly task"):
        validate_config({"task": {"kind": "anomaly"}, "train": {"adversarial": {"method": "pgd"}}})


def test_detectors_are_refused_for_the_classify_task():
    with pytest.raises(ConfigError, match="anomaly detectors"):
        validate_config({"optimize": {"variants": ["isolation-forest"]}})


def test_the_task_survives_the_written_config_toml():
    import tomllib

    config = validate_config({"task": {"kind": "anomaly"}, "anomaly": {"target_fpr": 0.02}})
    again = validate_config(tomllib.loads(dump_config(config)))
    assert again == config and again.task.kind == "anomaly"


def test_the_command_line_task_applies_before_the_file_is_validated(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[data]\nn_flows = 500\n[optimize]\nvariants = ["onnx-fp32", "isolation-forest"]\n')
    config = load_config(path, task="anomaly")  # the file alone names an anomaly variant without [task]
    assert config.task.kind == "anomaly" and config.data.n_flows == 500 and config.optimize.variants == ["onnx-fp32", "isolation-forest"]
    with pytest.raises(ConfigError, match="anomaly detectors"):
        load_config(path)
    assert "kitnet" in load_config(None, task="anomaly").optimize.variants
    assert load_config(None) == RunConfig()
