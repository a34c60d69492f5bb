"""Train a classifier and record what training cost.

Tabular data lives in memory as tensors; each epoch is a permutation sliced into
batches, so the hot loop has no per-sample Python work. One loop (`fit`) serves the
reference model and every variant that needs training (fine-tuning after pruning,
distillation, quantization-aware training), so all are timed and early-stopped alike.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from rtguard.config import ModelConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.quality import quality_metrics
from rtguard.evaluate.threat_model import ThreatModel
from rtguard.models import build_model
from rtguard.train.adversarial import adversarial_objective

EVAL_BATCH = 8192

# (logits of a batch, the batch's row indices into the training split) -> loss
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TrainResult:
    model: nn.Module
    record: dict  # written as train.json


def train_classifier(schema: FeatureSchema, splits: Splits, model_config: ModelConfig, config: TrainConfig,
                     show_progress: bool = True, threat: ThreatModel | None = None) -> TrainResult:
    """AdamW with class weighting; early stopping on validation macro-F1; best epoch kept.

    With train.adversarial set, the attack flows of each batch are also attacked inside `threat`.
    """
    torch.manual_seed(config.seed)
    model = build_model(schema, model_config)
    objective = cross_entropy(splits.y_train, len(schema.classes), config.class_weighting)
    if config.adversarial.method != "none":
        objective = adversarial_objective(model, objective, splits.x_train, splits.y_train, threat, config.adversarial, schema.benign_index)
    record = fit(model, schema, splits, config, objective, show_progress=show_progress)
    record["settings"]["adversarial"] = config.adversarial.model_dump()
    return TrainResult(model=model, record=record)


def cross_entropy(labels: np.ndarray, n_classes: int, weighting: str) -> Objective:
    """Class-weighted cross-entropy against the training labels."""
    targets = torch.from_numpy(labels)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(labels, n_classes, weighting))
    return lambda logits, rows: loss_fn(logits, targets[rows])


def fit(model: nn.Module, schema: FeatureSchema, splits: Splits, config: TrainConfig, objective: Objective,
        epochs: int | None = None, learning_rate: float | None = None, show_progress: bool = False) -> dict:
    """Train `model` in place on `objective`; keep the epoch with the best validation macro-F1; return the record."""
    epochs = epochs or config.epochs
    learning_rate = learning_rate or config.learning_rate
    threads = config.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(config.seed)
    x_train = torch.from_numpy(splits.x_train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=config.weight_decay)

    best_f1, best_state, best_epoch, history = -1.0, None, 0, []
    started = time.perf_counter()
    seen = 0
    with _progress(show_progress) as progress:
        task = progress.add_task("training", total=epochs, status="")
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            epoch_loss = 0.0
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = objective(model(x_train[batch]), batch)
                loss.backward()
                optimizer.step()
                epoch_loss += float(loss.detach()) * len(batch)
            seen += len(order)
            val = quality_metrics(splits.y_val, predict_classes(model, splits.x_val), schema.classes, schema.benign_index)
            history.append({"epoch": epoch, "loss": epoch_loss / len(order), "val_macro_f1": val["macro_f1"]})
            if val["macro_f1"] > best_f1:
                best_f1, best_epoch, best_state = val["macro_f1"], epoch, copy.deepcopy(model.state_dict())
            progress.update(task, advance=1, status=f"loss {history[-1]['loss']:.4f}  val macro-F1 {val['macro_f1']:.4f}")
            if epoch - best_epoch >= config.patience:
                break
    wall = time.perf_counter() - started

    model.load_state_dict(best_state)
    model.eval()
    val = quality_metrics(splits.y_val, predict_classes(model, splits.x_val), schema.classes, schema.benign_index)
    return {
        "wall_time_s": wall,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "samples_per_s": seen / wall,
        "train_rows": int(len(x_train)),
        "validation": {k: val[k] for k in ("accuracy", "macro_f1", "detection_rate", "false_positive_rate")},
        "history": history,
        "settings": {
            "device": "cpu",
            "precision": "fp32",
            "threads": threads,
            "batch_size": config.batch_size,
            "learning_rate": learning_rate,
            "weight_decay": config.weight_decay,
            "class_weighting": config.class_weighting,
            "seed": config.seed,
            "torch": torch.__version__,
        },
    }


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> torch.Tensor | None:
    """Inverse-frequency weights, tempered by a square root under "sqrt".

    Full inverse frequency makes a rare attack class worth a hundred benign flows,
    which buys recall with a false-positive rate no SOC can staff; the square root
    keeps rare classes learnable at a smaller cost in false alarms.
    """
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = counts.sum() / (n_classes * np.maximum(counts, 1))
    if mode == "sqrt":
        weights = np.sqrt(weights)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


@torch.no_grad()
def predict_logits(model: nn.Module, features: np.ndarray) -> torch.Tensor:
    """Logits in eval mode, in large chunks (no_grad, not inference_mode: distillation trains against them)."""
    model.eval()
    return torch.cat([model(torch.from_numpy(features[i : i + EVAL_BATCH])) for i in range(0, len(features), EVAL_BATCH)])


def predict_proba(model: nn.Module, features: np.ndarray) -> np.ndarray:
    """Class probabilities in eval mode."""
    return torch.softmax(predict_logits(model, features), dim=1).numpy()


def predict_classes(model: nn.Module, features: np.ndarray) -> np.ndarray:
    return predict_proba(model, features).argmax(axis=1)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
        TimeElapsedColumn(), TextColumn("{task.fields[status]}"), disable=not enabled, transient=False,
    )
