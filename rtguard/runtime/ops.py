"""The operators a model may use: those rtguard's exporters and ORT's quantizers produce.

Fewer operators, fewer kernels an attacker can reach. Left out on purpose: control
flow (If, Loop, Scan: unbounded work and nested graphs), random generators, string,
sequence and optional ops, training ops, and every non-default domain (custom-domain
ops would need a custom-op library, which rtguard never registers; ORT's com.microsoft
contrib ops are not in onnx's checker either). `runtime.extra_ops` widens the list.
"""

from __future__ import annotations

# torch.onnx (dynamo) for the model families in rtguard/models (MLP, residual CNN,
# autoencoder) and the in-graph preprocessing, plus the fp16 converter's Casts.
EXPORTED_OPS = frozenset({
    "Abs", "Add", "And", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "CastLike", "Ceil", "Clip",
    "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Dropout", "Equal", "Erf", "Exp", "Expand",
    "Flatten", "Floor", "Gather", "Gelu", "Gemm", "GlobalAveragePool", "Greater", "GreaterOrEqual",
    "Identity", "IsInf", "IsNaN", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log",
    "LogSoftmax", "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "Range",
    "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape", "Round", "Shape", "Sigmoid",
    "Sign", "Size", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh", "Tile", "Transpose",
    "Unsqueeze", "Where",
})

# onnxruntime.quantization: dynamic (MatMulInteger) and static QDQ / QOperator formats.
QUANTIZER_OPS = frozenset({
    "ConvInteger", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QLinearConv",
    "QLinearMatMul", "QuantizeLinear",
})

DEFAULT_OPS = EXPORTED_OPS | QUANTIZER_OPS
DEFAULT_DOMAINS = ("", "ai.onnx")


def allowed_ops(extra: list[str]) -> frozenset[str]:
    """Default-domain operator names a model may use."""
    return DEFAULT_OPS | frozenset(extra)
