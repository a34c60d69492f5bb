"""Evaluate stage: every variant and the PyTorch baseline, same test split, same process.

metrics.json per variant: the variant on ONNX Runtime by the full protocol (key "backend"),
and under "backends" every available backend by the shared protocol of rtguard/evaluate/backends.py.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from rtguard.config import RunConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.backends import measure_backends
from rtguard.evaluate.predictors import Predictor, onnx_predictor, predict_in_chunks, torch_predictor
from rtguard.evaluate.quality import quality_metrics
from rtguard.evaluate.robustness import robustness_metrics
from rtguard.evaluate.threat_model import ThreatModel, threat_model
from rtguard.errors import RtguardError
from rtguard.evaluate.speed import measure_speed
from rtguard.models import load_model
from rtguard.progress import progress_bars
from rtguard.runfolder import RunFolder, write_json

BASELINE = "torch-fp32"


def evaluate_run(run: RunFolder, show_progress: bool = True) -> dict[str, dict]:
    """Measure quality, robustness, speed and footprint; write metrics.json per variant (baseline/ for torch)."""
    config = run.load_config()
    if config.task.kind == "anomaly":  # detectors: scores and alerts, not classes
        from rtguard.evaluate.anomaly import evaluate_anomaly_run
        return evaluate_anomaly_run(run, show_progress)
    settings = config.evaluate
    schema = FeatureSchema.load(run.schema)
    splits = Splits.load(run.splits)
    names, threads, threat = evaluation_inputs(run, config, schema)
    predictors = [torch_predictor(lambda: load_model(schema, config.model, run.weights), run.weights, threads)]
    predictors += [onnx_predictor(name, run.variant(name) / "model.onnx", threads, config.runtime) for name in names]
    run.invalidate_after("evaluate")

    with progress_bars(show_progress) as progress:
        quality_task = progress.add_task("quality on the test split", total=len(predictors))
        probabilities = {}
        for predictor in predictors:
            probabilities[predictor.name] = predict_in_chunks(predictor, splits.x_test)
            progress.advance(quality_task)
        speed = measure_speed(predictors, splits.x_test, settings, progress)
        backends_task = progress.add_task("every variant on every backend (load, quality, latency, throughput)", total=4)
        backends = measure_backends({name: run.variant(name) / "model.onnx" for name in names},
                                    lambda: load_model(schema, config.model, run.weights), run.weights, splits.x_test, splits.y_test,
                                    schema, probabilities, settings, config.runtime, threads, lambda: progress.advance(backends_task))
        torch.set_num_threads(threads)  # the torch backends' single-thread turns may have left it at 1
        # Attacks last: speed is measured before their libraries' thread pools and caches
        # can disturb it.
        robustness = {}
        if threat is not None:
            robustness_task = progress.add_task("robustness: FGSM/PGD transfer, HopSkipJump, noise, membership", total=len(predictors))
            robustness = robustness_metrics(predictors, load_model(schema, config.model, run.weights), threat, schema, splits,
                                            settings.robustness, lambda: progress.advance(robustness_task))

    baseline = probabilities[BASELINE]
    results = {}
    for predictor in predictors:
        results[predictor.name] = (_metrics(predictor, probabilities[predictor.name], baseline, splits.y_test, schema)
                                   | speed[predictor.name] | robustness.get(predictor.name, {}))
        results[predictor.name]["backends"] = backends.get(predictor.name, {})
        path = run.baseline_metrics if predictor.name == BASELINE else run.variant(predictor.name) / "metrics.json"
        write_json(path, results[predictor.name])
    return results


def evaluation_inputs(run: RunFolder, config: RunConfig, schema: FeatureSchema) -> tuple[list[str], int, ThreatModel | None]:
    """The built variants, the thread count (set for torch), and the threat model when robustness is measured.

    Checked before anything is measured or invalidated: a missing variant or a bad feature name
    must not cost the run its old metrics.
    """
    names = run.variant_names()
    if not names:
        raise RtguardError(f"{run.variants} holds no variants: run `rtguard optimize {run.root}` first")
    threads = config.evaluate.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    robustness = config.evaluate.robustness
    threat = threat_model(schema, config.data.dataset, robustness.mutable) if robustness.enabled else None
    return names, threads, threat


def _metrics(predictor: Predictor, probabilities: np.ndarray, baseline: np.ndarray, y_test: np.ndarray, schema: FeatureSchema) -> dict:
    predicted = probabilities.argmax(axis=1)
    return {
        **quality_metrics(y_test, predicted, schema.classes, schema.benign_index),
        "agreement": float((predicted == baseline.argmax(axis=1)).mean()),
        "max_abs_prob_diff": float(np.abs(probabilities - baseline).max()),
        "test_rows": int(len(y_test)),
        "backend": predictor.backend,
    }
