import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from torch import nn

from rtguard.errors import RtguardError
from rtguard.optimize.qat import QuantizationAwareTraining
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME


def test_qat_exports_qdq_that_runs_on_integer_kernels(build, tiny_context):
    record, path = build("qat-int8", qat={"epochs": 1})
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert record["kernels"]["precision"] == {"int8": 2}
    assert record["source"]["parity"]["agreement"] > 0.99
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities = session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(tiny_context.splits.x_test)})[0]
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-3)


def test_qat_over_a_layer_it_cannot_quantize_is_an_error_naming_it(tiny_context):
    model = copy.deepcopy(tiny_context.reference)
    width = model.body[0].in_features
    model.body = nn.Sequential(nn.LayerNorm(width), *model.body)
    with pytest.raises(RtguardError, match=r"cannot quantize body\.0 \(LayerNorm\)"):
        QuantizationAwareTraining(epochs=1).run(model, tiny_context)
