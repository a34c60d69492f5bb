"""Evaluate stage: every variant and the PyTorch baseline, same splits, same process.

metrics.json per variant: the variant on ONNX Runtime by the full protocol (key "backend"),
and under "backends" every available backend by the shared protocol of rtguard/evaluate/backends.py.
Top-level quality keys describe the test split, which is only reported; `selection` holds the
same keys on the selection split, which the gate and the choice read, with bootstrap
intervals (`confidence`, `vs_reference`, rtguard/evaluate/uncertainty.py). Speed and the
backends' measurements run on selection rows too.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from rtguard.artifact import alerts, attack_scores, point_threshold
from rtguard.catalog import TREE_FAMILIES, reference_name
from rtguard.compute import in_chunks
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.evaluate.anomaly import evaluate_anomaly_run
from rtguard.evaluate.backends import measure_backends
from rtguard.evaluate.batch_dependence import classifier_dependence
from rtguard.evaluate.inputs import evaluation_inputs
from rtguard.evaluate.predictors import onnx_predictor, torch_predictor, tree_predictor
from rtguard.evaluate.quality import quality_metrics, ranking_quality
from rtguard.evaluate.robustness import REFERENCE_NETWORK, SURROGATE, SURROGATE_MODEL, robustness_metrics
from rtguard.evaluate.speed import measure_speed
from rtguard.evaluate.uncertainty import bootstrap
from rtguard.models import load_model
from rtguard.policy import Policy, run_policy
from rtguard.progress import progress_bars
from rtguard.runfolder import RunFolder, write_json

POINT_PASSES = ("operating-point", "calibrated-threshold")  # the passes that set an artifact's alert threshold


def evaluate_run(run: RunFolder, show_progress: bool = True) -> dict[str, dict]:
    """Measure quality, robustness, speed and footprint; write metrics.json per variant (baseline/ for torch).

    Quality is measured on two splits: the selection split, which every decision reads (with
    bootstrap intervals), and the test split, which is only reported.
    """
    config = run.load_config()
    if config.task.kind == "anomaly":  # detectors: scores and alerts, not classes (evaluate/anomaly.py)
        return evaluate_anomaly_run(run, show_progress)
    settings = config.evaluate
    schema = FeatureSchema.load(run.schema)
    splits = Splits.load(run.splits)
    names, threads, threat = evaluation_inputs(run, config, schema)
    reference = reference_name(config.model.family)
    trees = config.model.family in TREE_FAMILIES
    if trees:  # fitted trees: no PyTorch model, so no PyTorch backends, and a surrogate network for white-box attacks
        fitted = run.read_json(run.train_record)
        predictors = [tree_predictor(reference, schema, run.tree_model, fitted["classes"], threads)]
        network = None
    else:
        network = lambda: load_model(schema, config.model, run.weights)  # noqa: E731
        predictors = [torch_predictor(network, run.weights, threads)]
    predictors += [onnx_predictor(name, run.variant(name) / "model.onnx", threads, config.runtime) for name in names]
    stated = {name: stated_point(run.variant(name) / "model.onnx") for name in names}
    run.invalidate_after("evaluate")

    with progress_bars(show_progress) as progress:
        quality_task = progress.add_task("quality on the selection and test splits", total=len(predictors))
        probabilities: dict[str, dict[str, np.ndarray]] = {}
        for predictor in predictors:
            probabilities[predictor.name] = {split: in_chunks(predictor.predict, x) for split, x in
                                             (("selection", splits.x_selection), ("test", splits.x_test))}
            progress.advance(quality_task)
        speed = measure_speed(predictors, splits.x_selection, settings, progress)
        backends_task = progress.add_task("every variant on every backend (load, quality, latency, throughput)", total=4)
        backends = measure_backends({name: run.variant(name) / "model.onnx" for name in names}, reference, network, run.weights,
                                    splits.x_selection, splits.y_selection, schema, {n: p["selection"] for n, p in probabilities.items()},
                                    settings, config.runtime, threads, lambda: progress.advance(backends_task))
        torch.set_num_threads(threads)  # the torch backends' single-thread turns may have left it at 1
        # Attacks last: speed is measured before their libraries' thread pools and caches
        # can disturb it.
        robustness = {}
        if threat is not None:
            robustness_task = progress.add_task("robustness: FGSM/PGD transfer, HopSkipJump, noise, membership", total=len(predictors))
            if trees:
                crafted_on = SURROGATE.format(config.model.family)
                attacked = load_model(schema, SURROGATE_MODEL, run.require(run.surrogate, "run `rtguard train` again: it trains the "
                                                                           "surrogate when evaluate.robustness is enabled"))
            else:
                crafted_on, attacked = REFERENCE_NETWORK, network()
            robustness = robustness_metrics(predictors, attacked, threat, schema, splits, settings.robustness,
                                            lambda: progress.advance(robustness_task), crafted_on)

    points = {reference: reference_point(probabilities[reference]["selection"], splits.y_selection, schema, run_policy(run)), **stated}
    benign = schema.benign_index
    decisions = {name: (p["selection"].argmax(axis=1), alerts(p["selection"], benign, points[name]["threshold"]))
                 for name, p in probabilities.items()}
    intervals = bootstrap(splits.y_selection, decisions, schema.classes, benign, reference, settings.robustness.seed)
    baseline = probabilities[reference]
    results = {}
    for predictor in predictors:
        mine, point = probabilities[predictor.name], points[predictor.name]
        batched = classifier_dependence(predictor.predict, splits.x_selection, mine["selection"], schema, point["threshold"],
                                        settings.robustness.seed)
        results[predictor.name] = {
            **decision_quality(splits.y_test, mine["test"], point["threshold"], schema),
            "agreement": float((mine["test"].argmax(axis=1) == baseline["test"].argmax(axis=1)).mean()),
            "max_abs_prob_diff": float(np.abs(mine["test"] - baseline["test"]).max()),
            "test_rows": int(len(splits.y_test)),
            "backend": predictor.backend,
            "operating_point": point,
            "selection": decision_quality(splits.y_selection, mine["selection"], point["threshold"], schema)
                         | {"rows": int(len(splits.y_selection))},
            **intervals[predictor.name],
            **speed[predictor.name],
            **robustness.get(predictor.name, {}),
            **batched,
            "backends": backends.get(predictor.name, {}),
        }
        path = run.baseline_metrics if predictor.name == reference else run.variant(predictor.name) / "metrics.json"
        write_json(path, results[predictor.name])
    return results


def stated_point(model_path) -> dict:
    """A variant's operating point as its build recorded it (the operating-point pass in variant.json)."""
    record = json.loads((model_path.parent / "variant.json").read_text(encoding="utf-8"))
    step = next((step for step in record["recipe"] if step["pass"] in POINT_PASSES), None)
    if step is None:
        raise RtguardError(f"{model_path.parent} has no operating point: it was built before rtguard calibrated one; "
                           "run `rtguard optimize` again")
    return operating_point_record(step["chosen"])


def reference_point(probabilities: np.ndarray, y: np.ndarray, schema: FeatureSchema, policy: Policy) -> dict:
    """The reference's operating point, calibrated on the selection split as the variants' graphs are."""
    scores = attack_scores(probabilities, schema.benign_index)
    benign = y == schema.benign_index
    threshold = point_threshold(scores[benign], scores[~benign], policy.operating_point, policy.operating_target())
    alerted = scores >= np.float32(threshold)
    return operating_point_record({"threshold": threshold, "set_by": "policy", "mode": policy.operating_point,
                                   "target": policy.operating_target(),
                                   "selection_rows": int(len(y)),
                                   "selection_false_positive_rate": float(alerted[benign].mean()) if benign.any() else None,
                                   "selection_detection_rate": float(alerted[~benign].mean()) if (~benign).any() else None})


def operating_point_record(chosen: dict) -> dict:
    keys = ("threshold", "set_by", "mode", "target", "selection_rows", "selection_false_positive_rate", "selection_detection_rate")
    return {key: chosen.get(key) for key in keys}


def decision_quality(y: np.ndarray, probabilities: np.ndarray, threshold: float, schema: FeatureSchema) -> dict:
    """Class-level quality of the argmax, and the alert decision at the operating point.

    detection_rate and false_positive_rate are the alert's (what serving does); the argmax's
    are kept as argmax_detection_rate and argmax_false_positive_rate. AUROC and PR-AUC rank
    the attack score (1 - P(benign)) without a threshold.
    """
    benign = schema.benign_index
    argmax = quality_metrics(y, probabilities.argmax(axis=1), schema.classes, benign)
    alerted = alerts(probabilities, benign, threshold)
    attack = y != benign
    return {
        **{k: v for k, v in argmax.items() if k not in ("detection_rate", "false_positive_rate")},
        "detection_rate": float(alerted[attack].mean()) if attack.any() else None,
        "false_positive_rate": float(alerted[~attack].mean()) if (~attack).any() else None,
        "argmax_detection_rate": argmax["detection_rate"],
        "argmax_false_positive_rate": argmax["false_positive_rate"],
        **ranking_quality(attack, attack_scores(probabilities, benign)),
    }
