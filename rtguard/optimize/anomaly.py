"""Recipes of the anomaly task: the classifiers' passes where they apply, every one ending in the calibrated threshold.

onnx-fp32, int8-dynamic, int8-static(-entropy/-percentile) and fp16 are the same passes
as for classifiers, applied to the reference detector's export. The other detectors
(autoencoder, kitnet) are trained beside it on the same benign rows, as a model pass,
and go through the same parity-checked export; isolation-forest replaces the network by
a scikit-learn forest. pruned-<percent> prunes the autoencoder as it prunes a classifier (its
output layer, as wide as the input it reconstructs, kept) and fine-tunes it on reconstruction
(rtguard/train/anomaly.py) with the reference's schedule. Which names apply to this task, and
why the others (KitNET pruning, recipes that need a classifier) are refused, is the variant
catalog's (rtguard/catalog.py); this module says how each that applies is built.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
from torch import nn

from rtguard import catalog
from rtguard.config import AnomalyConfig, RunConfig
from rtguard.errors import ConfigError
from rtguard.optimize.anomaly_forest import IsolationForestPass
from rtguard.optimize.anomaly_head import CalibratedThreshold
from rtguard.optimize.graph import GraphOptimization
from rtguard.optimize.passes import ModelPass, OnnxPass, PassContext
from rtguard.optimize.recipes import Recipe, recipe
from rtguard.optimize.regions import preprocessing_nodes
from rtguard.train.anomaly import train_detector


class TrainDetector(AnomalyConfig, ModelPass):
    """Train another detector (`detector`) on the run's benign training rows; the model handed in is not used."""

    name: ClassVar[str] = "train-detector"

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        result = train_detector(context.schema, context.splits, self, context.train_config)
        record = result.record
        return result.model, {"detector": self.detector, "epochs_run": record["epochs_run"], "best_epoch": record["best_epoch"],
                              "train_seconds": record["wall_time_s"], "train_rows": record["train_rows"],
                              "validation_macro_f1": record["validation"]["macro_f1"]}


def anomaly_recipe(name: str, config: RunConfig) -> Recipe:
    """The recipe a variant name stands for in an anomaly run; a name the catalog refuses here is an error with its reason."""
    reason = catalog.refusal(name, "anomaly", config.anomaly.detector)
    if reason:
        raise ConfigError(reason)
    head = CalibratedThreshold(target_fpr=config.anomaly.target_fpr)
    if name in catalog.DETECTORS:
        detector = TrainDetector(**config.anomaly.model_dump() | {"detector": name})
        return Recipe([GraphOptimization(), head], [detector])
    if name == "isolation-forest":
        forest = IsolationForestPass(trees=config.anomaly.forest_trees, samples=config.anomaly.forest_samples,
                                     seed=config.train.seed, opset=config.optimize.opset)
        return Recipe([forest, head])
    classifier_recipe = recipe(name, config.optimize)
    model_passes = classifier_recipe.model_passes
    if catalog.PRUNED_VARIANT.fullmatch(name):
        # The detector's own schedule, not optimize.pruning's few classifier epochs: a halved bottleneck leaves a decoder
        # that must relearn the code (3 epochs at 5e-4 left the default data's validation loss 7x the reference's).
        detector = {"objective": "reconstruction", "benign_rows": config.anomaly.max_train_rows,
                    "finetune_epochs": config.train.epochs, "learning_rate": config.train.learning_rate}
        model_passes = [step.model_copy(update=detector) for step in model_passes]
    first = [UnshareConstants()] if name == "fp16" else []
    return Recipe([*first, *classifier_recipe.onnx_passes, head], model_passes)


class UnshareConstants(OnnxPass):
    """Give the network its own copy of every constant it shares with the preprocessing.

    The FP16 pass cuts the graph where preprocessing ends and rebuilds it from both halves; a
    constant both halves read (a detector's score reuses the preprocessing's axes) would then be
    defined twice, once in float16 if it is a float.
    """

    name: ClassVar[str] = "unshare-constants"

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        model = onnx.load(str(source))
        graph = model.graph
        preprocessing = set(preprocessing_nodes(graph))
        constants = {tensor.name: tensor for tensor in graph.initializer}
        shared = {name for node in graph.node if node.name in preprocessing for name in node.input if name in constants}
        copies: dict[str, str] = {}
        for node in graph.node:
            if node.name not in preprocessing:
                node.input[:] = [copies.setdefault(name, f"{name}_network") if name in shared else name for name in node.input]
        for name, copy_name in copies.items():
            tensor = onnx.TensorProto()
            tensor.CopyFrom(constants[name])
            tensor.name = copy_name
            graph.initializer.append(tensor)
        onnx.save(model, str(target))
        return {"copied": sorted(copies)}


def with_validation_calibration(context: PassContext, samples: int, seed: int) -> PassContext:
    """Static INT8 calibrated on validation rows, benign and attack: the training rows are benign only, and
    activation ranges fitted on them alone would clip exactly the flows the detector must flag."""
    splits = context.splits
    chosen = np.random.default_rng(seed).choice(len(splits.x_val), min(samples, len(splits.x_val)), replace=False)
    return dataclasses.replace(context, calibration=splits.x_val[chosen], calibration_labels=splits.y_val[chosen])
