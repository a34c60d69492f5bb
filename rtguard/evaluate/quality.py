"""Detection-quality metrics from predicted and true class indices.

Written with numpy rather than a metrics library: these few formulas are the
contract of report.json, and an IDS needs its own two (detection rate, FPR).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def quality_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], benign: int) -> dict:
    """accuracy, macro-F1, detection rate (attacks flagged as any attack), FPR, per-class recall."""
    cm = confusion_matrix(y_true, y_pred, len(classes))
    true_per_class = cm.sum(axis=1)
    predicted_per_class = cm.sum(axis=0)
    hits = np.diag(cm)
    recall = np.divide(hits, true_per_class, out=np.zeros(len(classes)), where=true_per_class > 0)
    precision = np.divide(hits, predicted_per_class, out=np.zeros(len(classes)), where=predicted_per_class > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(classes)), where=(precision + recall) > 0)
    present = true_per_class > 0  # a class absent from the test split does not drag macro-F1 down

    attacks = y_true != benign
    benign_rows = ~attacks
    return {
        "accuracy": float(hits.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "detection_rate": float((y_pred[attacks] != benign).mean()) if attacks.any() else None,
        "false_positive_rate": float((y_pred[benign_rows] != benign).mean()) if benign_rows.any() else None,
        "per_class_recall": {name: float(r) for name, r, p in zip(classes, recall, present) if p},
        "confusion_matrix": cm.tolist(),
    }


def ranking_quality(is_attack: np.ndarray, scores: np.ndarray) -> dict:
    """AUROC and PR-AUC (average precision) of an attack score: how well it ranks attacks above benign
    flows whatever the threshold; None when one of the two kinds is absent."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(np.unique(is_attack)) < 2:
        return {"auroc": None, "pr_auc": None}
    finite = np.nan_to_num(np.asarray(scores, dtype=np.float64), posinf=np.finfo(np.float64).max)
    return {"auroc": float(roc_auc_score(is_attack, finite)), "pr_auc": float(average_precision_score(is_attack, finite))}
