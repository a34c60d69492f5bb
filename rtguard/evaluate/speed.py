"""Latency and throughput, measured side by side.

Variants take turns in rounds instead of one after another, so a burst of load from
a neighbour on a shared machine hits all of them alike and the ratios stay honest. The
order of turns rotates every round: whoever runs right after the PyTorch baseline (or
any other neighbour) pays for its cache and thread wake-up only one round in N.
"""

from __future__ import annotations

import time

import numpy as np

from rich.progress import Progress

from rtguard.config import EvaluateConfig
from rtguard.evaluate.predictors import Predictor

ROUNDS = 10
# Batch sizes of the throughput sweep (besides the configured one): one flow at a time,
# a small micro-batch, and the sizes a bulk scorer uses.
SWEEP_BATCHES = (1, 16, 256, 1024)
WARMUP_SECONDS = 0.05  # per predictor and batch size: allocators, thread pools and caches settle


def _turns(predictors: list[Predictor], round_index: int) -> list[Predictor]:
    shift = round_index % len(predictors)
    return predictors[shift:] + predictors[:shift]


def measure_latency(predictors: list[Predictor], rows: np.ndarray, calls: int, warmup: int, on_round=lambda: None) -> dict[str, dict]:
    """Batch-1 latency per predictor: p50/p99/mean over `calls` timed calls after warm-up."""
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(len(rows), calls))]
    for predictor in predictors:
        for i in range(warmup):
            predictor.predict(singles[i % len(singles)])
    timings: dict[str, list[int]] = {p.name: [] for p in predictors}
    per_round = -(-calls // ROUNDS)
    for round_index in range(ROUNDS):
        for predictor in _turns(predictors, round_index):
            for i in range(round_index * per_round, min(calls, (round_index + 1) * per_round)):
                row = singles[i % len(singles)]
                started = time.perf_counter_ns()
                predictor.predict(row)
                timings[predictor.name].append(time.perf_counter_ns() - started)
        on_round()
    return {name: _latency_summary(np.array(ns) / 1e6) for name, ns in timings.items()}


def _latency_summary(ms: np.ndarray) -> dict:
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "latency_mean_ms": float(ms.mean()),
        "latency_calls": int(len(ms)),
    }


def measure_throughput(predictors: list[Predictor], rows: np.ndarray, batches: list[int], seconds: float,
                       on_round=lambda: None) -> dict[str, dict[int, float]]:
    """Rows per second at each batch size; `seconds` of calls per predictor in total, shared by the batch sizes.

    Every round visits every batch size and every predictor, so the sweep shares the noise too,
    and a sweep costs no more time than one batch size did.
    """
    blocks = {batch: np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1]))) for batch in batches}
    for predictor in predictors:
        for block in blocks.values():
            warm_until = time.perf_counter() + min(WARMUP_SECONDS, seconds / ROUNDS)
            predictor.predict(block)  # at least once: the first call allocates
            while time.perf_counter() < warm_until:
                predictor.predict(block)
    busy = {(p.name, batch): 0.0 for p in predictors for batch in batches}
    done = dict.fromkeys(busy, 0)
    for round_index in range(ROUNDS):
        for batch, block in blocks.items():
            for predictor in _turns(predictors, round_index):
                key = (predictor.name, batch)
                deadline = time.perf_counter() + seconds / ROUNDS / len(batches)
                while True:
                    started = time.perf_counter()
                    predictor.predict(block)
                    busy[key] += time.perf_counter() - started
                    done[key] += 1
                    if time.perf_counter() >= deadline:
                        break
        on_round()
    return {p.name: {batch: done[(p.name, batch)] * batch / busy[(p.name, batch)] for batch in batches} for p in predictors}


def measure_speed(predictors: list[Predictor], rows: np.ndarray, settings: EvaluateConfig, progress: Progress) -> dict[str, dict]:
    """Batch-1 latency, then the throughput sweep, each with its progress bar: the speed and footprint keys of metrics.json."""
    latency_task = progress.add_task(f"latency, batch 1 ({settings.latency_calls} calls each)", total=ROUNDS)
    latency = measure_latency(predictors, rows, settings.latency_calls, settings.warmup_calls, lambda: progress.advance(latency_task))
    batches = sorted({*SWEEP_BATCHES, settings.throughput_batch})
    throughput_task = progress.add_task(f"throughput, batches {', '.join(map(str, batches))}", total=ROUNDS)
    throughput = measure_throughput(predictors, rows, batches, settings.throughput_seconds, lambda: progress.advance(throughput_task))
    return {
        p.name: {
            **latency[p.name],
            "throughput_per_s": throughput[p.name][settings.throughput_batch],
            "throughput_batch": settings.throughput_batch,
            "throughput_by_batch": {str(size): rate for size, rate in throughput[p.name].items()},
            "file_bytes": p.file_bytes,
            "load_seconds": p.load_seconds,
            "runtime": p.runtime,
        }
        for p in predictors
    }
