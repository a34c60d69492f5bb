"""Every variant on every available backend, one protocol, side by side.

Protocol, the same for every (variant, backend) pair: batch-1 latency (p50/p99) single-threaded,
throughput at evaluate.throughput_batch on all cores (evaluate.threads), both taking turns
in rotating rounds like the main measurements; predictions on the whole selection split compared
with the FP32 reference and with the same artifact on ONNX Runtime (torch backends: with
PyTorch eager). Fewer timed calls than the main protocol (evaluate.backend_latency_calls,
evaluate.backend_throughput_seconds): there are several times as many pairs as variants.

Contract: metrics.json["backends"][backend] for each variant (and baseline/metrics.json
for the reference) holds
    backend, status: "measured" | "mismatch" | "not supported" | "unavailable"
    reason          why it is not measured, or how its outputs differ (absent when measured)
    and, for measured and mismatch pairs:
    latency_p50_ms, latency_p99_ms, latency_mean_ms, latency_calls, latency_threads (1)
    throughput_per_s, throughput_batch, throughput_threads
    accuracy, macro_f1, detection_rate, false_positive_rate, per_class_recall (its own predictions)
    agreement, max_abs_prob_diff                 vs the FP32 reference (as the per-variant keys)
    agreement_with_artifact                      vs the same artifact on ONNX Runtime
    load_seconds, settings {single_thread, all_cores}: version, threads and every setting
Artifact backends (onnxruntime, openvino, tensorrt) appear under every ONNX variant, the torch
backends under the reference only. A "mismatch" pair classifies more than
evaluate.backend_tolerance of the selection rows differently: it is shown, never selected.
The per-variant top-level metrics stay ONNX Runtime's, by the full protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rtguard.backends import ARTIFACT_BACKENDS, REFERENCE_BACKENDS, BackendUnavailable, NotSupported, artifact_backend
from rtguard.compute import in_chunks
from rtguard.config import EvaluateConfig, RuntimeConfig
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.predictors import Predictor, onnx_predictor, torch_predictor
from rtguard.evaluate.quality import quality_metrics
from rtguard.evaluate.speed import measure_latency, measure_throughput
from rtguard.runtime.errors import ModelRejected

MEASURED, MISMATCH, NOT_SUPPORTED, UNAVAILABLE = "measured", "mismatch", "not supported", "unavailable"
WARMUP_CALLS = 20
log = logging.getLogger("rtguard.evaluate")


def measure_backends(artifacts: dict[str, Path], reference: str, reference_model: Callable | None, weights: Path, rows: np.ndarray,
                     labels: np.ndarray, schema: FeatureSchema, probabilities: dict[str, np.ndarray], settings: EvaluateConfig,
                     runtime: RuntimeConfig, threads: int, on_step=lambda: None) -> dict[str, dict[str, dict]]:
    """{variant: {backend: measurement}}; `probabilities` are the main run's (the reference and each artifact on ONNX Runtime).

    The PyTorch backends run the reference network (`reference_model`); a tree reference has none, and skips them.
    """
    chosen = settings.backends if settings.backends is not None else [*ARTIFACT_BACKENDS, *REFERENCE_BACKENDS]
    results: dict[str, dict[str, dict]] = {name: {} for name in [reference, *artifacts]}
    pairs: list[tuple[str, str, Predictor, Predictor]] = []
    for backend in (b for b in chosen if b in ARTIFACT_BACKENDS):
        try:
            artifact_backend(backend)
        except BackendUnavailable as exc:
            log.warning("%s: skipped, every other backend is measured", exc)
            for name in artifacts:
                results[name][backend] = {"backend": backend, "status": UNAVAILABLE, "reason": str(exc)}
            continue
        for name, path in artifacts.items():
            loaded = _load(results[name], backend, lambda n: onnx_predictor(f"{name}@{backend}", path, n, runtime, backend), threads)
            if loaded:
                pairs.append((name, backend, *loaded))
    model = None
    for backend in (b for b in chosen if b in REFERENCE_BACKENDS and reference_model is not None):
        model = model or reference_model()  # one model for both thread settings: torch.compile compiles once
        loaded = _load(results[reference], backend, lambda n: torch_predictor(lambda: model, weights, n, backend, f"{reference}@{backend}", rows), threads)
        if loaded:
            pairs.append((reference, backend, *loaded))
    on_step()

    for name, backend, single, full in list(pairs):
        try:
            mine = in_chunks(full.predict, rows)
        except Exception as exc:
            results[name][backend] = {"backend": backend, "status": NOT_SUPPORTED, "reason": f"failed on the selection split: {exc}".splitlines()[0]}
            pairs.remove((name, backend, single, full))
            continue
        same_artifact = probabilities[reference if backend in REFERENCE_BACKENDS else name]
        results[name][backend] |= _quality(mine, probabilities[reference], same_artifact, labels, schema, settings.backend_tolerance, backend)
    on_step()
    if not pairs:  # nothing runnable (evaluate.backends = [] or nothing installed): the reasons are the result
        return {name: by_backend for name, by_backend in results.items() if by_backend}
    latency = measure_latency([single for *_, single, _ in pairs], rows, settings.backend_latency_calls,
                              min(settings.warmup_calls, WARMUP_CALLS))
    on_step()
    throughput = measure_throughput([full for *_, full in pairs], rows, [settings.throughput_batch], settings.backend_throughput_seconds)
    on_step()
    for name, backend, single, full in pairs:
        rate = throughput[full.name][settings.throughput_batch]
        results[name][backend] |= {
            **latency[single.name], "latency_threads": 1,
            "throughput_per_s": rate.per_s, "throughput_spread": [rate.low, rate.high], "throughput_rounds": rate.rounds,
            "throughput_batch": settings.throughput_batch,
            "throughput_threads": threads,
            "load_seconds": full.load_seconds, "settings": {"single_thread": single.runtime, "all_cores": full.runtime},
        }
    return {name: by_backend for name, by_backend in results.items() if by_backend}


def _load(record: dict, backend: str, load: Callable[[int], Predictor], threads: int) -> tuple[Predictor, Predictor] | None:
    """The pair's single-thread and all-core predictors, or None with the reason recorded."""
    try:
        single = load(1)
        full = load(threads)
    except (NotSupported, ModelRejected) as exc:
        record[backend] = {"backend": backend, "status": NOT_SUPPORTED, "reason": str(exc)}
        return None
    single.name += "/1-thread"
    record[backend] = {"backend": backend, "status": MEASURED}
    return single, full


def _quality(mine: np.ndarray, reference: np.ndarray, same_artifact: np.ndarray, labels: np.ndarray, schema: FeatureSchema,
             tolerance: float, backend: str) -> dict:
    predicted = mine.argmax(axis=1)
    agreement = float((predicted == same_artifact.argmax(axis=1)).mean())
    measured = {
        **quality_metrics(labels, predicted, schema.classes, schema.benign_index),
        "agreement": float((predicted == reference.argmax(axis=1)).mean()),
        "max_abs_prob_diff": float(np.abs(mine - reference).max()),
        "agreement_with_artifact": agreement,
    }
    if 1 - agreement > tolerance:
        against = "PyTorch eager" if backend in REFERENCE_BACKENDS else "ONNX Runtime"
        measured |= {"status": MISMATCH, "reason": f"classifies {1 - agreement:.2%} of selection rows differently from the same model on "
                                                   f"{against} (evaluate.backend_tolerance {tolerance:.2%}): excluded from selection"}
    return measured
