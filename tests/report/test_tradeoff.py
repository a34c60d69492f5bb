"""The per-variant training-cost line of the report."""

from rtguard.report.tradeoff import tradeoff_lines


def _variant(name, train_seconds, throughput, detection):
    return {"name": name, "metrics": {"train_seconds": train_seconds, "throughput_per_s": throughput, "detection_rate": detection}}


def test_each_variant_reads_as_extra_training_throughput_multiple_and_detection_points():
    variants = [_variant("torch-fp32", 12.0, 1000.0, 0.950), _variant("distilled-small", 52.0, 3100.0, 0.948),
                {"name": "unmeasured", "metrics": {"train_seconds": 13.0}}]
    assert tradeoff_lines(variants, "torch-fp32") == [
        "torch-fp32 (reference): 12.0 s from training data to model, 1,000 rows/s, detection rate 0.9500.",
        "distilled-small: +40.0 s training, 3.10x throughput, -0.20 pt detection rate.",
    ]


def test_nothing_without_a_measured_reference():
    assert tradeoff_lines([_variant("onnx-fp32", 1.0, 10.0, 0.5)], "torch-fp32") == []
