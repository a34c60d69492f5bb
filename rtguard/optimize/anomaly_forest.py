"""The classical baseline: scikit-learn's IsolationForest, exported with skl2onnx behind the same preprocessing.

The forest is fitted on the preprocessed benign training flows, computed by the
reference export's own preprocessing sub-graph, then converted and merged after that
sub-graph: the artifact takes the same raw rows as every other variant. Its anomaly
score is scikit-learn's -score_samples (2^(-mean path length / c), in (0, 1]).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from pydantic import Field

from rtguard.artifact import ANOMALY_SCORE
from rtguard.optimize.passes import OnnxPass, PassContext
from rtguard.optimize.regions import preprocessing_graph
from rtguard.runtime.session import INPUT_NAME

ML_OPSET = 3  # ai.onnx.ml: the TreeEnsembleRegressor and LabelEncoder skl2onnx emits for IsolationForest
PREFIX = "forest_"


class IsolationForestPass(OnnxPass):
    """Fit IsolationForest on preprocessed benign training rows; replace the source's network by the forest."""

    name: ClassVar[str] = "isolation-forest"
    trees: int = Field(100, ge=1, description="n_estimators.")
    samples: int = Field(256, ge=2, description="max_samples: rows drawn to grow each tree.")
    seed: int = Field(0, description="random_state.")
    opset: int = Field(20, description="Default-domain opset of the merged graph.")

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        from skl2onnx import to_onnx
        from sklearn.ensemble import IsolationForest

        preprocessing, boundary = preprocessing_graph(onnx.load(str(source)))
        session = ort.InferenceSession(preprocessing.SerializeToString(), providers=["CPUExecutionProvider"])
        points = session.run([boundary], {INPUT_NAME: context.splits.x_train[context.splits.y_train == 0]})[0]
        started = time.perf_counter()
        forest = IsolationForest(n_estimators=self.trees, max_samples=min(self.samples, len(points)), random_state=self.seed)
        forest.fit(points)
        fit_seconds = time.perf_counter() - started
        converted = to_onnx(forest, points[:1], target_opset={"": self.opset, "ai.onnx.ml": ML_OPSET})
        merged = _merge(preprocessing, boundary, converted, float(forest.offset_))
        onnx.save(merged, str(target))
        return {"trees": self.trees, "max_samples": int(forest.max_samples_), "fit_rows": int(len(points)),
                "fit_seconds": fit_seconds, "converter": "skl2onnx", "nodes": len(merged.graph.node)}


def _merge(preprocessing: onnx.ModelProto, boundary: str, forest: onnx.ModelProto, offset: float) -> onnx.ModelProto:
    """preprocessing -> forest -> anomaly_score = -(decision_function + offset_) = -score_samples, as one model."""
    forest = onnx.compose.add_prefix(forest, PREFIX)
    forest.ir_version = preprocessing.ir_version
    merged = onnx.compose.merge_models(preprocessing, forest, io_map=[(boundary, PREFIX + _forest_input(forest))],
                                       outputs=[PREFIX + "scores"])
    graph = merged.graph
    graph.initializer.extend([numpy_helper.from_array(np.array(offset, dtype=np.float32), "forest_offset"),
                              numpy_helper.from_array(np.array([-1], dtype=np.int64), "forest_flat")])
    graph.node.extend([
        helper.make_node("Reshape", [PREFIX + "scores", "forest_flat"], ["forest_decision"], name="forest_decision"),
        helper.make_node("Add", ["forest_decision", "forest_offset"], ["forest_score_samples"], name="forest_score_samples"),
        helper.make_node("Neg", ["forest_score_samples"], [ANOMALY_SCORE], name="forest_anomaly_score"),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(ANOMALY_SCORE, onnx.TensorProto.FLOAT, ["batch"]))
    return merged


def _forest_input(prefixed: onnx.ModelProto) -> str:
    return prefixed.graph.input[0].name.removeprefix(PREFIX)
