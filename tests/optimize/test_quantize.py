import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from rtguard.errors import RtguardError
from rtguard.optimize.mixed import MixedInt8
from rtguard.optimize.quantize import StaticInt8
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME


@pytest.mark.parametrize("name, method", [("int8-static-entropy", "Entropy"), ("int8-static-percentile", "Percentile")])
def test_calibration_methods_give_integer_kernels(build, name, method):
    record, path = build(name)
    assert record["recipe"][0]["chosen"]["calibration_method"] == method
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in onnx.load(path).graph.node}
    assert record["kernels"]["precision"] == {"int8": 2}


@pytest.mark.parametrize("rows, message", [(0, "calibration set is empty"), (1, "holds only class 'benign'")])
def test_an_unusable_calibration_set_is_an_error_naming_the_setting(tiny_context, reference_export, tmp_path, rows, message):
    benign = tiny_context.calibration_labels == tiny_context.schema.benign_index
    context = dataclasses.replace(tiny_context, calibration=tiny_context.calibration[benign][: rows * 50],
                                  calibration_labels=tiny_context.calibration_labels[benign][: rows * 50])
    for step in (StaticInt8(), MixedInt8()):
        with pytest.raises(RtguardError, match=f"{message}.*optimize.calibration_samples"):
            step.run(reference_export.path, tmp_path / "q.onnx", context)
    assert not (tmp_path / "q.onnx").exists()


def test_mixed_precision_keeps_exactly_the_layers_it_reports_in_float(tiny_context, reference_export, tmp_path):
    target = tmp_path / "mixed.onnx"
    chosen = MixedInt8(metric="agreement", tolerance=0.0).run(reference_export.path, target, tiny_context)
    graph = onnx.load(target).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    float_layers = {node.name for node in graph.node if node.op_type in ("Gemm", "MatMul") and node.input[1] not in dequantized}
    assert float_layers == {entry["node"] for entry in chosen["excluded"]}
    assert set(chosen["sensitivity"]) == {node.name for node in graph.node if node.op_type in ("Gemm", "MatMul")}
    assert chosen["final_drop"] <= 0.0 or len(chosen["excluded"]) == len(chosen["sensitivity"])


def test_fp16_keeps_preprocessing_and_io_in_float32(build, reference_export, tiny_context):
    record, path = build("fp16")
    graph = onnx.load(path).graph
    halves = [init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT16]
    assert halves and all("body" in name for name in halves)
    assert graph.input[0].type.tensor_type.elem_type == graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    rows = np.ascontiguousarray(tiny_context.splits.x_test * 1e6)  # byte counts far beyond float16's 65,504

    def run(model):
        return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run([OUTPUT_NAME], {INPUT_NAME: rows})[0]

    assert np.abs(run(path) - run(reference_export.path)).max() < 1e-2
    if "float16" not in record["kernels"]["precision"]:
        assert "no faster" in record["notes"][0]
