"""Latency and throughput, measured side by side.

Variants take turns in rounds instead of one after another, so a burst of load from
a neighbour on a shared machine hits all of them alike and the ratios stay honest. The
order of turns rotates every round: whoever runs right after the PyTorch baseline (or
any other neighbour) pays for its cache and thread wake-up only one round in N.

Each figure keeps its spread: the lowest and highest per-round value (latency_spread_ms,
throughput_spread), and throughput keeps every round (throughput_rounds), which the choice
uses to call two contenders a tie. A contender whose
rounds disagree far more than the others' is measured again once, and a machine busier
than its cores is noted (speed_flags), so an outlier is never reported as a finding.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import numpy as np
from rich.progress import Progress

from rtguard.config import EvaluateConfig
from rtguard.evaluate.predictors import Predictor

ROUNDS = 10
# Batch sizes of the throughput sweep (besides the configured one): one flow at a time,
# a small micro-batch, and the sizes a bulk scorer uses.
SWEEP_BATCHES = (1, 16, 256, 1024)
WARMUP_SECONDS = 0.05  # per predictor and batch size: allocators, thread pools and caches settle
# A contender is an outlier when its rounds' throughput spread (highest / lowest) is this many times the median
# contender's, and at least OUTLIER_MIN_SPREAD itself.
OUTLIER_FACTOR, OUTLIER_MIN_SPREAD = 3.0, 1.5


class Rate(NamedTuple):
    """Rows per second over all rounds, the lowest and highest round, and every round's in order (paired across
    contenders: round i of each ran side by side)."""

    per_s: float
    low: float
    high: float
    rounds: list[float]


def _turns(predictors: list[Predictor], round_index: int) -> list[Predictor]:
    shift = round_index % len(predictors)
    return predictors[shift:] + predictors[:shift]


def measure_latency(predictors: list[Predictor], rows: np.ndarray, calls: int, warmup: int, on_round=lambda: None) -> dict[str, dict]:
    """Batch-1 latency per predictor: p50/p99/mean over `calls` timed calls after warm-up."""
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(len(rows), calls))]
    for predictor in predictors:
        for i in range(warmup):
            predictor.predict(singles[i % len(singles)])
    timings: dict[str, list[list[int]]] = {p.name: [] for p in predictors}
    per_round = -(-calls // ROUNDS)
    for round_index in range(ROUNDS):
        for predictor in _turns(predictors, round_index):
            spent = []
            for i in range(round_index * per_round, min(calls, (round_index + 1) * per_round)):
                row = singles[i % len(singles)]
                started = time.perf_counter_ns()
                predictor.predict(row)
                spent.append(time.perf_counter_ns() - started)
            if spent:
                timings[predictor.name].append(spent)
        on_round()
    return {name: _latency_summary([np.array(ns) / 1e6 for ns in rounds]) for name, rounds in timings.items()}


def _latency_summary(rounds: list[np.ndarray]) -> dict:
    ms = np.concatenate(rounds)
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "latency_mean_ms": float(ms.mean()),
        "latency_calls": int(len(ms)),
        "latency_spread_ms": {f"p{q}": _low_high([float(np.percentile(r, q)) for r in rounds]) for q in (50, 99)},
    }


def _low_high(values: list[float]) -> list[float]:
    return [min(values), max(values)]


def measure_throughput(predictors: list[Predictor], rows: np.ndarray, batches: list[int], seconds: float,
                       on_round=lambda: None) -> dict[str, dict[int, Rate]]:
    """Rows per second at each batch size, with its rounds' spread; `seconds` of calls per predictor in total, shared by the batch sizes.

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
    per_round: dict[tuple[str, int], list[float]] = {key: [] for key in busy}
    for round_index in range(ROUNDS):
        for batch, block in blocks.items():
            for predictor in _turns(predictors, round_index):
                key = (predictor.name, batch)
                deadline = time.perf_counter() + seconds / ROUNDS / len(batches)
                round_busy, round_calls = 0.0, 0
                while True:
                    started = time.perf_counter()
                    predictor.predict(block)
                    round_busy += time.perf_counter() - started
                    round_calls += 1
                    if time.perf_counter() >= deadline:
                        break
                busy[key] += round_busy
                done[key] += round_calls
                per_round[key].append(round_calls * batch / round_busy)
        on_round()
    return {p.name: {batch: Rate(done[(p.name, batch)] * batch / busy[(p.name, batch)], *_low_high(per_round[(p.name, batch)]),
                                 per_round[(p.name, batch)]) for batch in batches} for p in predictors}


def measure_speed(predictors: list[Predictor], rows: np.ndarray, settings: EvaluateConfig, progress: Progress) -> dict[str, dict]:
    """Batch-1 latency, then the throughput sweep, each with its progress bar: the speed and footprint keys of metrics.json."""
    latency_task = progress.add_task(f"latency, batch 1 ({settings.latency_calls} calls each)", total=ROUNDS)
    latency = measure_latency(predictors, rows, settings.latency_calls, settings.warmup_calls, lambda: progress.advance(latency_task))
    batches = sorted({*SWEEP_BATCHES, settings.throughput_batch})
    throughput_task = progress.add_task(f"throughput, batches {', '.join(map(str, batches))}", total=ROUNDS)
    load_before = os.getloadavg()[0]
    throughput = measure_throughput(predictors, rows, batches, settings.throughput_seconds, lambda: progress.advance(throughput_task))
    flags: dict[str, list[str]] = {p.name: [] for p in predictors}
    for name, spread in outliers({name: rates[settings.throughput_batch] for name, rates in throughput.items()}).items():
        again = next(p for p in predictors if p.name == name)
        latency |= measure_latency([again], rows, settings.latency_calls, settings.warmup_calls)
        throughput |= measure_throughput([again], rows, batches, settings.throughput_seconds)
        flags[name].append(f"its throughput rounds disagreed {spread:.1f}x (highest / lowest), far more than the others': "
                           f"measured again alone, now {_spread(throughput[name][settings.throughput_batch]):.1f}x")
    load = max(load_before, os.getloadavg()[0])
    if load > (os.cpu_count() or 1):
        for notes in flags.values():
            notes.append(f"load average {load:.1f} on {os.cpu_count()} cores while measuring: absolute times are inflated")
    return {
        p.name: {
            **latency[p.name],
            "throughput_per_s": throughput[p.name][settings.throughput_batch].per_s,
            "throughput_spread": [throughput[p.name][settings.throughput_batch].low, throughput[p.name][settings.throughput_batch].high],
            "throughput_rounds": throughput[p.name][settings.throughput_batch].rounds,
            "throughput_batch": settings.throughput_batch,
            "throughput_by_batch": {str(size): rate.per_s for size, rate in throughput[p.name].items()},
            "file_bytes": p.file_bytes,
            "load_seconds": p.load_seconds,
            "runtime": p.runtime,
            "load_average": load,
            "speed_flags": flags[p.name],
        }
        for p in predictors
    }


def outliers(rates: dict[str, Rate]) -> dict[str, float]:
    """{name: its highest / lowest round} for contenders whose rounds disagree far beyond the median contender's."""
    spreads = {name: _spread(rate) for name, rate in rates.items()}
    typical = float(np.median(list(spreads.values())))
    return {name: spread for name, spread in spreads.items() if spread >= max(OUTLIER_MIN_SPREAD, OUTLIER_FACTOR * typical)}


def _spread(rate: Rate) -> float:
    return rate.high / rate.low if rate.low > 0 else float("inf")
