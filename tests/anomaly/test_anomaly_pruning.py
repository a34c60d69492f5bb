"""pruned-<percent> for the anomaly task: the autoencoder shrinks, fine-tunes on reconstruction, and keeps a calibrated threshold."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rtguard.artifact import graph_threshold
from rtguard.config import validate_config
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError
from rtguard.models import parameter_counts
from rtguard.models.autoencoder import load_detector
from rtguard.optimize import pass_context
from rtguard.optimize.anomaly import anomaly_recipe
from rtguard.optimize.prune import StructuredPruning, UnstructuredPruning
from rtguard.runfolder import RunFolder


def _variant(run, name):
    return json.loads((run / "variants" / name / "variant.json").read_text())


def test_the_pruned_autoencoder_is_smaller_and_keeps_its_threshold_in_the_graph(anomaly_run):
    run, _ = anomaly_run
    pruned, reference = _variant(run, "pruned-50"), _variant(run, "onnx-fp32")
    assert pruned["params"] < reference["params"]
    pruning, threshold = pruned["recipe"][0], pruned["recipe"][-1]
    assert pruning["config"]["objective"] == "reconstruction" and pruning["chosen"]["epochs_run"] >= 1
    assert threshold["pass"] == "calibrated-threshold"
    assert threshold["chosen"]["selection_false_positive_rate"] <= threshold["chosen"]["target_fpr"]
    assert graph_threshold(run / "variants" / "pruned-50" / "model.onnx") == pytest.approx(threshold["chosen"]["threshold"], rel=1e-6)


def _context(run):
    folder = RunFolder(run)
    config, schema = folder.load_config(), FeatureSchema.load(folder.schema)
    model = load_detector(schema, config.anomaly, folder.weights)
    return pass_context(config, schema, Splits.load(folder.splits), model), config


def test_structured_pruning_shrinks_the_bottleneck_but_never_the_reconstruction(anomaly_run):
    context, config = _context(anomaly_run[0])
    step = anomaly_recipe("pruned-50", config).model_passes[0]
    model, chosen = step.run(context.reference, context)
    widths = [layer.out_features for layer in model.body if isinstance(layer, nn.Linear)]
    assert widths == [8, 3, 8, model.preprocess.output_width]  # hidden [16, 6] halved; the output is the input's width
    assert chosen["train_rows"] > 0 and chosen["validation_loss"] > 0
    rows = torch.from_numpy(context.splits.x_test[:5])
    assert model(rows).shape == (5, 2) and torch.isfinite(model.score(rows)).all()


def test_unstructured_pruning_fine_tunes_the_detector_under_its_mask(anomaly_run):
    context, config = _context(anomaly_run[0])
    step = anomaly_recipe("pruned-50-unstructured", config).model_passes[0]
    assert isinstance(step, UnstructuredPruning) and step.benign_rows == config.anomaly.max_train_rows
    model, chosen = step.run(context.reference, context)
    assert parameter_counts(model)["nonzero_params"] < parameter_counts(model)["params"] and chosen["epochs_run"] >= 1


def test_rounded_widths_reach_the_anomaly_recipe():
    config = validate_config({"task": {"kind": "anomaly"}, "optimize": {"variants": ["pruned-30-round8"]}})
    step = anomaly_recipe("pruned-30-round8", config).model_passes[0]
    assert isinstance(step, StructuredPruning) and step.round_to == 8 and step.objective == "reconstruction"
    assert (step.finetune_epochs, step.learning_rate) == (config.train.epochs, config.train.learning_rate)  # the detector's schedule


def test_a_kitnet_reference_refuses_pruning_with_the_reason_and_leaves_it_out_of_the_defaults():
    with pytest.raises(ConfigError, match="pruned-50 does not apply to a KitNET reference: its group autoencoders"):
        validate_config({"task": {"kind": "anomaly"}, "anomaly": {"detector": "kitnet"}, "optimize": {"variants": ["pruned-50"]}})
    kitnet = validate_config({"task": {"kind": "anomaly"}, "anomaly": {"detector": "kitnet"}})
    assert not any(name.startswith("pruned") for name in kitnet.optimize.variants)
