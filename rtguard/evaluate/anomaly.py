"""Evaluate stage of the anomaly task: every detector's own alerts, on the same selection and test splits.

Quality comes from each artifact's `anomaly_score` and `alert` outputs (the threshold
inside the graph), so the alert measured is the alert served. detection_rate and
false_positive_rate keep their meaning (attack flows alerted, benign flows alerted) and
sit beside AUROC and detection per attack class and per attack type, types absent from
the training data included, on the test split (reported); `selection` holds the decision
metrics the gate reads, with bootstrap intervals, as for classifiers. Speed is measured as
for classifiers (evaluate/speed.py). Evasion: the attacker lowers its own flows' anomaly
score with FGSM/PGD on the reference detector's gradients, inside the same threat model,
and the crafted flows (from the selection split) are sent to every variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rtguard.artifact import ALERT, ANOMALY_SCORE, calibrate_threshold, graph_threshold
from rtguard.compute import CHUNK_ROWS, in_chunks
from rtguard.config import RunConfig
from rtguard.data.anomaly import CLASSES, AttackLabels, anomaly_labels_path
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.attacks import whitebox_rows
from rtguard.evaluate.batch_dependence import batch_dependence
from rtguard.evaluate.inputs import evaluation_inputs
from rtguard.evaluate.predictors import onnx_predictor, torch_predictor
from rtguard.evaluate.quality import quality_metrics, ranking_quality
from rtguard.evaluate.speed import measure_speed
from rtguard.evaluate.uncertainty import bootstrap
from rtguard.models.autoencoder import load_detector
from rtguard.progress import progress_bars
from rtguard.runfolder import RunFolder, write_json
from rtguard.runtime.session import INPUT_NAME, create_session

BASELINE = "torch-fp32"


def decision_metrics(y_binary: np.ndarray, alerts: np.ndarray) -> dict:
    """accuracy, macro-F1, detection rate and FPR of the alert decisions (classes benign, anomaly)."""
    return quality_metrics(np.asarray(y_binary, dtype=np.int64), np.asarray(alerts, dtype=np.int64), list(CLASSES), 0)


def detection_by_label(alerts: np.ndarray, codes: np.ndarray, names: list[str], skip: set[str]) -> dict[str, dict]:
    """{label: {rows, detected, rate}} for every label present among `codes`, except `skip` (benign)."""
    result = {}
    for code, name in enumerate(names):
        rows = codes == code
        if name in skip or not rows.any():
            continue
        detected = int(alerts[rows].sum())
        result[name] = {"rows": int(rows.sum()), "detected": detected, "rate": detected / int(rows.sum())}
    return result


@dataclass
class Scorer:
    """Scores and alerts of one detector for raw rows."""

    name: str
    score: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    threshold: float

    def in_chunks(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, alerted = in_chunks(self.score, rows)
        return scores, alerted.astype(bool)


@torch.no_grad()
def detector_scores(model: nn.Module, rows: np.ndarray, size: int = CHUNK_ROWS) -> np.ndarray:
    """A PyTorch detector's anomaly scores (float32) in eval mode, `size` rows per call."""
    model.eval()
    return in_chunks(lambda part: model.score(torch.from_numpy(part)), rows, size, join=torch.cat).numpy().astype(np.float32)


def torch_scorer(model, threshold: float) -> Scorer:
    def score(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = detector_scores(model, rows)
        return values, values >= np.float32(threshold)

    return Scorer(BASELINE, score, threshold)


def onnx_scorer(name: str, session, threshold: float) -> Scorer:
    def score(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, alerts = session.run([ANOMALY_SCORE, ALERT], {INPUT_NAME: rows})
        return values, alerts

    return Scorer(name, score, threshold)


def evaluate_anomaly_run(run: RunFolder, show_progress: bool = True) -> dict[str, dict]:
    """Quality, evasion and speed of the reference detector and every variant; metrics.json per variant."""
    config = run.load_config()
    settings = config.evaluate
    schema = FeatureSchema.load(run.schema)
    splits = Splits.load(run.splits)
    labels = AttackLabels.load(run.require(anomaly_labels_path(run), "run the data stage with [task] kind = \"anomaly\""))
    names, threads, threat = evaluation_inputs(run, config, schema)

    reference = load_detector(schema, config.anomaly, run.weights)
    benign_selection = splits.x_selection[splits.y_selection == 0]
    scorers = [torch_scorer(reference, calibrate_threshold(detector_scores(reference, benign_selection), config.anomaly.target_fpr))]
    runtime = config.runtime.model_copy(update={"threads": threads})
    for name in names:
        path = run.variant(name) / "model.onnx"
        scorers.append(onnx_scorer(name, create_session(path, runtime), graph_threshold(path)))
    predictors = [torch_predictor(lambda: load_detector(schema, config.anomaly, run.weights), run.weights, threads)]
    predictors += [onnx_predictor(name, run.variant(name) / "model.onnx", threads, config.runtime) for name in names]
    run.invalidate_after("evaluate")

    with progress_bars(show_progress) as progress:
        task = progress.add_task("anomaly scores on the selection and test splits", total=len(scorers))
        outputs, chosen = {}, {}
        for scorer in scorers:
            outputs[scorer.name] = scorer.in_chunks(splits.x_test)
            chosen[scorer.name] = scorer.in_chunks(splits.x_selection)
            progress.advance(task)
        speed = measure_speed(predictors, splits.x_selection, settings, progress)
        evasion = {}
        if threat is not None:
            progress.add_task("evasion: FGSM/PGD lowering the anomaly score", total=None)
            evasion = evasion_rates(reference, scorers, threat, splits, config)

    baseline_alerts = outputs[BASELINE][1]
    intervals = bootstrap(splits.y_selection, {name: (alerts.astype(np.int64), alerts) for name, (_, alerts) in chosen.items()},
                          list(CLASSES), 0, BASELINE, settings.robustness.seed)
    results = {}
    for scorer, predictor in zip(scorers, predictors):
        scores, alerts = outputs[scorer.name]
        selection_scores, selection_alerts = chosen[scorer.name]
        selection_benign = splits.y_selection == 0
        batched = batch_dependence(lambda rows: scorer.score(rows)[1].astype(bool), splits.x_selection,
                                   np.abs(selection_scores - np.float32(scorer.threshold)), schema, settings.robustness.seed)
        results[scorer.name] = {
            **detection_metrics(scores, alerts, splits.y_test, labels, scorer.threshold, config.anomaly.target_fpr),
            **speed[predictor.name],
            "agreement": float((alerts == baseline_alerts).mean()),
            "test_rows": int(len(splits.y_test)),
            "operating_point": {"threshold": scorer.threshold, "set_by": "anomaly.target_fpr", "mode": "target_fpr",
                                "target": config.anomaly.target_fpr,
                                "selection_rows": int(len(splits.y_selection)),
                                "selection_false_positive_rate": float(selection_alerts[selection_benign].mean()),
                                "selection_detection_rate": float(selection_alerts[~selection_benign].mean())
                                if (~selection_benign).any() else None},
            "selection": {**decision_metrics(splits.y_selection, selection_alerts),
                          **ranking_quality(~selection_benign, selection_scores), "rows": int(len(splits.y_selection))},
            **intervals[scorer.name],
            **({"evasion_rate": evasion[scorer.name]} if evasion else {}),
            **batched,
        }
        path = run.baseline_metrics if scorer.name == BASELINE else run.variant(scorer.name) / "metrics.json"
        write_json(path, results[scorer.name])
    return results


def detection_metrics(scores: np.ndarray, alerts: np.ndarray, y_test: np.ndarray, labels: AttackLabels,
                      threshold: float, target_fpr: float) -> dict:
    """The alert decisions' quality, and under `anomaly` what only a detector has: AUROC, per class and per type."""
    benign = y_test == 0
    benign_classes = {labels.classes[code] for code in np.unique(labels.test_class[benign])}
    benign_types = {labels.types[code] for code in np.unique(labels.test_type[benign])}
    return {
        **decision_metrics(y_test, alerts),
        "anomaly": {
            "threshold": threshold,
            "target_fpr": target_fpr,
            "auroc": ranking_quality(y_test == 1, scores)["auroc"],
            "detection_by_class": detection_by_label(alerts, labels.test_class, labels.classes, benign_classes),
            "detection_by_type": detection_by_label(alerts, labels.test_type, labels.types, benign_types),
            "types_in_training": labels.types_in_training,
        },
    }


def evasion_rates(reference, scorers: list[Scorer], threat, splits: Splits, config: RunConfig) -> dict[str, dict]:
    """{variant: {attack: {ε: share of the attack flows it alerted on that no longer alert once crafted}}}."""
    settings = config.evaluate.robustness
    attacks = np.flatnonzero(splits.y_selection == 1)
    if len(attacks) == 0:
        return {}
    chosen = np.sort(np.random.default_rng(settings.seed).choice(attacks, min(settings.attack_flows, len(attacks)), replace=False))
    rows = splits.x_selection[chosen]
    with torch.enable_grad():
        crafted = whitebox_rows(reference, threat, rows, 0, len(CLASSES), settings.epsilons, settings.pgd_steps)
    rates: dict[str, dict] = {}
    for scorer in scorers:
        alerted = scorer.in_chunks(rows)[1]
        rates[scorer.name] = {
            attack: {str(eps): _evaded(alerted, scorer.in_chunks(moved)[1]) for eps, moved in by_eps.items()}
            for attack, by_eps in crafted.items()
        }
    return rates


def _evaded(before: np.ndarray, after: np.ndarray) -> float | None:
    return float((~after[before]).mean()) if before.any() else None
