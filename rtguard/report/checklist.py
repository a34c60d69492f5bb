"""The policy checklist as one table: a row per check, a column per variant."""

from __future__ import annotations

from rtguard.report.table import Cell
from rtguard.select import CHECKS, FAIL, NOT_MEASURED, PASS, format_value

STATUS_CELLS = {PASS: ("pass", "good"), FAIL: ("FAIL", "bad"), NOT_MEASURED: ("not measured", "unknown")}


def checklist_header(selection: dict) -> list[str]:
    return ["check"] + [v["name"] + ("" if v["candidate"] else " (reference)") for v in selection["variants"]]


def checklist_rows(selection: dict, required_only: bool = False) -> list[list]:
    """Every check of the policy model, or (for a terminal) only those the policy requires."""
    checks = {c["key"]: c for c in selection["checks"]}
    rows = []
    for check in CHECKS:
        if required_only and not checks[check.key]["required"]:
            continue
        row = [checks[check.key]["text"]]
        for variant in selection["variants"]:
            result = variant["results"][check.key]
            word, tone = STATUS_CELLS.get(result["status"], ("", None))
            if result["status"] == NOT_MEASURED:
                row.append(Cell(word, tone))
            else:
                row.append(Cell(f"{word} {format_value(check, result['value'])}".strip(), tone))
        rows.append(row)
    pareto = selection["pareto"]
    rows.append(["on the Pareto front"] + [
        Cell("yes") if v["name"] in pareto["front"] else Cell(f"dominated by {pareto['dominated_by'][v['name']]}")
        for v in selection["variants"]
    ])
    rows.append(["verdict"] + [_verdict_cell(v, selection["chosen"]) for v in selection["variants"]])
    return rows


def _verdict_cell(variant: dict, chosen: str | None) -> Cell:
    if variant["name"] == chosen:
        return Cell("SHIP", "good")
    if not variant["passed"]:
        return Cell(f"blocked by {len(variant['blocking'])} check(s)", "bad")
    return Cell("passes" if variant["candidate"] else "passes (not an artifact)")
