"""The ensemble variant: a soft vote of the reference (a network, or a forest or tree) and a LightGBM model, as one graph.

The two families err differently (a network interpolates smoothly, trees cut on thresholds),
so averaging their class probabilities can beat either. Both members read the same in-graph
preprocessing: the LightGBM model is fitted on the preprocessed training rows the reference
export computes, converted, and its nodes join the reference graph after the preprocessing;
`probabilities` becomes the mean of the two members' probabilities, so the operating-point
pass and every consumer treat the ensemble as any classifier.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rtguard.artifact import OUTPUT_NAME
from rtguard.compute import graph_output
from rtguard.config import TreeModelConfig
from rtguard.errors import ParityError
from rtguard.models.trees import align_opsets, class_spread, fit_tree_model, to_onnx, tree_nodes
from rtguard.optimize.passes import OnnxPass, PassContext
from rtguard.optimize.trees import PARITY_ROWS, preprocessed_training_rows, tree_probabilities

NETWORK_VOTE, TREES_VOTE = "vote_network", "vote_trees"
PREFIX = "vote_gbdt_"  # not the tree merge's prefix: a tree reference's own trees already carry that


class SoftVote(OnnxPass):
    """Mean of the source network's probabilities and a LightGBM model's (`trees`), in one graph."""

    name: ClassVar[str] = "soft-vote"
    trees: TreeModelConfig
    seed: int = 0
    threads: int = 1
    opset: int = 20
    parity_tolerance: float = 1e-4

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        network = onnx.load(str(source))
        preprocessing, boundary, points = preprocessed_training_rows(network, context)
        splits, n_classes = context.splits, len(context.schema.classes)
        started = time.perf_counter()
        estimator = fit_tree_model("gbdt", self.trees, points, splits.y_train, self.seed, self.threads)
        fit_seconds = time.perf_counter() - started
        classes = [int(c) for c in estimator.classes_]
        voted = soft_vote(network, boundary, to_onnx(estimator, points.shape[1], self.opset), classes, n_classes)
        onnx.save(voted, str(target))

        rows = splits.x_selection[:PARITY_ROWS]
        trees = tree_probabilities(estimator, preprocessing, boundary, rows, classes, n_classes)
        expected = 0.5 * (graph_output(network, OUTPUT_NAME, rows) + trees)
        max_diff = float(np.abs(graph_output(voted, OUTPUT_NAME, rows) - expected).max()) if len(rows) else 0.0
        if not max_diff <= self.parity_tolerance:
            raise ParityError(f"soft vote differs from its members' mean: max |Δp| = {max_diff:.3g} > tolerance {self.parity_tolerance:g}")
        nodes = tree_nodes(estimator)
        return {"members": ["reference network", "gbdt"], "weights": [0.5, 0.5], "fit_rows": int(len(points)), "fit_seconds": fit_seconds,
                "tree_nodes": nodes, "parity": {"rows": int(len(rows)), "max_abs_diff": max_diff, "tolerance": self.parity_tolerance}}


def soft_vote(network: onnx.ModelProto, boundary: str, trees: onnx.ModelProto, classes: list[int], n_classes: int) -> onnx.ModelProto:
    """The network graph with the converted trees reading its preprocessed `boundary`; probabilities = their mean."""
    model = onnx.ModelProto()
    model.CopyFrom(network)
    graph = model.graph
    for node in graph.node:
        node.output[:] = [NETWORK_VOTE if name == OUTPUT_NAME else name for name in node.output]
    trees = onnx.compose.add_prefix(trees, PREFIX)
    align_opsets(model, trees)
    tree_input = trees.graph.input[0].name
    for node in trees.graph.node:
        node.input[:] = [boundary if name == tree_input else name for name in node.input]
    graph.node.extend(trees.graph.node)
    graph.initializer.extend(trees.graph.initializer)
    graph.initializer.extend([numpy_helper.from_array(class_spread(classes, n_classes), "vote_class_spread"),
                              numpy_helper.from_array(np.array(0.5, dtype=np.float32), "vote_half")])
    graph.node.extend([
        helper.make_node("MatMul", [PREFIX + "probabilities", "vote_class_spread"], [TREES_VOTE], name="vote_trees"),
        helper.make_node("Add", [NETWORK_VOTE, TREES_VOTE], ["vote_sum"], name="vote_sum"),
        helper.make_node("Mul", ["vote_sum", "vote_half"], [OUTPUT_NAME], name="vote_mean"),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, ["batch", n_classes]))
    onnx.checker.check_model(model)
    return model
