"""What the decision read, and whether it held: the selection split with its intervals, then the test split once.

Two tables. The first is the only quality the gate and the choice saw (selection split):
each number with its 95% bootstrap interval and its paired difference to the reference.
The second reports every variant's operating point on the test split, which no decision
read: the detection it buys there, and whether the false-positive budget calibrated on the
selection split held on data the calibration never saw.
"""

from __future__ import annotations

from rtguard.report.table import Cell


def selection_header(reference: str) -> list[str]:
    return ["variant", "macro-F1 [95%]", f"Δ macro-F1 vs {reference}", "detection @op [95%]", f"Δ detection vs {reference}",
            "FPR @op [95%]", "AUROC", "threshold"]


def selection_rows(variants: list[dict]) -> list[list]:
    rows = []
    for variant in variants:
        metrics = variant["metrics"]
        chosen = metrics.get("selection", {})
        confidence, versus = metrics.get("confidence", {}), metrics.get("vs_reference", {})
        point = metrics.get("operating_point") or {}
        rows.append([variant["name"],
                     _with_interval(chosen.get("macro_f1"), confidence.get("macro_f1")), _difference(versus.get("macro_f1")),
                     _with_interval(chosen.get("detection_rate"), confidence.get("detection_rate")), _difference(versus.get("detection_rate")),
                     _with_interval(chosen.get("false_positive_rate"), confidence.get("false_positive_rate")),
                     _rate(chosen.get("auroc")), _rate(point.get("threshold"))])
    return rows


def held_header() -> list[str]:
    return ["variant", "operating point", "FPR selection", "FPR test", "budget held on test", "detection test", "AUROC test",
            "PR-AUC test"]


def held_rows(variants: list[dict]) -> list[list]:
    rows = []
    for variant in variants:
        metrics = variant["metrics"]
        point = metrics.get("operating_point") or {}
        if not point:
            continue
        rows.append([variant["name"], f"{point['mode']} {point['target']:g}", _rate(point.get("selection_false_positive_rate")),
                     _rate(metrics.get("false_positive_rate")), _held(point, metrics.get("false_positive_rate")),
                     _rate(metrics.get("detection_rate")), _rate(metrics.get("auroc")), _rate(metrics.get("pr_auc"))])
    return rows


def decision_notes(variants: list[dict]) -> list[str]:
    """The speed flags of every contender (outliers re-measured, a machine busier than its cores), each said once."""
    flagged: dict[str, list[str]] = {}
    for variant in variants:
        for flag in variant["metrics"].get("speed_flags", []):
            flagged.setdefault(flag, []).append(variant["name"])
    return [f"{', '.join(names) if len(names) < len(variants) else 'every contender'}: {flag}." for flag, names in flagged.items()]


def _held(point: dict, test_fpr: float | None) -> Cell:
    if point.get("mode") != "target_fpr" or test_fpr is None:
        return Cell("–")
    if test_fpr <= point["target"]:
        return Cell("held", "good")
    return Cell(f"exceeded ({test_fpr:.4f} > {point['target']:g})", "bad")


def _with_interval(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else f"{value:.4f}"


def _difference(interval: list[float] | None) -> str:
    return f"[{interval[0]:+.4f}, {interval[1]:+.4f}]" if interval else "n/a"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
