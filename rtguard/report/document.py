"""What the report says, in order, as a few kinds of blocks; markdown.py and html.py render them.

Written once so report.md and report.html can never tell different stories.
"""

from __future__ import annotations

from rtguard.data.prepare import SPLITS
from rtguard.report.anomaly import anomaly_blocks
from rtguard.report.backends import backend_notes, latency_grid, throughput_grid
from rtguard.report.backends import measured as backends_measured
from rtguard.report.blocks import Bullets, Figures, Grid, Heading, Paragraph
from rtguard.report.checklist import checklist_header, checklist_rows
from rtguard.report.decision import decision_notes, held_header, held_rows, selection_header, selection_rows
from rtguard.report.security import measured, security_header, security_notes, security_rows
from rtguard.report.table import table_header, table_rows
from rtguard.report.tradeoff import tradeoff_lines


def build_document(report: dict) -> list:
    """The verdict first, then the checklist, the measurements, the plots and how it was all made."""
    selection, variants = report["selection"], report["variants"]
    pareto = selection["pareto"]
    left_out = f" Not measured in this run, so left out: {', '.join(pareto['not_measured'])}." if pareto["not_measured"] else ""
    return [
        Heading(f"rtguard report: {report['run']}", 1),
        Paragraph(selection["verdict"], "good" if selection["chosen"] else "bad"),
        Paragraph(f"Policy '{selection['policy']['name']}', reference {selection['reference']}. How the variant is chosen: {selection['rule']}"),
        Heading("Checklist"),
        Grid(checklist_header(selection), checklist_rows(selection)),
        Paragraph(f"Pareto front over {', '.join(pareto['objectives'])}: {', '.join(pareto['front'])}.{left_out}"),
        *_decision(variants, selection["reference"]),
        Heading("Variants on the test split (reported only)"),
        Grid(table_header(variants), table_rows(variants)),
        Paragraph("Speed is measured in this run, on this machine, variants taking turns; ratios matter more than absolute values."),
        Heading("Training cost vs speed"),
        Bullets(tradeoff_lines(variants, selection["reference"])),
        *_backends(report),
        *_security(report),
        *_anomaly(report),
        Heading("Plots"),
        Figures(report["plots"]),
        Heading("Findings"),
        Bullets(report["findings"]),
        Heading("Per-class recall"),
        _recall_grid(variants, report["dataset"]["classes"]),
        Heading("Machine, versions and data"),
        Bullets(_setup(report)),
        Heading("How each variant was built"),
        Bullets(_recipes(variants)),
    ]


def _decision(variants: list[dict], reference: str) -> list:
    """What the decision read (selection split, with intervals) and whether each operating point held on the test split."""
    if not any("selection" in v["metrics"] for v in variants):
        return []
    notes = decision_notes(variants)
    return [Heading("What the decision read: the selection split"),
            Paragraph("Quality with 95% paired-bootstrap intervals; Δ is the interval of (variant - reference) on the same "
                      "resamples. @op: at each variant's operating point, the alert threshold calibrated on this split."),
            Grid(selection_header(reference), selection_rows(variants)),
            Heading("Operating points on the test split"),
            Paragraph("No decision read these numbers: they show whether each calibrated alert budget held on unseen data."),
            Grid(held_header(), held_rows(variants)),
            *([Bullets(notes)] if notes else [])]


def _backends(report: dict) -> list:
    """Every variant on every backend (one protocol); nothing for a run evaluated before backends were measured."""
    variants, selection = report["variants"], report["selection"]
    if not backends_measured(variants):
        return []
    chosen = (selection["chosen"], selection["backend"]) if selection.get("backend") else None
    batch = next((m["throughput_batch"] for v in variants for m in v["metrics"].get("backends", {}).values() if "throughput_batch" in m), "?")
    return [Heading("Variants x backends"),
            Paragraph("Batch 1, one thread: p50 ms (p99 ms). The same protocol for every pair, fewer calls than the table above."),
            Grid(*latency_grid(variants, chosen)),
            Paragraph(f"Batch {batch}, all cores: rows/s."),
            Grid(*throughput_grid(variants, chosen)),
            Bullets(backend_notes(variants, selection))]


def _security(report: dict) -> list:
    """Robustness beside speed, with what the numbers rest on; nothing when the run did not measure it."""
    variants, reference = report["variants"], report["selection"]["reference"]
    if not measured(variants):
        return []
    return [Heading("Robustness vs speed"), Grid(security_header(variants, reference), security_rows(variants, reference)),
            Bullets(security_notes(variants, reference))]


def _anomaly(report: dict) -> list:
    """Detectors side by side and detection per attack class and type; nothing for a classifier run."""
    return anomaly_blocks(report)


def _setup(report: dict) -> list[str]:
    machine, dataset, training = report["machine"], report["dataset"], report["training"]
    flags = ", ".join(flag for flag, present in machine["flags"].items() if present) or "none of note"
    return [
        f"Machine: {machine['cpu']} ({machine['arch']}, {machine['cores']} cores; {flags})",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"Data: {dataset['source']}, {dataset['labels']} labels ({', '.join(dataset['classes'])}); {dataset['features']} features; "
        "rows train/val/selection/test = " + "/".join(str(dataset["rows"].get(s, 0)) for s in SPLITS),
        _training_line(training),
    ]


def _training_line(training: dict) -> str:
    """A network's epochs, or a tree reference's one fit (train/trees.py)."""
    if "family" in training:
        how = f"a {training['family']} of {training['tree_nodes']:,} tree nodes fitted on {training['fit_rows']:,} rows"
    else:
        how = (f"{training['epochs_run']} epochs (best {training['best_epoch']}), {training['samples_per_s']:,.0f} samples/s")
    return f"Training: {training['wall_time_s']:.1f} s, {how}, validation macro-F1 {training['validation']['macro_f1']:.4f}"


def _recall_grid(variants: list[dict], classes: list[str]) -> Grid:
    rows = []
    for variant in variants:
        recall = variant["metrics"]["per_class_recall"]
        rows.append([variant["name"]] + [f"{recall[c]:.4f}" if c in recall else "n/a" for c in classes])
    return Grid(["variant", *classes], rows)


# How the reference row was computed, by its backend (evaluate/predictors.py): it has no recipe of its own.
REFERENCE_RECIPES = {"torch-eager": "PyTorch eager FP32 (reference)",
                     "trees-as-fitted": "the fitted trees behind PyTorch's preprocessing (reference)"}


def _recipes(variants: list[dict]) -> list[str]:
    lines = []
    for variant in variants:
        reference = REFERENCE_RECIPES.get(variant["metrics"].get("backend"), REFERENCE_RECIPES["torch-eager"])
        for step in variant["recipe"] or [{"pass": reference, "chosen": {}}]:
            chosen = {k: v for k, v in step["chosen"].items() if k != "reason"}
            reason = step["chosen"].get("reason")
            lines.append(f"{variant['name']}: {step['pass']} {chosen if chosen else ''}".rstrip() + (f". Why: {reason}" if reason else ""))
    return lines
