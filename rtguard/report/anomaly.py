"""The anomaly task's part of the report: detectors side by side, detection per attack class and per type.

A type absent from the training data is the point of an anomaly detector: the table of
types marks them, and the summary counts how many each variant catches (detects at
least CAUGHT of their test flows).
"""

from __future__ import annotations

from rtguard.report.blocks import Bullets, Grid, Heading, Paragraph

CAUGHT = 0.5


def anomaly_blocks(report: dict) -> list:
    variants = [v for v in report["variants"] if "anomaly" in v["metrics"]]
    if not variants:
        return []
    first = variants[0]["metrics"]["anomaly"]
    blocks = [
        Heading("Anomaly detectors"),
        Paragraph(f"Trained on benign flows only. Each variant alerts when its anomaly score reaches its threshold, calibrated "
                  f"to a {first['target_fpr']:.2%} false-positive rate on its own scores of the benign validation flows and "
                  "stored inside its graph (torch-fp32: the same rule on the PyTorch scores). AUROC ranks the raw scores; "
                  "detection and FPR are the artifact's own alerts on the test split. Worst evasion: the largest share, over "
                  "attacks and budgets, of the attack flows a variant alerted on that no longer alert once FGSM/PGD on the "
                  "reference detector lowered their score inside the threat model (transferred: the forest has no gradients)."),
        Grid(["variant", "AUROC", "detection", "FPR (test)", "threshold", "worst evasion", "p99 ms (b=1)", "rows/s", "size KiB"],
             [_summary_row(v) for v in variants]),
        Heading("Detection per attack class", 3),
        _label_grid(variants, "detection_by_class"),
    ]
    if _types_differ(first):
        blocks += [Heading("Detection per attack type", 3),
                   Paragraph("Types marked test-only never occur in the training file: no supervised model could have learned them."),
                   _type_grid(variants), Bullets(unseen_type_summary(variants))]
    return blocks


def _summary_row(variant: dict) -> list[str]:
    metrics = variant["metrics"]
    anomaly = metrics["anomaly"]
    evasion = [rate for by_eps in metrics.get("evasion_rate", {}).values() for rate in by_eps.values() if rate is not None]
    return [variant["name"], _rate(anomaly["auroc"]), _rate(metrics["detection_rate"]), _rate(metrics["false_positive_rate"]),
            f"{anomaly['threshold']:.4g}", _rate(max(evasion)) if evasion else "n/a", f"{metrics['latency_p99_ms']:.4f}",
            f"{metrics['throughput_per_s']:,.0f}", f"{metrics['file_bytes'] / 1024:,.1f}"]


def _label_grid(variants: list[dict], key: str) -> Grid:
    labels = list(variants[0]["metrics"]["anomaly"][key])
    rows = [[v["name"], *(_rate(v["metrics"]["anomaly"][key].get(label, {}).get("rate")) for label in labels)] for v in variants]
    return Grid(["variant", *labels], rows)


def _type_grid(variants: list[dict]) -> Grid:
    first = variants[0]["metrics"]["anomaly"]
    seen = set(first["types_in_training"])
    rows = []
    for name, counts in first["detection_by_type"].items():
        rates = [_rate(v["metrics"]["anomaly"]["detection_by_type"][name]["rate"]) for v in variants]
        rows.append([name, "yes" if name in seen else "test-only", str(counts["rows"]), *rates])
    return Grid(["type", "in training", "test rows", *(v["name"] for v in variants)], rows)


def unseen_type_summary(variants: list[dict]) -> list[str]:
    """How many of the test-only types each variant catches."""
    first = variants[0]["metrics"]["anomaly"]
    unseen = [name for name in first["detection_by_type"] if name not in set(first["types_in_training"])]
    if not unseen:
        return ["Every attack type of the test split also occurs in the training data."]
    lines = []
    for variant in variants:
        by_type = variant["metrics"]["anomaly"]["detection_by_type"]
        caught = [name for name in unseen if by_type[name]["rate"] >= CAUGHT]
        flows = sum(by_type[name]["detected"] for name in unseen) / max(sum(by_type[name]["rows"] for name in unseen), 1)
        lines.append(f"{variant['name']} catches {len(caught)} of the {len(unseen)} test-only types (≥{CAUGHT:.0%} of their flows "
                     f"alerted) and alerts on {flows:.2%} of their flows" + (f": {', '.join(caught)}" if caught else ""))
    return lines


def _types_differ(anomaly: dict) -> bool:
    return set(anomaly["detection_by_type"]) != set(anomaly["detection_by_class"])


def _rate(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
