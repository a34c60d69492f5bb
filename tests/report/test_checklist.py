"""The checklist table: one row per check, one column per variant, status and value in each cell."""

from rtguard.policy import Policy
from rtguard.report.checklist import checklist_header, checklist_rows
from rtguard.report.table import Cell, markdown_grid, transpose
from rtguard.select import CHECKS, select


def _variant(name, **metrics):
    """Speed and size at the top level, quality under `selection`, as evaluate writes them."""
    quality = {"detection_rate": 0.9, "false_positive_rate": 0.05, "macro_f1": 0.9}
    speed = {"latency_p99_ms": 0.1, "throughput_per_s": 1000.0, "file_bytes": 2048, "batch_dependence": 0.0}
    return {"name": name, "artifact": None if name == "torch-fp32" else f"variants/{name}/model.onnx",
            "metrics": {**speed, **{k: v for k, v in metrics.items() if k not in quality},
                        "selection": {**quality, **{k: v for k, v in metrics.items() if k in quality}}}}


def test_cells_show_status_value_and_the_rows_their_thresholds():
    selection = select([_variant("torch-fp32"), _variant("fast", latency_p99_ms=0.05), _variant("slow", latency_p99_ms=0.5)],
                       Policy(max_latency_p99_ms=0.2, require_signature=True))
    header, rows = checklist_header(selection), checklist_rows(selection)
    assert header == ["check", "torch-fp32 (reference)", "fast", "slow"]
    by_check = {row[0]: row[1:] for row in rows}
    assert [c.text for c in by_check["p99 latency, batch 1 ≤ 0.2 ms"]] == ["pass 0.1 ms", "pass 0.05 ms", "FAIL 0.5 ms"]
    assert [c.tone for c in by_check["signature verified: required"]] == ["unknown"] * 3
    assert by_check["model file size (not required)"][0] == Cell("2.0 KiB")
    assert [c.text for c in by_check["verdict"]] == ["blocked by 1 check(s)", "blocked by 1 check(s)", "blocked by 2 check(s)"]
    assert len(rows) == len(CHECKS) + 2
    assert "| p99 latency, batch 1 ≤ 0.2 ms | pass 0.1 ms | pass 0.05 ms | FAIL 0.5 ms |" in markdown_grid(header, rows)


def test_the_shipped_variant_and_the_dominated_ones_are_marked():
    selection = select([_variant("torch-fp32", latency_p99_ms=0.3), _variant("fast", latency_p99_ms=0.05)], Policy())
    by_check = {row[0]: row[1:] for row in checklist_rows(selection)}
    assert by_check["verdict"] == [Cell("passes (not an artifact)"), Cell("SHIP", "good")]
    assert by_check["on the Pareto front"] == [Cell("dominated by fast"), Cell("yes")]


def test_a_terminal_gets_only_the_required_checks():
    selection = select([_variant("torch-fp32"), _variant("fast")], Policy(min_detection_rate=0.5))
    labels = [row[0] for row in checklist_rows(selection, required_only=True)]
    assert labels == ["p99 latency, batch 1 ≤ 100 ms", "detection at the operating point ≥ 0.5000", "macro-F1 ≥ 0.5000",
                      "macro-F1 loss vs reference ≤ 0.0100", "verdicts independent of batch neighbours ≤ 0.0000",
                      "on the Pareto front", "verdict"]


def test_transposed_for_a_terminal_a_row_per_variant():
    selection = select([_variant("torch-fp32"), _variant("fast")], Policy())
    header, rows = transpose(checklist_header(selection), checklist_rows(selection, required_only=True), "variant")
    assert header == ["variant", "p99 latency, batch 1 ≤ 100 ms", "detection at the operating point ≥ 0.5000", "macro-F1 ≥ 0.5000",
                      "macro-F1 loss vs reference ≤ 0.0100", "verdicts independent of batch neighbours ≤ 0.0000",
                      "on the Pareto front", "verdict"]
    assert [row[0] for row in rows] == ["torch-fp32 (reference)", "fast"] and rows[1][-1] == Cell("SHIP", "good")
