"""Train a classifier and record what training cost.

Tabular data lives in memory as tensors; each epoch is a permutation sliced into
batches, so the hot loop has no per-sample Python work. One loop (`fit`) serves the
reference model and every variant that needs training (fine-tuning after pruning,
distillation, quantization-aware training), so all are timed and early-stopped alike.

Speed options (rtguard/train/speed.py) change how a step runs, never what it computes:
autocast precision, torch.compile, gradient accumulation and data parallelism all split or
run the same effective batch, and each micro-batch's loss is weighted by its share of the
batch's total loss weight, so 1 process or 2, 1 micro-batch or 4, give the same update up to
floating-point noise.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtguard.compute import in_chunks
from rtguard.config import ModelConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.quality import quality_metrics
from rtguard.evaluate.threat_model import ThreatModel
from rtguard.models import build_model
from rtguard.progress import progress_bars
from rtguard.train.adversarial import adversarial_objective
from rtguard.train.checkpoints import load_latest, save_checkpoint
from rtguard.train.objective import Objective
from rtguard.train.speed import Speed, TrainingError, resolve_speed

EVAL_BATCH = 8192


@dataclass(frozen=True)
class Shard:
    """This process's part of data-parallel training: rank `rank` of `world` (1 process: 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0  # which GPU of this machine

    @property
    def writes(self) -> bool:
        """Rank 0 alone writes checkpoints, weights and records."""
        return self.rank == 0


@dataclass
class TrainResult:
    model: nn.Module
    record: dict  # written as train.json


def train_classifier(schema: FeatureSchema, splits: Splits, model_config: ModelConfig, config: TrainConfig,
                     show_progress: bool = True, threat: ThreatModel | None = None, shard: Shard = Shard(),
                     checkpoints: Path | None = None, resume: bool = False) -> TrainResult:
    """AdamW with class weighting; early stopping on validation macro-F1; best epoch kept.

    With train.adversarial set, the attack flows of each batch are also attacked inside `threat`.
    `checkpoints`: folder for a checkpoint after every epoch; `resume` continues from the latest there.
    """
    torch.manual_seed(config.seed)
    model = build_model(schema, model_config)
    objective = cross_entropy(splits.y_train, len(schema.classes), config.class_weighting)
    if config.adversarial.method != "none":
        objective = adversarial_objective(model, objective, splits.x_train, splits.y_train, threat, config.adversarial, schema.benign_index)
    record = fit(model, schema, splits, config, objective, show_progress=show_progress, shard=shard,
                 checkpoints=checkpoints, resume=resume)
    record["settings"]["adversarial"] = config.adversarial.model_dump()
    return TrainResult(model=model, record=record)


class WeightedCrossEntropy:
    """Class-weighted cross-entropy against the training labels; `row_weights` lets the loop split a batch exactly."""

    def __init__(self, labels: np.ndarray, n_classes: int, weighting: str):
        self.targets = torch.from_numpy(labels)
        self.weight = class_weights(labels, n_classes, weighting)
        self.row_weights = torch.ones(len(labels)) if self.weight is None else self.weight[self.targets]

    def __call__(self, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.to(logits.device)
        return nn.functional.cross_entropy(logits, self.targets[rows].to(logits.device), weight=weight)


def cross_entropy(labels: np.ndarray, n_classes: int, weighting: str) -> Objective:
    """Class-weighted cross-entropy against the training labels."""
    return WeightedCrossEntropy(labels, n_classes, weighting)


class Trainer:
    """One optimizer step on one effective batch, however the step is split (processes, micro-batches).

    Rank r of W takes rows r, r+W, ... of each batch, as DistributedSampler would over the epoch's
    permutation; its micro-batches are weighted by their share of the whole batch's loss weight
    (times W, since DDP averages gradients over ranks), so the summed gradient is the gradient of
    the whole batch's weighted mean, the loss a single process computes.
    """

    def __init__(self, model: nn.Module, objective: Objective, x_train: torch.Tensor, speed: Speed, shard: Shard,
                 learning_rate: float, weight_decay: float):
        self.model, self.objective, self.speed, self.shard = model, objective, speed, shard
        self.x_train = x_train.to(speed.device)
        self.row_weights = getattr(objective, "row_weights", None)
        if self.row_weights is None:
            self.row_weights = torch.ones(len(x_train))
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        self.scaler = speed.grad_scaler()
        self.parallel = model
        if shard.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            on_cuda = speed.device.startswith("cuda")
            self.parallel = DistributedDataParallel(model, device_ids=[shard.local_rank] if on_cuda else None)
        self.forward = torch.compile(self.parallel) if speed.compile else self.parallel

    def step(self, batch: torch.Tensor) -> float:
        """Update on `batch` (row indices); return the batch's loss."""
        total_weight = self.row_weights[batch].sum()
        micro_batches = torch.tensor_split(batch[self.shard.rank :: self.shard.world], self.speed.accumulation_steps)
        self.optimizer.zero_grad(set_to_none=True)
        batch_loss = 0.0
        for index, rows in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            with nullcontext() if last or self.parallel is self.model else self.parallel.no_sync():
                with self.speed.autocast():
                    logits = self.forward(self.x_train[rows.to(self.speed.device)])
                share = self.row_weights[rows].sum() / total_weight
                loss = self.objective(logits.float(), rows) * share.to(logits.device)
                self.scaler.scale(loss * self.shard.world).backward()
            batch_loss += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return batch_loss * self.shard.world  # with several processes: the batch loss estimated from this one's rows


def fit(model: nn.Module, schema: FeatureSchema, splits: Splits, config: TrainConfig, objective: Objective,
        epochs: int | None = None, learning_rate: float | None = None, show_progress: bool = False,
        shard: Shard = Shard(), checkpoints: Path | None = None, resume: bool = False) -> dict:
    """Train `model` in place on `objective`; keep the epoch best on train.monitor; return the record.

    The monitor is validation loss by default: class-weighted cross-entropy on the validation rows,
    which keeps moving after validation macro-F1 has saturated (NSL-KDD's sat at 0.997 from epoch 3,
    so the epoch "best" on it was the first of a tie, and the seed, not the data, picked the model).
    Under train.schedule = "cosine" the step size decays from `learning_rate` over `epochs`, set per
    epoch from its number alone, so a resumed run follows the same schedule.
    The model comes back on the CPU whatever device trained it.
    """
    epochs = epochs or config.epochs
    learning_rate = learning_rate or config.learning_rate
    speed = resolve_speed(config, shard.local_rank)
    torch.set_num_threads(speed.threads)
    n_rows, rows_per_step = len(splits.x_train), shard.world * speed.accumulation_steps
    if min(n_rows, config.batch_size) < rows_per_step:
        raise TrainingError(f"{shard.world} processes x {speed.accumulation_steps} micro-batches need at least "
                            f"{rows_per_step} rows per batch, but batch_size is {config.batch_size} and the training split "
                            f"has {n_rows} rows: use fewer processes or accumulation steps, or a larger batch")
    model.to(speed.device)
    trainer = Trainer(model, objective, torch.from_numpy(splits.x_train), speed, shard, learning_rate, config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    # what a checkpoint carries besides tensors; `seen` counts rows trained on by all processes together
    state = {"epoch": 0, "best_score": -np.inf, "best_epoch": 0, "history": [], "elapsed_s": 0.0, "seen": 0, "dropped": 0}
    validation_loss = WeightedCrossEntropy(splits.y_val, len(schema.classes), "none")
    validation_loss.weight = class_weights(splits.y_train, len(schema.classes), config.class_weighting)  # the training loss's weights
    best_state = _resume(checkpoints, model, trainer.optimizer, generator, state, n_rows) if resume else None
    started = time.perf_counter() - state["elapsed_s"]
    with progress_bars(show_progress and shard.writes, "epochs", status=True) as progress:
        task = progress.add_task("training", total=epochs, completed=state["epoch"], status="")
        for epoch in range(state["epoch"] + 1, epochs + 1):
            if epoch - state["best_epoch"] > config.patience:
                break  # a resumed run that had already stopped
            for group in trainer.optimizer.param_groups:
                group["lr"] = step_size(learning_rate, epoch, epochs, config.schedule)
            model.train()
            order = torch.randperm(n_rows, generator=generator)
            epoch_loss = 0.0
            for start in range(0, n_rows, config.batch_size):
                batch = order[start : start + config.batch_size]
                if len(batch) < rows_per_step:  # too few rows left to give every rank and micro-batch one
                    state["dropped"] += len(batch)
                    continue
                epoch_loss += trainer.step(batch) * len(batch)
                state["seen"] += len(batch)
            logits = predict_logits(model, splits.x_val)
            val = quality_metrics(splits.y_val, logits.argmax(dim=1).numpy(), schema.classes, schema.benign_index)
            val_loss = float(validation_loss(logits, torch.arange(len(logits))))
            state["elapsed_s"] = time.perf_counter() - started
            state["history"].append({"epoch": epoch, "loss": epoch_loss / n_rows, "val_loss": val_loss, "val_macro_f1": val["macro_f1"],
                                     "seconds": state["elapsed_s"]})
            score = -val_loss if config.monitor == "val_loss" else val["macro_f1"]
            if score > state["best_score"]:
                state["best_score"], state["best_epoch"] = score, epoch
                best_state = copy.deepcopy(model.state_dict())
            state["epoch"] = epoch
            if checkpoints is not None and shard.writes:
                _checkpoint(checkpoints, model, best_state, trainer.optimizer, generator, state, n_rows)
            progress.update(task, advance=1, status=f"loss {state['history'][-1]['loss']:.4f}  val macro-F1 {val['macro_f1']:.4f}")
            if epoch - state["best_epoch"] >= config.patience:
                break
    wall = time.perf_counter() - started

    model.load_state_dict(best_state)
    model.cpu().eval()
    val = quality_metrics(splits.y_val, predict_classes(model, splits.x_val), schema.classes, schema.benign_index)
    return {
        "wall_time_s": wall,
        "epochs_run": len(state["history"]),
        "best_epoch": state["best_epoch"],
        "samples_per_s": state["seen"] / wall,
        "train_rows": int(n_rows),
        "validation": {k: val[k] for k in ("accuracy", "macro_f1", "detection_rate", "false_positive_rate")},
        "time_to_target": time_to_target(state["history"], config),
        "history": state["history"],
        "settings": {
            **speed.record(),
            "processes": shard.world,
            "rows_dropped": state["dropped"],
            "batch_size": config.batch_size,
            "learning_rate": learning_rate,
            "schedule": config.schedule,
            "monitor": config.monitor,
            "patience": config.patience,
            "weight_decay": config.weight_decay,
            "class_weighting": config.class_weighting,
            "seed": config.seed,
            "resumed": resume,
            "torch": torch.__version__,
        },
    }


def step_size(learning_rate: float, epoch: int, epochs: int, schedule: str) -> float:
    """The step size of epoch `epoch` (1-based) of `epochs`: constant, or cosine-decayed from `learning_rate` toward 0."""
    if schedule == "constant" or epochs <= 1:
        return learning_rate
    return learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def time_to_target(history: list[dict], config: TrainConfig) -> dict:
    """Wall seconds (training and validation) until validation macro-F1 first reached the target; None if never."""
    best = max(entry["val_macro_f1"] for entry in history)
    target = config.target_macro_f1 if config.target_macro_f1 is not None else config.target_fraction * best
    reached = next((entry for entry in history if entry["val_macro_f1"] >= target), None)
    return {
        "metric": "val_macro_f1",
        "target": target,
        "rule": f"absolute {config.target_macro_f1}" if config.target_macro_f1 is not None else f"{config.target_fraction} x best {best:.4f}",
        "seconds": reached["seconds"] if reached else None,
        "epoch": reached["epoch"] if reached else None,
    }


def _checkpoint(folder: Path, model: nn.Module, best_state: dict, optimizer: torch.optim.Optimizer,
                generator: torch.Generator, state: dict, n_rows: int) -> None:
    tensors = {f"model.{key}": value for key, value in model.state_dict().items()}
    tensors |= {f"best.{key}": value for key, value in best_state.items()}
    saved = optimizer.state_dict()
    for index, moments in saved["state"].items():
        tensors |= {f"optimizer.{index}.{name}": value for name, value in moments.items()}
    tensors["generator"] = generator.get_state()
    save_checkpoint(folder, state["epoch"], tensors, {**state, "train_rows": n_rows, "param_groups": saved["param_groups"]})


def _resume(folder: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
            state: dict, n_rows: int) -> dict:
    """Load the latest verified checkpoint into model, optimizer, generator and `state`; return the best weights."""
    if folder is None:
        raise TrainingError("nothing to resume: this training writes no checkpoints")
    tensors, saved, entry = load_latest(folder)
    if saved["train_rows"] != n_rows:
        raise TrainingError(f"checkpoint {entry['file']} was written for {saved['train_rows']} training rows, the run now has "
                            f"{n_rows}: the data changed, train without --resume")
    section = lambda prefix: {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}  # noqa: E731
    model.load_state_dict(section("model."))
    moments: dict[int, dict] = {}
    for key, value in section("optimizer.").items():
        index, name = key.split(".", 1)
        moments.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": moments, "param_groups": saved.pop("param_groups")})
    generator.set_state(tensors["generator"])
    state.update({key: saved.get(key, value) for key, value in state.items()})
    return {key: value.to(next(model.parameters()).device) for key, value in section("best.").items()}


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
    device = next(model.parameters()).device
    return in_chunks(lambda part: model(torch.from_numpy(part).to(device)).cpu(), features, EVAL_BATCH, join=torch.cat)


def predict_proba(model: nn.Module, features: np.ndarray) -> np.ndarray:
    """Class probabilities in eval mode."""
    return torch.softmax(predict_logits(model, features), dim=1).numpy()


def predict_classes(model: nn.Module, features: np.ndarray) -> np.ndarray:
    return predict_proba(model, features).argmax(axis=1)
