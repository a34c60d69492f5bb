"""Optimize stage: export the reference once, then build every configured recipe as a variant.

Every classifier variant ends with its operating point (optimize/operating_point.py) at the
run's policy (policy.toml, else the default); every anomaly variant with its calibrated threshold.

A variant that cannot be built leaves no folder; its error goes to variants/failed.json
({"failed": [{variant, error, input_error}]}) and the other variants are still built.
input_error is true for a setting the user can fix (a pruning ratio that would delete a
layer, a student larger than its teacher, an unusable calibration set, QAT over a layer
it cannot quantize) and false for a failure inside a library.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from torch import nn

from rtguard.catalog import TREE_FAMILIES
from rtguard.config import RunConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.evaluate.threat_model import threat_model
from rtguard.machine import machine_info
from rtguard.models import load_model
from rtguard.models.autoencoder import load_detector
from rtguard.optimize.anomaly import anomaly_recipe, with_validation_calibration
from rtguard.optimize.build import build_variant, export_checked, export_tree_reference
from rtguard.optimize.export import warm_up_exporter
from rtguard.optimize.operating_point import OperatingPoint
from rtguard.optimize.passes import PassContext
from rtguard.optimize.recipes import Recipe, recipe
from rtguard.policy import run_policy
from rtguard.runfolder import RunFolder, building, write_json


def pass_context(config: RunConfig, schema: FeatureSchema, splits: Splits, reference: nn.Module | None) -> PassContext:
    """What passes may read: the data, the settings, the trained reference and calibration rows drawn from training."""
    rng = np.random.default_rng(config.data.seed)
    chosen = rng.choice(len(splits.x_train), min(config.optimize.calibration_samples, len(splits.x_train)), replace=False)
    return PassContext(
        machine=machine_info(), schema=schema, splits=splits, model_config=config.model, train_config=config.train,
        reference=reference, calibration=splits.x_train[chosen], calibration_labels=splits.y_train[chosen],
        threat=lambda: threat_model(schema, config.data.dataset, config.evaluate.robustness.mutable),
    )


def optimize_run(run: RunFolder, on_variant=lambda name: None) -> dict[str, dict]:
    """Write variants/<name>/{model.onnx, variant.json} for every configured recipe; return the built ones' records."""
    config = run.load_config()
    schema = FeatureSchema.load(run.schema)
    splits = Splits.load(run.splits)
    anomaly = config.task.kind == "anomaly"
    policy = run_policy(run)
    point = OperatingPoint(mode=policy.operating_point, target=policy.operating_target())
    if anomaly:  # detectors trained on benign rows: their own model, calibration rows and recipes (optimize/anomaly.py)
        model = load_detector(schema, config.anomaly, run.weights)
        context = with_validation_calibration(pass_context(config, schema, splits, model), config.optimize.calibration_samples, config.data.seed)
    elif config.model.family in TREE_FAMILIES:  # fitted trees (train/trees.py): no network for model passes to copy
        model = None
        context = pass_context(config, schema, splits, model)
    else:
        model = load_model(schema, config.model, run.weights)
        context = pass_context(config, schema, splits, model)

    run.invalidate_after("optimize")
    records, failed = {}, []
    with tempfile.TemporaryDirectory() as scratch, building(run.variants, replace=True) as variants:
        settings = config.optimize
        warm_up_exporter(settings.opset)
        if model is None:
            trees = run.require(run.tree_model, "run `rtguard train` first")
            reference = export_tree_reference(trees, run.read_json(run.train_record), context, Path(scratch) / "reference.onnx",
                                              settings.opset, settings.parity_tolerance)
        else:
            reference = export_checked(model, context, Path(scratch) / "reference.onnx", settings.opset, settings.parity_tolerance)
        for name in settings.variants:
            on_variant(name)
            try:
                chosen = anomaly_recipe(name, config) if anomaly else with_operating_point(recipe(name, settings), point)
                records[name] = build_variant(name, chosen, variants / name, context, reference,
                                              settings.opset, settings.parity_tolerance)
            except Exception as exc:
                shutil.rmtree(variants / name, ignore_errors=True)
                failed.append({"variant": name, "error": str(exc) if isinstance(exc, RtguardError) else f"{type(exc).__name__}: {exc}",
                               "input_error": isinstance(exc, RtguardError)})
        if failed:
            write_json(variants / run.failed_variants.name, {"failed": failed})
    return records


def with_operating_point(chosen: Recipe, point: OperatingPoint) -> Recipe:
    """A classifier recipe ending in the run policy's operating point, calibrated on the variant as built."""
    return Recipe([*chosen.onnx_passes, point], chosen.model_passes)
