"""FP16: the dense layers in float16 with onnxconverter-common, inputs and outputs kept float32."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import onnx
from onnx.utils import Extractor

from rtguard.optimize.kernels import dense_kernels
from rtguard.optimize.passes import OnnxPass, PassContext
from rtguard.optimize.regions import network_inputs


class Float16(OnnxPass):
    """Only the sub-graph from the first dense layer on is converted; preprocessing stays float32.

    float16 tops out at 65,504, so raw byte counts overflow to infinity, and the
    converter's node block list still rounds tensors between blocked nodes through
    float16: the graph is split where preprocessing hands over to the dense layers and
    only that part goes through `convert_float_to_float16(keep_io_types=True)`.
    Meant for GPUs: ONNX Runtime's CPU provider lacks most float16 kernels.
    """

    name: ClassVar[str] = "fp16"

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        from onnxconverter_common import float16

        model = onnx.load(str(source))
        boundary = network_inputs(model.graph)
        extractor = Extractor(model)
        preprocessing = extractor.extract_model([i.name for i in model.graph.input], boundary)
        dense = extractor.extract_model(boundary, [o.name for o in model.graph.output])
        dense = float16.convert_float_to_float16(dense, keep_io_types=True)
        graph = onnx.helper.make_graph(
            [*preprocessing.graph.node, *dense.graph.node], model.graph.name, model.graph.input, model.graph.output,
            initializer=[*preprocessing.graph.initializer, *dense.graph.initializer],
        )
        onnx.save(onnx.helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version), str(target))
        kernels = dense_kernels(target)
        chosen = {"keep_io_types": True, "float32_preprocessing_nodes": len(preprocessing.graph.node),
                  "float16_nodes": len(dense.graph.node), "boundary": boundary, "cpu_dense_precision": kernels["precision"]}
        if not kernels["precision"].get("float16"):
            chosen["note"] = ("ONNX Runtime's CPU provider has no float16 kernel for these dense layers: it runs them in "
                              "float32 and adds casts around them, so on this CPU FP16 halves the weights on disk but is no "
                              "faster, at batch 1 slower; FP16 is meant for GPUs")
        return chosen

