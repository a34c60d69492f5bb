"""report.md: the table and the findings first, then how each variant was made."""

from __future__ import annotations

from rtguard.report.table import markdown_table


def render_markdown(report: dict) -> str:
    machine, dataset, training = report["machine"], report["dataset"], report["training"]
    flags = ", ".join(flag for flag, present in machine["flags"].items() if present) or "none of note"
    lines = [
        f"# rtguard report: {report['run']}",
        "",
        f"- **Data**: {dataset['source']}, {dataset['labels']} labels ({', '.join(dataset['classes'])}); "
        f"{dataset['features']} features; rows train/val/test = "
        + "/".join(str(dataset["rows"].get(s, 0)) for s in ("train", "val", "test")),
        f"- **Machine**: {machine['cpu']} ({machine['arch']}, {machine['cores']} cores; {flags})",
        "- **Versions**: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"- **Training**: {training['wall_time_s']:.1f} s, {training['epochs_run']} epochs (best {training['best_epoch']}), "
        f"{training['samples_per_s']:,.0f} samples/s, validation macro-F1 {training['validation']['macro_f1']:.4f}",
        "",
        "## Variants on the test split",
        "",
        markdown_table(report["variants"]),
        "",
        "Speed is measured in this run, on this machine, variants taking turns; ratios matter more than absolute values.",
        "",
        "## Findings",
        "",
        *[f"- {note}" for note in report["findings"]],
        "",
        "## Per-class recall",
        "",
        _recall_table(report["variants"], dataset["classes"]),
        "",
        "## How each variant was built",
        "",
    ]
    for variant in report["variants"]:
        steps = variant["recipe"] or [{"pass": "PyTorch eager FP32 (reference)", "chosen": {}}]
        for step in steps:
            chosen = {k: v for k, v in step["chosen"].items() if k != "reason"}
            reason = step["chosen"].get("reason")
            lines.append(f"- **{variant['name']}**: {step['pass']} {chosen if chosen else ''}" + (f". Why: {reason}" if reason else ""))
    return "\n".join(lines) + "\n"


def _recall_table(variants: list[dict], classes: list[str]) -> str:
    lines = ["| variant | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
    for variant in variants:
        recall = variant["metrics"]["per_class_recall"]
        lines.append(f"| {variant['name']} | " + " | ".join(f"{recall[c]:.4f}" if c in recall else "n/a" for c in classes) + " |")
    return "\n".join(lines)
