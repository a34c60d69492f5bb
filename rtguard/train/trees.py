"""Fit a tree reference (model.family gbdt, forest or tree) and record what fitting cost.

Tabular flow data is where tree ensembles are strong, so a run may take one as its
reference instead of a network. It is fitted on the features the in-graph preprocessing
computes, with optimize.trees.<family>'s settings (one place for a family's settings,
whether it is the reference or a variant), converted to ONNX at once and checked against
the library on validation rows: model.trees.onnx holds the trees, data only (a pickle
would run code on load); the optimize stage puts the exported preprocessing in front.
When the security evaluation is on, an MLP surrogate learns the trees' verdicts here too
(surrogate.safetensors): trees have no gradients, so the white-box attacks are crafted on it.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import onnx

from rtguard.compute import graph_output
from rtguard.config import RunConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ParityError
from rtguard.evaluate.quality import quality_metrics
from rtguard.evaluate.robustness import SURROGATE_MODEL
from rtguard.models import save_weights
from rtguard.models.preprocessing import preprocessed_rows
from rtguard.models.trees import fit_tree_model, to_onnx, tree_nodes
from rtguard.runfolder import RunFolder, write_json
from rtguard.train.loop import predict_classes, train_classifier

PROBABILITIES = "probabilities"  # skl2onnx's output holding the class probabilities (zipmap off)


def train_tree_reference(run: RunFolder, schema: FeatureSchema, splits: Splits, config: RunConfig) -> dict:
    """Fit, convert and check the tree reference; write model.trees.onnx and train.json; return the record."""
    family = config.model.family
    settings = getattr(config.optimize.trees, family)
    threads = config.train.threads or os.cpu_count() or 1
    started = time.perf_counter()
    points = preprocessed_rows(schema, splits.x_train)
    estimator = fit_tree_model(family, settings, points, splits.y_train, config.train.seed, threads)
    fit_seconds = time.perf_counter() - started
    trees = to_onnx(estimator, points.shape[1], config.optimize.opset)
    wall_time = time.perf_counter() - started

    validation = preprocessed_rows(schema, splits.x_val)
    converted = graph_output(trees, PROBABILITIES, validation, trees.graph.input[0].name)
    expected = estimator.predict_proba(validation)
    max_diff = float(np.abs(converted - expected).max()) if len(validation) else 0.0
    tolerance = config.optimize.trees.parity_tolerance
    if not max_diff <= tolerance:
        raise ParityError(f"the {family} reference's ONNX conversion differs from the library: max |Δp| = {max_diff:.3g} > "
                          f"tolerance {tolerance:g} on {len(validation)} validation rows")
    classes = [int(c) for c in estimator.classes_]
    predicted = np.asarray(classes)[converted.argmax(axis=1)] if len(validation) else np.zeros(0, dtype=int)
    record = {
        "family": family, "settings": settings.model_dump(), "classes": classes, "fit_rows": int(len(points)),
        "fit_seconds": fit_seconds, "wall_time_s": wall_time, "tree_nodes": tree_nodes(estimator),
        "converter": "onnxmltools via skl2onnx" if family == "gbdt" else "skl2onnx",
        "parity": {"rows": int(len(validation)), "max_abs_diff": max_diff, "tolerance": tolerance, "split": "validation"},
        "validation": quality_metrics(splits.y_val, predicted, schema.classes, schema.benign_index),
    }
    surrogate = None
    if config.evaluate.robustness.enabled:  # what the white-box attacks will be crafted on
        surrogate_started = time.perf_counter()
        taught = dataclasses.replace(splits, y_train=_verdicts(estimator, points), y_val=_verdicts(estimator, validation))
        surrogate = train_classifier(schema, taught, SURROGATE_MODEL, config.train, show_progress=False).model
        record["surrogate"] = {"model": SURROGATE_MODEL.model_dump(), "seconds": time.perf_counter() - surrogate_started,
                               "agreement_on_validation": float((predict_classes(surrogate, splits.x_val) == taught.y_val).mean())}
    run.invalidate_after("train")
    onnx.save(trees, str(run.tree_model))
    if surrogate is not None:
        save_weights(surrogate, run.surrogate)
    write_json(run.train_record, record)
    return record


def _verdicts(estimator, points: np.ndarray) -> np.ndarray:
    return estimator.predict(points).astype(np.int64) if len(points) else np.zeros(0, dtype=np.int64)
