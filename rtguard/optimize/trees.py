"""Tree-family variants: a LightGBM or scikit-learn model behind the reference export's own preprocessing.

Tabular flow data is where tree ensembles are strong, so a run builds them beside the
network's variants and lets the ship policy choose. The pass computes the preprocessed
training rows with the reference export's preprocessing sub-graph, fits the tree model
on them (rtguard/models/trees.py), converts it and merges it after that sub-graph: the
artifact takes the same raw rows and gives the same `probabilities` as every classifier
variant, and the operating-point pass that ends every classifier recipe applies unchanged.

`teacher = "reference"` fits the tree on the reference's predicted classes instead of the
labels: the network distilled into a tree.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import onnx

from rtguard.artifact import OUTPUT_NAME
from rtguard.compute import graph_output
from rtguard.config import TreeModelConfig
from rtguard.errors import ParityError
from rtguard.models.trees import fit_tree_model, merge_classifier, to_onnx, tree_nodes
from rtguard.optimize.passes import OnnxPass, PassContext
from rtguard.optimize.regions import preprocessing_graph

PARITY_ROWS = 4096


class TreeModel(TreeModelConfig, OnnxPass):
    """Fit `family` on the preprocessed training rows; replace the source's network by the converted trees."""

    name: ClassVar[str] = "tree-model"
    family: Literal["gbdt", "forest", "tree"]
    teacher: Literal["labels", "reference"] = "labels"
    seed: int = 0
    threads: int = 1
    opset: int = 20
    parity_tolerance: float = 1e-4

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        model = onnx.load(str(source))
        preprocessing, boundary, points = preprocessed_training_rows(model, context)
        splits, n_classes = context.splits, len(context.schema.classes)
        labels = splits.y_train if self.teacher == "labels" else graph_output(model, OUTPUT_NAME, splits.x_train).argmax(axis=1)
        settings = TreeModelConfig(**{key: getattr(self, key) for key in TreeModelConfig.model_fields})
        started = time.perf_counter()
        estimator = fit_tree_model(self.family, settings, points, labels, self.seed, self.threads)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        classes = [int(c) for c in estimator.classes_]
        merged = merge_classifier(preprocessing, boundary, to_onnx(estimator, points.shape[1], self.opset), classes, n_classes)
        convert_seconds = time.perf_counter() - started
        onnx.save(merged, str(target))
        parity = self._parity(merged, estimator, preprocessing, boundary, splits.x_selection[:PARITY_ROWS], classes, n_classes)
        nodes = tree_nodes(estimator)
        chosen = {"family": self.family, "teacher": self.teacher, "fit_rows": int(len(points)), "fit_seconds": fit_seconds,
                  "convert_seconds": convert_seconds, "converter": "onnxmltools via skl2onnx" if self.family == "gbdt" else "skl2onnx",
                  "tree_nodes": nodes, "params": nodes, "parity": parity}
        if self.teacher == "reference":
            chosen["agreement_with_reference_on_train"] = float((estimator.predict(points) == labels).mean())
        if len(classes) < n_classes:
            chosen["note"] = (f"{self.family}: classes {sorted(set(range(n_classes)) - set(classes))} never appear in its training "
                              "labels; their probability is 0")
        return chosen

    def _parity(self, merged, estimator, preprocessing, boundary, rows, classes, n_classes) -> dict:
        """The library's probabilities against ONNX Runtime's, on selection rows; raise beyond tolerance."""
        expected = tree_probabilities(estimator, preprocessing, boundary, rows, classes, n_classes)
        actual = graph_output(merged, OUTPUT_NAME, rows)
        max_diff = float(np.abs(expected - actual).max()) if len(rows) else 0.0
        agreement = float((expected.argmax(1) == actual.argmax(1)).mean()) if len(rows) else 1.0
        if not max_diff <= self.parity_tolerance:
            raise ParityError(f"{self.family} ONNX conversion differs from the library: max |Δp| = {max_diff:.3g} > tolerance "
                              f"{self.parity_tolerance:g} (prediction agreement {agreement:.4%}) on {len(rows)} selection rows")
        return {"rows": int(len(rows)), "max_abs_diff": max_diff, "agreement": agreement, "tolerance": self.parity_tolerance}


def preprocessed_training_rows(model: onnx.ModelProto, context: PassContext) -> tuple[onnx.ModelProto, str, np.ndarray]:
    """The source graph's preprocessing sub-graph, its boundary tensor, and the training rows through it: what a tree is fitted on."""
    preprocessing, boundary = preprocessing_graph(model)
    return preprocessing, boundary, graph_output(preprocessing, boundary, context.splits.x_train)


def tree_probabilities(estimator, preprocessing: onnx.ModelProto, boundary: str, rows: np.ndarray, classes: list[int],
                       n_classes: int) -> np.ndarray:
    """The library's own probabilities for raw rows, in the schema's class columns (classes it never saw at 0)."""
    probabilities = np.zeros((len(rows), n_classes), dtype=np.float32)
    probabilities[:, classes] = estimator.predict_proba(graph_output(preprocessing, boundary, rows))
    return probabilities
