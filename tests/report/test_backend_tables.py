"""The variant x backend tables and notes, on hand-made measurements."""

from rtguard.report.backends import backend_notes, latency_grid, throughput_grid
from rtguard.report.table import Cell


def _pair(p50, rows_per_s, status="measured", **extra):
    return {"status": status, "latency_p50_ms": p50, "latency_p99_ms": 2 * p50, "throughput_per_s": rows_per_s,
            "throughput_batch": 1024, **extra}


VARIANTS = [
    {"name": "torch-fp32", "artifact": None, "metrics": {"backends": {"torch-eager": _pair(0.2, 1000), "torch-compile": _pair(0.001, 2000)}}},
    {"name": "onnx-fp32", "artifact": "a", "metrics": {"backends": {
        "onnxruntime": _pair(0.03, 900_000), "openvino": _pair(0.08, 600_000),
        "tensorrt": {"status": "unavailable", "reason": "no GPU"}}}},
    {"name": "int8", "artifact": "b", "metrics": {"backends": {
        "onnxruntime": _pair(0.04, 800_000), "openvino": _pair(0.01, 950_000, "mismatch", reason="differs"),
        "tensorrt": {"status": "unavailable", "reason": "no GPU"}}}},
]
SELECTION = {"chosen": "onnx-fp32", "backend": "onnxruntime"}


def test_every_cell_says_what_happened_and_marks_the_fastest_and_shipped_pairs():
    header, rows = latency_grid(VARIANTS, ("onnx-fp32", "onnxruntime"))
    assert header == ["variant", "torch-eager", "torch-compile", "onnxruntime", "openvino", "tensorrt"]
    assert rows[0][2] == Cell("0.0010 (0.0020) [fastest]", "good") and rows[0][3] == Cell("–")
    assert rows[1][3] == Cell("0.0300 (0.0600) [shipped]", "good") and rows[1][5] == Cell("unavailable", "unknown")
    assert rows[2][4] == Cell("0.0100 (0.0200) outputs differ", "bad"), "a mismatching pair is never the fastest"
    _, rows = throughput_grid(VARIANTS, ("onnx-fp32", "onnxruntime"))
    assert rows[1][3] == Cell("900,000 [fastest, shipped]", "good")


def test_notes_name_the_fastest_pairs_the_deployable_one_and_every_missing_pair():
    notes = backend_notes(VARIANTS, SELECTION)
    assert notes[0] == ("Fastest at batch 1 (p50, one thread): torch-fp32 on torch-compile (0.0010 ms); "
                        "fastest deployable artifact: onnx-fp32 on onnxruntime (0.0300 ms).")
    assert notes[1] == "Fastest at batch 1024 (all cores): onnx-fp32 on onnxruntime (900,000 rows/s)."
    assert "Shipped pair: onnx-fp32 on onnxruntime" in notes[2]
    assert "every variant on tensorrt: unavailable: no GPU" in notes and "int8 on openvino: mismatch: differs" in notes
