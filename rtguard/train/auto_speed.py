"""`--auto-speed`: time each speed setting this machine offers for a few steps and keep the fastest that keeps quality.

Whether bf16, torch.compile or more threads help depends on the processor, the model and
how busy the machine is, so it is measured, never assumed: every candidate trains the same
initial weights on the same batches with the loop's own step (rtguard/train/loop.py). fp32
eager with the configured threads is the baseline; a candidate replaces it only when its
validation loss stays within `tolerance` of the baseline's and its projected training time
is at least `min_gain` shorter, so the choice is never slower than fp32 eager as measured.
"""

from __future__ import annotations

import copy
import itertools
import os
import time

import torch
import torch.nn.functional as F

from rtguard.config import ModelConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.models import build_model
from rtguard.train.loop import Shard, Trainer, cross_entropy, predict_logits
from rtguard.train.speed import TrainingError, resolve_speed


def candidates(config: TrainConfig) -> list[dict]:
    """fp32 eager with the configured threads first (the baseline), then the precisions the device runs,
    compile on and off, and all cores instead of the configured threads."""
    device = resolve_speed(config.model_copy(update={"precision": "fp32"})).device
    precisions = ["fp32", "bf16"] if device == "cpu" else ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    compiles = [False, True] if config.auto_speed.compile else [False]
    configured = config.threads or os.cpu_count() or 1
    threads = [configured] + ([os.cpu_count()] if device == "cpu" and os.cpu_count() not in (None, configured) else [])
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
    batches = timing_batches(len(splits.x_train), config.batch_size, 2 * steps, config.seed)
    threads_before = torch.get_num_threads()
    measured = []
    try:
        for settings in candidates(config):
            measured.append(measure_candidate(settings, copy.deepcopy(initial), objective, splits, config, batches))
    finally:
        torch.set_num_threads(threads_before)
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


def timing_batches(n_rows: int, batch_size: int, count: int, seed: int) -> list[torch.Tensor]:
    """`count` full batches of row indices: a smaller last batch would make compile recompile inside the timing."""
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed))
    size = min(batch_size, n_rows)
    looped = order.repeat(-(-count * size // n_rows))
    return [looped[i * size : (i + 1) * size] for i in range(count)]


def measure_candidate(settings: dict, model, objective, splits: Splits, config: TrainConfig, batches: list[torch.Tensor]) -> dict:
    """Warm-up steps (compilation happens here), then timed steps; validation loss after both, computed in fp32."""
    entry = dict(settings)
    try:
        speed = resolve_speed(config.model_copy(update=settings))
        torch.set_num_threads(speed.threads)
        model.to(speed.device).train()
        trainer = Trainer(model, objective, torch.from_numpy(splits.x_train), speed, Shard(), config.learning_rate, config.weight_decay)
        half = len(batches) // 2
        started = time.perf_counter()
        for batch in batches[:half]:
            trainer.step(batch)
        _synchronize(speed.device)
        warm = time.perf_counter()
        for batch in batches[half:]:
            trainer.step(batch)
        _synchronize(speed.device)
        timed = time.perf_counter() - warm
    except Exception as exc:  # noqa: BLE001  a setting this machine cannot run (e.g. compile without a compiler) is recorded, not fatal
        return {**entry, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
    logits = predict_logits(model, splits.x_val)
    rate = sum(len(b) for b in batches[half:]) / timed
    entry.update({
        "samples_per_s": rate,
        "one_time_s": max(0.0, warm - started - sum(len(b) for b in batches[:half]) / rate),  # compilation, mostly
        "val_loss": float(F.cross_entropy(logits, torch.from_numpy(splits.y_val))),
    })
    model.cpu()
    return entry


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
