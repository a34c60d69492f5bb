"""Tree-family classifiers (LightGBM, scikit-learn) on preprocessed flow features, and their ONNX conversion.

Torch-free: trees are fitted on the float32 features the in-graph preprocessing computes,
and converted to ai.onnx.ml TreeEnsembleClassifier (skl2onnx; LightGBM through onnxmltools'
converter registered with skl2onnx).

The float32 trap: ONNX tree thresholds are float32, while LightGBM and scikit-learn split
on float64 thresholds. Rounded to the nearest float32, a threshold can land on a feature
value that the library sends right and ONNX Runtime sends left. Both decide `x <= t`, and
for a float32 x that equals `x <= t32` where t32 is the largest float32 not above t; so
every threshold is rounded down to float32 after fitting (`float32_exact`), which leaves the
library's own predictions on float32 inputs unchanged and makes the ONNX graph agree exactly.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rtguard.artifact import OUTPUT_NAME
from rtguard.catalog import TREE_FAMILIES
from rtguard.config import TreeModelConfig
from rtguard.errors import RtguardError

ML_OPSET = 3
PREFIX = "trees_"  # the tree model's node and tensor names inside a merged graph
_THRESHOLD_LINE = re.compile(r"^threshold=(.*)$", re.MULTILINE)
_TREE_SIZES_LINE = re.compile(r"^tree_sizes=.*\n", re.MULTILINE)  # byte offsets of the trees, stale once thresholds change


def build_estimator(family: str, settings: TreeModelConfig, seed: int, threads: int):
    """An unfitted estimator of `family` with `settings` (0 depth: no limit)."""
    depth = settings.max_depth or None
    if family == "gbdt":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=settings.trees, num_leaves=settings.leaves, max_depth=depth or -1,
                              learning_rate=settings.learning_rate, min_child_samples=settings.min_leaf,
                              random_state=seed, n_jobs=threads, verbose=-1)
    if family == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=settings.trees, max_depth=depth, min_samples_leaf=settings.min_leaf,
                                      random_state=seed, n_jobs=threads)
    if family == "tree":
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(max_depth=depth, min_samples_leaf=settings.min_leaf, random_state=seed)
    raise RtguardError(f"unknown tree family {family!r}: use {', '.join(TREE_FAMILIES)}")


def fit_tree_model(family: str, settings: TreeModelConfig, points: np.ndarray, labels: np.ndarray, seed: int, threads: int = 1):
    """Fit on float32 points, then make its thresholds float32-exact; return the estimator."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    if len(np.unique(labels)) < 2:
        raise RtguardError(f"a {family} model needs at least two classes in its training labels, found {np.unique(labels).tolist()}")
    estimator = build_estimator(family, settings, seed, threads)
    estimator.fit(points, labels)
    return float32_exact(estimator)


def float32_exact(estimator):
    """Round every split threshold down to float32, in place (see the module docstring); return the estimator."""
    if hasattr(estimator, "booster_"):
        import lightgbm

        text = _THRESHOLD_LINE.sub(lambda m: "threshold=" + " ".join(_down(v) for v in m[1].split()),
                                   estimator.booster_.model_to_string())
        text = _TREE_SIZES_LINE.sub("", text, count=1)  # without it LightGBM reads the trees one after another
        estimator._Booster = lightgbm.Booster(model_str=text)
        return estimator
    for tree in getattr(estimator, "estimators_", [estimator]):
        thresholds = tree.tree_.threshold  # a view of the tree's node array
        thresholds[:] = _round_down(thresholds)
    return estimator


def _round_down(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded.astype(np.float64)


def _down(value: str) -> str:
    return repr(float(_round_down(np.array([float(value)]))[0]))


def to_onnx(estimator, width: int, opset: int):
    """The fitted estimator as an ONNX model: input X float[N, width] -> label, probabilities float[N, classes]."""
    import skl2onnx

    if hasattr(estimator, "booster_"):
        _register_lightgbm()
    example = np.zeros((1, width), dtype=np.float32)
    return skl2onnx.to_onnx(estimator, example, options={"zipmap": False},
                            target_opset={"": opset, "ai.onnx.ml": ML_OPSET})


def tree_nodes(estimator) -> int:
    """Nodes of all trees (splits and leaves): a tree model's size, as parameters are a network's."""
    if hasattr(estimator, "booster_"):
        return int(sum(2 * tree["num_leaves"] - 1 for tree in estimator.booster_.dump_model()["tree_info"]))
    return int(sum(tree.tree_.node_count for tree in getattr(estimator, "estimators_", [estimator])))


def _register_lightgbm() -> None:
    """Teach skl2onnx LightGBM's classifier through onnxmltools' converter (its own entry point caps the opset at 15)."""
    from lightgbm import LGBMClassifier
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                convert_lightgbm, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})


def merge_classifier(preprocessing: onnx.ModelProto, boundary: str, trees: onnx.ModelProto, classes: list[int], n_classes: int) -> onnx.ModelProto:
    """preprocessing -> trees -> probabilities [batch, n_classes] as one model; classes the trees never saw get 0."""
    trees = onnx.compose.add_prefix(trees, PREFIX)
    trees.ir_version = preprocessing.ir_version
    align_opsets(preprocessing, trees)
    merged = onnx.compose.merge_models(preprocessing, trees, io_map=[(boundary, trees.graph.input[0].name)],
                                       outputs=[PREFIX + "probabilities"])
    graph = merged.graph
    if classes == list(range(n_classes)):
        graph.node.append(helper.make_node("Identity", [PREFIX + "probabilities"], [OUTPUT_NAME], name="trees_output"))
    else:  # scatter the trees' columns into the schema's classes
        graph.initializer.append(numpy_helper.from_array(class_spread(classes, n_classes), "trees_class_spread"))
        graph.node.append(helper.make_node("MatMul", [PREFIX + "probabilities", "trees_class_spread"], [OUTPUT_NAME], name="trees_output"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, ["batch", n_classes]))
    onnx.checker.check_model(merged)
    return merged


def class_spread(classes: list[int], n_classes: int) -> np.ndarray:
    """The matrix that moves a tree model's columns (its `classes`) into the schema's `n_classes` columns."""
    spread = np.zeros((len(classes), n_classes), dtype=np.float32)
    spread[range(len(classes)), classes] = 1.0
    return spread


def align_opsets(*models: onnx.ModelProto) -> None:
    """Give every model the highest version of each domain any of them imports, once: skl2onnx can import a domain
    twice, converters pick the lowest ai.onnx.ml version they need, and graphs merged together must agree."""
    versions: dict[str, int] = {}
    for model in models:
        for entry in model.opset_import:
            versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    for model in models:
        del model.opset_import[:]
        model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in versions.items())
