"""Train an anomaly detector on benign flows only, and record what training cost.

Its own small loop: the classifiers' `fit` stops early on macro-F1 over labelled
classes, which a model of normal traffic does not have. This one minimizes the
reconstruction error of benign training flows and keeps the epoch with the lowest
error on benign validation flows (attack rows never steer training).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rtguard.artifact import calibrate_threshold
from rtguard.compute import default_threads, in_chunks
from rtguard.config import AnomalyConfig, RunConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.anomaly import decision_metrics, detector_scores
from rtguard.models import save_weights
from rtguard.models.autoencoder import ERROR_FLOOR, MIN_SPAN, KitNet, build_detector, correlated_groups
from rtguard.runfolder import RunFolder, write_json

EVAL_BATCH = 8192
# An epoch counts as progress only when it lowers the benign validation loss by this share: a reconstruction
# loss creeps down for many epochs after the detector stopped changing what it flags.
MIN_RELATIVE_GAIN = 0.01


@dataclass
class DetectorResult:
    model: nn.Module
    record: dict  # written as train.json


def train_detector(schema: FeatureSchema, splits: Splits, config: AnomalyConfig, train: TrainConfig) -> DetectorResult:
    """Fit `config.detector` on the benign training rows; the record includes validation at the calibrated threshold."""
    threads = _use_threads(train)
    torch.manual_seed(train.seed)
    rows = benign_training_rows(splits, config.max_train_rows, train.seed)
    benign_val = splits.x_val[splits.y_val == 0]
    started = time.perf_counter()
    if config.detector == "kitnet":
        model, history = _train_kitnet(schema, rows, benign_val, config, train)
    else:
        model = build_detector(schema, config)
        history = fit_reconstruction(model, model.parameters(), lambda m, x: m.loss(x), rows, benign_val, train)
    wall = time.perf_counter() - started
    model.eval()

    threshold = calibrate_threshold(detector_scores(model, benign_val), config.target_fpr)
    validation = decision_metrics(splits.y_val, detector_scores(model, splits.x_val) >= threshold)
    best = [entry for entry in history if entry.get("kept")][-1]  # of the last stage (KitNET trains in two)
    return DetectorResult(model=model, record={
        "task": "anomaly",
        "detector": config.detector,
        "wall_time_s": wall,
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "samples_per_s": len(rows) * len(history) / wall,
        "train_rows": int(len(rows)),
        "threshold": threshold,
        "target_fpr": config.target_fpr,
        "validation": validation,
        "time_to_target": {"target": None, "seconds": None},  # a classifier's macro-F1 target; a detector has none
        "history": history,
        "settings": {"device": "cpu", "precision": "fp32", "compile": False, "processes": 1, "threads": threads, "batch_size": train.batch_size,
                     "learning_rate": train.learning_rate, "weight_decay": train.weight_decay, "seed": train.seed,
                     "benign_only": True, "torch": torch.__version__},
    })


def train_anomaly_run(run: RunFolder, schema: FeatureSchema, splits: Splits, config: RunConfig) -> dict:
    """The train stage of an anomaly run: model.safetensors (KitNET's feature groups included) and train.json."""
    result = train_detector(schema, splits, config.anomaly, config.train)
    run.invalidate_after("train")
    save_weights(result.model, run.weights)
    write_json(run.train_record, result.record)
    return result.record


def fine_tune_detector(model: nn.Module, splits: Splits, train: TrainConfig, benign_rows: int | None,
                       epochs: int, learning_rate: float) -> dict:
    """Retrain a changed (pruned) autoencoder from its weights, by the same loop on the loss and rows it was trained on."""
    _use_threads(train)
    rows = benign_training_rows(splits, benign_rows, train.seed)
    settings = train.model_copy(update={"epochs": epochs, "learning_rate": learning_rate})
    started = time.perf_counter()
    history = fit_reconstruction(model, model.parameters(), lambda m, x: m.loss(x), rows, splits.x_val[splits.y_val == 0], settings)
    model.eval()
    best = next(entry for entry in history if entry.get("kept"))
    return {"epochs_run": len(history), "best_epoch": best["epoch"], "train_seconds": time.perf_counter() - started,
            "train_rows": int(len(rows)), "validation_loss": best["val_loss"]}


def _use_threads(train: TrainConfig) -> int:
    threads = default_threads(train.threads)
    torch.set_num_threads(threads)
    return threads


def benign_training_rows(splits: Splits, limit: int | None, seed: int) -> np.ndarray:
    """The benign training rows (the anomaly data stage already dropped the attacks), at most `limit` of them."""
    rows = splits.x_train[splits.y_train == 0]
    if limit is not None and len(rows) > limit:
        rows = rows[np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))]
    return rows


def _train_kitnet(schema: FeatureSchema, rows: np.ndarray, benign_val: np.ndarray, config: AnomalyConfig,
                  train: TrainConfig) -> tuple[KitNet, list[dict]]:
    """Map features to groups, scale them, train the ensemble, scale its log errors, then train the output layer."""
    probe = build_detector(schema, config.model_copy(update={"detector": "autoencoder"}))
    with torch.no_grad():
        points = probe.preprocess(torch.from_numpy(rows[:EVAL_BATCH])).numpy()
    model = build_detector(schema, config, correlated_groups(points, config.max_group_size))
    train = train.model_copy(update={"epochs": config.kitnet_epochs})
    with torch.no_grad():
        points = _in_chunks(model.preprocess, rows)
        low, high = points.min(dim=0).values, points.max(dim=0).values
        model.feature_low.copy_(low)
        model.feature_span.copy_((high - low).clamp(min=MIN_SPAN))
    ensemble_loss = lambda m, x: m.group_errors(x).mean()  # noqa: E731
    history = [{"stage": "ensemble", **entry} for entry in fit_reconstruction(model, model.ensemble.parameters(), ensemble_loss, rows, benign_val, train)]
    with torch.no_grad():
        errors = torch.log(_in_chunks(model.group_errors, rows) + ERROR_FLOOR)
        low, high = errors.min(dim=0).values, errors.max(dim=0).values
        model.error_low.copy_(low)
        model.error_span.copy_((high - low).clamp(min=MIN_SPAN))
    output_loss = lambda m, x: m.score(x).mean()  # noqa: E731
    history += [{"stage": "output", **entry} for entry in fit_reconstruction(model, model.output.parameters(), output_loss, rows, benign_val, train)]
    return model, history


def fit_reconstruction(model: nn.Module, parameters, loss: Callable[[nn.Module, torch.Tensor], torch.Tensor],
                       rows: np.ndarray, benign_val: np.ndarray, config: TrainConfig) -> list[dict]:
    """AdamW on `loss` over `parameters`; the last epoch that lowered the benign validation loss by MIN_RELATIVE_GAIN is kept."""
    generator = torch.Generator().manual_seed(config.seed)
    x_train, x_val = torch.from_numpy(rows), torch.from_numpy(benign_val)
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    best_loss, best_state, best_epoch, history = float("inf"), None, 0, []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            value = loss(model, x_train[batch])
            value.backward()
            optimizer.step()
            total += float(value.detach()) * len(batch)
        model.eval()
        with torch.no_grad():
            val_loss = (float(in_chunks(lambda part: loss(model, part) * len(part), x_val, EVAL_BATCH, join=sum) / len(x_val))
                        if len(x_val) else 0.0)
        history.append({"epoch": epoch, "loss": total / len(order), "val_loss": val_loss})
        if val_loss < best_loss * (1 - MIN_RELATIVE_GAIN):
            best_loss, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        if epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    history[best_epoch - 1]["kept"] = True
    return history


def _in_chunks(function, rows: np.ndarray) -> torch.Tensor:
    return in_chunks(lambda part: function(torch.from_numpy(part)), rows, EVAL_BATCH, join=torch.cat)
