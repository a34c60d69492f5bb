"""Findings in plain words, each one carrying the numbers it rests on."""

from __future__ import annotations

from rtguard.policy import METRIC_KEYS
from rtguard.select import CHECKS, OBJECTIVES, blocking_summary, decision_view, format_objective, objective_value

ONNX_BASELINE = "onnx-fp32"


def findings(variants: list[dict], training: dict, dataset: dict) -> list[str]:
    by_name = {v["name"]: v["metrics"] for v in variants}
    baseline = next(v["name"] for v in variants if v["artifact"] is None)  # the reference: torch-fp32, or a tree family's
    notes = []
    if ONNX_BASELINE in by_name and baseline in by_name:
        notes.append(_speed_note(ONNX_BASELINE, by_name[ONNX_BASELINE], baseline, by_name[baseline]))
    reference = ONNX_BASELINE if ONNX_BASELINE in by_name else baseline
    for name, metrics in by_name.items():
        if name in (baseline, ONNX_BASELINE):
            continue
        notes.append(_speed_note(name, metrics, reference, by_name[reference]))
        notes.append(_quality_note(name, metrics, baseline, by_name[baseline]))
    fastest = min(by_name, key=lambda n: by_name[n]["latency_p50_ms"])
    busiest = max(by_name, key=lambda n: by_name[n]["throughput_per_s"])
    notes.append(
        f"Lowest batch-1 latency: {fastest} (p50 {by_name[fastest]['latency_p50_ms']:.4f} ms); "
        f"highest throughput at batch {by_name[busiest]['throughput_batch']}: {busiest} "
        f"({by_name[busiest]['throughput_per_s']:,.0f} rows/s)."
    )
    validation_f1, test_f1 = training["validation"]["macro_f1"], by_name[baseline]["macro_f1"]
    notes.append(
        f"Validation macro-F1 {validation_f1:.4f} vs test macro-F1 {test_f1:.4f} for {baseline}: "
        + ("the test split is harder (drift or unseen attack types), as deployment will be."
           if test_f1 < validation_f1 - 0.01 else "no large gap between validation and test.")
    )
    oov = sum(dataset.get("out_of_vocabulary", {}).values())
    imputed = sum(dataset.get("non_finite_imputed", {}).values())
    if oov or imputed:
        notes.append(f"Data: {oov} categorical values fell into the out-of-vocabulary bucket and {imputed} NaN/inf values were imputed.")
    return notes


def _speed_note(name: str, metrics: dict, reference: str, ref: dict) -> str:
    """Speed as a multiple of the reference: above 1 is faster."""
    at_one = ref["latency_p50_ms"] / metrics["latency_p50_ms"]
    at_batch = metrics["throughput_per_s"] / ref["throughput_per_s"]
    return (
        f"{name} is {at_one:.2f}x as fast as {reference} at batch 1 "
        f"(p50 {metrics['latency_p50_ms']:.4f} vs {ref['latency_p50_ms']:.4f} ms) and {at_batch:.2f}x at batch "
        f"{metrics['throughput_batch']} ({metrics['throughput_per_s']:,.0f} vs {ref['throughput_per_s']:,.0f} rows/s)"
        + (" on this CPU: slower, keep the float model here." if at_one < 1 and at_batch < 1 else " on this CPU.")
    )


def _quality_note(name: str, metrics: dict, reference: str, baseline: dict) -> str:
    delta = metrics["macro_f1"] - baseline["macro_f1"]
    return (
        f"{name} macro-F1 {metrics['macro_f1']:.4f} vs {baseline['macro_f1']:.4f} for {reference} ({delta:+.4f}); "
        f"detection at the operating point {_rate(metrics['detection_rate'])} vs {_rate(baseline['detection_rate'])}; "
        f"predictions agree with {reference} on {metrics['agreement']:.2%} of test rows."
    )


def selection_findings(selection: dict, variants: list[dict], training: dict) -> list[str]:
    """Why variants were blocked or dominated, what the shipped one costs and how it scales."""
    by_name = {v["name"]: decision_view(v["metrics"]) for v in variants}
    notes = []
    for gated in selection["variants"]:
        if gated["candidate"] and gated["blocking"]:
            notes.append(f"{gated['name']} is blocked by the policy: {blocking_summary(gated, selection['policy'])}.")
    for name, by in selection["pareto"]["dominated_by"].items():
        values = ", ".join(f"{metric} {format_objective(metric, objective_value(by_name[name], metric))} "
                           f"vs {format_objective(metric, objective_value(by_name[by], metric))}"
                           for metric in selection["pareto"]["objectives"])
        notes.append(f"{name} is dominated by {by} (no better on any objective): {values}.")
    focus = selection["chosen"] or selection["reference"]
    metrics = by_name[focus]
    notes.append(f"From training data to {focus}: {metrics['train_seconds']:.1f} s, of which training the reference "
                 f"{training['wall_time_s']:.1f} s; the rest is export and the variant's own passes.")
    by_batch = metrics.get("throughput_by_batch")
    if by_batch:
        smallest, largest = min(by_batch, key=int), max(by_batch, key=int)
        notes.append(f"{focus} scores {by_batch[smallest]:,.0f} rows/s at batch {smallest} and {by_batch[largest]:,.0f} rows/s "
                     f"at batch {largest} ({by_batch[largest] / by_batch[smallest]:.1f}x): batching pays where the latency budget allows it.")
    checked = {c.metric for c in CHECKS} | {metric for metric, _ in OBJECTIVES}
    absent = [key for key in METRIC_KEYS if key in checked and all(key not in m for m in by_name.values())]
    if absent:
        notes.append(f"{len(absent)} of the {len(checked)} metrics the policy and the Pareto front can use were not measured in this run "
                     f"({', '.join(absent)}): checks requiring them cannot pass.")
    return notes


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
