"""The variant catalog (rtguard/catalog.py): every entry builds on tiny data where it applies, and is refused with its reason elsewhere."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from rtguard import catalog
from rtguard.config import validate_config
from rtguard.errors import ConfigError

# A pattern's instance, and settings that keep each build to a second or two on the tiny reference (hidden [16]).
NAMES = ["pruned-50" if row.pattern else row.name for row in catalog.ENTRIES]
FAST = {"distillation": {"student_hidden": [8], "epochs": 2}, "qat": {"epochs": 1}, "adversarial": {"epochs": 1},
        "pruning": {"finetune_epochs": 1},
        "trees": {"gbdt": {"trees": 10, "min_leaf": 20}, "gbdt_small": {"trees": 5, "leaves": 4}, "forest": {"trees": 5}}}
REFERENCES = [("classify", "mlp"), ("classify", "cnn"), ("classify", "gbdt"), ("classify", "forest"), ("classify", "tree"),
              ("anomaly", "autoencoder"), ("anomaly", "kitnet")]


def test_every_reference_gets_defaults_that_apply_to_it():
    for task, reference in REFERENCES:
        assert all(catalog.refusal(name, task, reference) is None for name in catalog.defaults(task, reference))
    assert "gbdt" in catalog.defaults("classify", "mlp")
    assert "pruned-50" not in catalog.defaults("anomaly", "kitnet") and "kitnet" not in catalog.defaults("anomaly", "kitnet")


@pytest.mark.parametrize("name", [n for n in NAMES if catalog.refusal(n, "classify", "mlp") is None])
def test_every_classifier_entry_builds_on_tiny_data(name, build):
    record, path = build(name, **FAST)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [output.name for output in session.get_outputs()][:1] == ["probabilities"]
    assert record["params"] > 0 and sum(record["kernels"]["precision"].values()) > 0
    fitted = sum(step["chosen"].get("fit_seconds", 0.0) for step in record["recipe"])  # a tree fit is training, not conversion
    assert record["cost"]["train_seconds"] >= fitted
    assert record["cost"]["produce_seconds"] == pytest.approx(record["cost"]["train_seconds"] + record["cost"]["convert_seconds"])


@pytest.mark.parametrize("task,reference", REFERENCES)
def test_every_entry_applies_or_is_refused_by_the_configuration_with_its_reason(task, reference):
    from rtguard.optimize.anomaly import anomaly_recipe
    from rtguard.optimize.recipes import recipe

    section = {"task": {"kind": task}} | ({"anomaly": {"detector": reference}} if task == "anomaly" else {"model": {"family": reference}})
    for name in NAMES:
        reason = catalog.refusal(name, task, reference)
        if reason is None:
            config = validate_config(section | {"optimize": {"variants": [name]}})
            built = anomaly_recipe(name, config) if task == "anomaly" else recipe(name, config.optimize)
            assert built.onnx_passes, name
        else:
            assert reason.startswith(name) and len(reason) > len(name) + 20, reason
            with pytest.raises(ConfigError, match=f"optimize.variants: {name} "):
                validate_config(section | {"optimize": {"variants": [name]}})


def test_tree_variants_are_refused_for_the_anomaly_task_and_detectors_for_the_classify_task():
    with pytest.raises(ConfigError, match="gbdt does not apply to the anomaly task: it fits a supervised tree model"):
        validate_config({"task": {"kind": "anomaly"}, "optimize": {"variants": ["gbdt"]}})
    with pytest.raises(ConfigError, match="kitnet does not apply to the classify task: anomaly detectors"):
        validate_config({"optimize": {"variants": ["kitnet"]}})
    with pytest.raises(ConfigError, match=r"unknown variants \['gbdt-9'\]"):
        validate_config({"optimize": {"variants": ["gbdt-9"]}})
