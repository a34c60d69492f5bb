"""Latency and throughput, measured side by side.

Variants take turns in rounds instead of one after another, so a burst of load from
a neighbour on a shared machine hits all of them alike and the ratios stay honest.
"""

from __future__ import annotations

import time

import numpy as np

from rtguard.evaluate.predictors import Predictor

ROUNDS = 10


def measure_latency(predictors: list[Predictor], rows: np.ndarray, calls: int, warmup: int, on_round=lambda: None) -> dict[str, dict]:
    """Batch-1 latency per predictor: p50/p99/mean over `calls` timed calls after warm-up."""
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(len(rows), calls))]
    for predictor in predictors:
        for i in range(warmup):
            predictor.predict(singles[i % len(singles)])
    timings: dict[str, list[int]] = {p.name: [] for p in predictors}
    per_round = -(-calls // ROUNDS)
    for round_index in range(ROUNDS):
        for predictor in predictors:
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


def measure_throughput(predictors: list[Predictor], rows: np.ndarray, batch: int, seconds: float, on_round=lambda: None) -> dict[str, dict]:
    """Samples per second at a fixed batch size, `seconds` of calls per predictor in total."""
    block = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])))
    for predictor in predictors:
        predictor.predict(block)  # warm-up: first call allocates
    busy = {p.name: 0.0 for p in predictors}
    done = {p.name: 0 for p in predictors}
    for _ in range(ROUNDS):
        for predictor in predictors:
            deadline = time.perf_counter() + seconds / ROUNDS
            while True:
                started = time.perf_counter()
                predictor.predict(block)
                busy[predictor.name] += time.perf_counter() - started
                done[predictor.name] += 1
                if time.perf_counter() >= deadline:
                    break
        on_round()
    return {name: {"throughput_per_s": done[name] * batch / busy[name], "throughput_batch": batch} for name in busy}
