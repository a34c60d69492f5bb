"""`--auto-speed`: time each speed setting this machine offers for a few steps and keep the fastest that keeps quality.

Whether bf16, torch.compile or more threads help depends on the processor, the model and
how busy the machine is, so it is measured, never assumed: every candidate trains the same
initial weights on the same batches with the loop's own step (rtguard/train/loop.py), warmed
up once, then timed in rounds taken in turns (the median counts), as evaluate times variants. fp32
eager with the configured threads is the baseline; a candidate replaces it only when its
validation loss stays within `tolerance` of the baseline's and its projected training time
is at least `min_gain` shorter, so the choice is never slower than fp32 eager as measured.
"""

from __future__ import annotations

import copy
import itertools
import statistics
import time

import torch
import torch.nn.functional as F

from rtguard.compute import default_threads
from rtguard.config import ModelConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.models import build_model
from rtguard.train.loop import Shard, Trainer, cross_entropy, predict_logits
from rtguard.train.speed import TrainingError, resolve_speed

ROUNDS = 3  # timed rounds per candidate, taken in turns; the median rate counts


def candidates(config: TrainConfig) -> list[dict]:
    """fp32 eager with the configured threads first (the baseline), then the precisions the device runs,
    compile on and off, and all cores instead of the configured threads."""
    device = resolve_speed(config.model_copy(update={"precision": "fp32"})).device
    precisions = ["fp32", "bf16"] if device == "cpu" else ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    compiles = [False, True] if config.auto_speed.compile else [False]
    configured, every_core = default_threads(config.threads), default_threads()
    threads = [configured] + ([every_core] if device == "cpu" and every_core != configured else [])
    return [{"precision": p, "compile": c, "threads": t} for p, c, t in itertools.product(precisions, compiles, threads)]


def choose_speed(schema: FeatureSchema, splits: Splits, model_config: ModelConfig, config: TrainConfig,
                 shard: Shard = Shard()) -> tuple[TrainConfig, dict]:
    """The training config with the chosen speed settings, and the measurements behind the choice (for train.json)."""
    if shard.world > 1:
        raise TrainingError("--auto-speed measures one process: run it without --nproc, then train with the settings it recorded")
    torch.manual_seed(config.seed)
    initial = build_model(schema, model_config)
    objective = cross_entropy(splits.y_train, len(schema.classes), config.class_weighting)
    steps = config.auto_speed.steps
    measured = measure_settings(candidates(config), initial, objective, splits, config, steps)
    baseline = measured[0]
    epoch_rows = len(splits.x_train)
    for entry in measured:
        if "error" in entry:
            continue
        entry["projected_s"] = entry["one_time_s"] + config.epochs * epoch_rows / entry["samples_per_s"]
        entry["keeps_quality"] = abs(entry["val_loss"] - baseline["val_loss"]) <= config.auto_speed.tolerance * baseline["val_loss"]
    qualified = [e for e in measured if e.get("keeps_quality") and e["projected_s"] * (1 + config.auto_speed.min_gain) <= baseline["projected_s"]]
    chosen = min(qualified, key=lambda e: e["projected_s"]) if qualified else baseline
    settings = {key: chosen[key] for key in ("precision", "compile", "threads")}
    reason = ("fp32 eager: no other setting was both within the quality tolerance and "
              f"{config.auto_speed.min_gain:.0%} faster" if chosen is baseline else
              f"{baseline['projected_s'] / chosen['projected_s']:.2f}x faster than fp32 eager (projected over {config.epochs} epochs), "
              f"validation loss {chosen['val_loss']:.4f} vs {baseline['val_loss']:.4f}")
    return config.model_copy(update=settings), {"chosen": settings, "reason": reason, "steps": steps, "candidates": measured}


def measure_settings(settings: list[dict], initial, objective, splits: Splits, config: TrainConfig, steps: int,
                     rounds: int = ROUNDS) -> list[dict]:
    """Each setting from the same weights on the same `steps` batches: warmed up once, then timed
    `rounds` times in turns, the order rotating (a busy neighbour slows every setting alike)."""
    batches = timing_batches(len(splits.x_train), config.batch_size, steps, config.seed)
    threads_before = torch.get_num_threads()
    try:
        runs = [_Candidate(chosen, copy.deepcopy(initial), objective, splits, config, batches) for chosen in settings]
        ready = [run for run in runs if "error" not in run.entry]
        for round_index in range(rounds):
            shift = round_index % max(len(ready), 1)
            for run in ready[shift:] + ready[:shift]:
                run.time_steps(batches)
        return [run.finish(splits) for run in runs]
    finally:
        torch.set_num_threads(threads_before)


def timing_batches(n_rows: int, batch_size: int, count: int, seed: int) -> list[torch.Tensor]:
    """`count` full batches of row indices: a smaller last batch would make compile recompile inside the timing."""
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed))
    size = min(batch_size, n_rows)
    looped = order.repeat(-(-count * size // n_rows))
    return [looped[i * size : (i + 1) * size] for i in range(count)]


class _Candidate:
    """One speed setting: set up and warmed up on `batches` (compilation happens there), then timed in rounds."""

    def __init__(self, settings: dict, model, objective, splits: Splits, config: TrainConfig, batches: list[torch.Tensor]):
        self.entry, self.model, self.rates = dict(settings), model, []
        self.rows = sum(len(b) for b in batches)
        try:
            self.speed = resolve_speed(config.model_copy(update=settings))
            torch.set_num_threads(self.speed.threads)
            model.to(self.speed.device).train()
            self.trainer = Trainer(model, objective, torch.from_numpy(splits.x_train), self.speed, Shard(),
                                   config.learning_rate, config.weight_decay)
            self.warm_up_s = self._steps(batches)
        except Exception as exc:
            self.entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]

    def time_steps(self, batches: list[torch.Tensor]) -> None:
        torch.set_num_threads(self.speed.threads)
        self.rates.append(self.rows / self._steps(batches))

    def finish(self, splits: Splits) -> dict:
        """The median rate of the rounds, the one-time cost, and the validation loss after every step (in fp32)."""
        if "error" in self.entry:
            return self.entry
        rate = statistics.median(self.rates)
        logits = predict_logits(self.model, splits.x_val)
        self.model.cpu()
        return {**self.entry, "samples_per_s": rate, "round_rates": self.rates,
                "one_time_s": max(0.0, self.warm_up_s - self.rows / rate),  # compilation, mostly
                "val_loss": float(F.cross_entropy(logits, torch.from_numpy(splits.y_val)))}

    def _steps(self, batches: list[torch.Tensor]) -> float:
        """Seconds for one step per batch, the device's queue drained."""
        started = time.perf_counter()
        for batch in batches:
            self.trainer.step(batch)
        _synchronize(self.speed.device)
        return time.perf_counter() - started


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
