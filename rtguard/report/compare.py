"""What changed between two runs (say, before and after a model update): metric deltas and verdicts.

Reads only the two report.json files, the contract between runs. Speed measured in two
runs did not share the machine's noise the way variants of one run do, so the output
says so instead of presenting a small speed change as a finding.
"""

from __future__ import annotations

from rtguard.report.table import COLUMNS, Cell, format_metric, table_header

NOISE_NOTE = ("Speed comes from two separate runs and did not share the machine's noise; "
              "compare speed within a run (variants take turns) before trusting a small change here.")


def incomparable(before: dict, after: dict) -> list[str]:
    """Why two runs' numbers do not measure the same thing (data set, labels, features); empty when they do.

    Classes may differ: an update adds the attack family it learned.
    """
    reasons = []
    for key, what in (("name", "data set"), ("labels", "labels"), ("feature_names", "features")):
        a, b = before["dataset"].get(key), after["dataset"].get(key)
        if a != b:
            reasons.append(f"{what} differ ({_short(a)} vs {_short(b)})")
    return reasons


def _short(value) -> str:
    text = ", ".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compare_reports(before: dict, after: dict) -> dict:
    """Per shared variant, the table's metrics before and after; every variant's verdict in both."""
    old, new = _by_name(before), _by_name(after)
    shared = [name for name in new if name in old]
    labels = dict(zip([key for _, key, _ in COLUMNS], table_header(after["variants"])))
    metrics = []
    for name in shared:
        for _, key, _ in COLUMNS[1:]:
            a, b = old[name]["metrics"].get(key), new[name]["metrics"].get(key)
            change = b - a if a is not None and b is not None else None
            metrics.append({"variant": name, "metric": key, "label": labels[key], "before": a, "after": b, "change": change,
                            "relative": change / a if change is not None and a else None})
    names = list(old) + [name for name in new if name not in old]
    before_selection, after_selection = before.get("selection"), after.get("selection")
    return {
        "before": before["run"],
        "after": after["run"],
        "metrics": metrics,
        "verdicts": [{"variant": name, "before": verdict(before, name), "after": verdict(after, name)} for name in names],
        "chosen": {"before": (before_selection or {}).get("chosen"), "after": (after_selection or {}).get("chosen")},
        "policy_changes": _policy_changes(before_selection, after_selection),
        "added": [name for name in new if name not in old],
        "removed": [name for name in old if name not in new],
    }


def verdict(report: dict, name: str) -> str:
    """ships / passes / blocked: <checks> / not in this run / not selected (a report made before the gate)."""
    if "selection" not in report:
        return "not selected"
    gated = next((v for v in report["selection"]["variants"] if v["name"] == name), None)
    if gated is None:
        return "not in this run"
    if name == report["selection"]["chosen"]:
        return "ships"
    if gated["blocking"]:
        return "blocked: " + ", ".join(gated["blocking"])
    return "passes"


def metric_rows(comparison: dict) -> tuple[list[str], list[list]]:
    header = ["variant", "metric", comparison["before"], comparison["after"], "change", "change %"]
    rows = []
    for row in comparison["metrics"]:
        change, relative = row["change"], row["relative"]
        rows.append([row["variant"], row["label"], format_metric(row["metric"], row["before"]),
                     format_metric(row["metric"], row["after"]),
                     "n/a" if change is None else ("+" if change > 0 else "") + format_metric(row["metric"], change),
                     "n/a" if relative is None else f"{relative:+.1%}"])
    return header, rows


def verdict_rows(comparison: dict) -> tuple[list[str], list[list]]:
    header = ["variant", comparison["before"], comparison["after"]]
    rows = []
    for row in comparison["verdicts"]:
        changed = row["before"] != row["after"]
        tone = None if not changed else "good" if row["after"] in ("ships", "passes") else "bad"
        rows.append([row["variant"], row["before"], Cell(row["after"], tone)])
    return header, rows


def summary(comparison: dict) -> list[str]:
    chosen = comparison["chosen"]
    lines = [f"chosen: {chosen['before'] or 'nothing'} -> {chosen['after'] or 'nothing'}"]
    if comparison["added"] or comparison["removed"]:
        lines.append(f"variants added: {', '.join(comparison['added']) or 'none'}; removed: {', '.join(comparison['removed']) or 'none'}")
    if comparison["policy_changes"]:
        lines.append("the policy changed, so verdicts may differ for that reason alone: " + ", ".join(
            f"{key} {change['before']} -> {change['after']}" for key, change in comparison["policy_changes"].items()))
    return lines + [NOISE_NOTE]


def _by_name(report: dict) -> dict[str, dict]:
    return {variant["name"]: variant for variant in report["variants"]}


def _policy_changes(before: dict | None, after: dict | None) -> dict:
    if before is None or after is None:
        return {}  # a report made before the gate has no policy to compare with
    old, new = before["policy"], after["policy"]
    return {key: {"before": old.get(key), "after": new.get(key)} for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)}
