"""Tree models and their ONNX conversion: float32-exact thresholds, and parity on values at the split points."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from rtguard.config import TreeModelConfig
from rtguard.errors import RtguardError
from rtguard.models.trees import build_estimator, float32_exact, to_onnx


def _on_split_points(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features on a grid of adjacent float32 values: every split threshold falls between two of them."""
    grid = np.float32(1.0) + np.arange(200, dtype=np.float32) * np.finfo(np.float32).eps
    x = np.random.default_rng(seed).choice(grid, size=(3000, 3)).astype(np.float32)
    y = (x[:, 0] > grid[100]).astype(int) ^ (x[:, 1] > grid[57]).astype(int)
    return x, y


def _onnx_probabilities(estimator, x):
    session = ort.InferenceSession(to_onnx(estimator, x.shape[1], 20).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"X": x})[0]


@pytest.mark.parametrize("family", ["gbdt", "forest", "tree"])
def test_onnx_agrees_with_the_library_on_values_at_the_split_points(family):
    x, y = _on_split_points()
    estimator = build_estimator(family, TreeModelConfig(trees=10, min_leaf=1), seed=0, threads=1).fit(x, y)
    before = estimator.predict_proba(x)
    float32_exact(estimator)
    assert np.array_equal(estimator.predict_proba(x), before)  # rounding down changes nothing on float32 inputs
    assert np.abs(_onnx_probabilities(estimator, x) - before).max() < 1e-6


def test_lightgbm_float64_thresholds_would_disagree_without_rounding():
    """The trap itself: converted as fitted, a threshold rounded to the nearest float32 flips rows that sit on it."""
    x, y = _on_split_points()
    estimator = build_estimator("gbdt", TreeModelConfig(trees=10, min_leaf=1), seed=0, threads=1).fit(x, y)
    assert np.abs(_onnx_probabilities(estimator, x) - estimator.predict_proba(x)).max() > 0.1


def test_one_class_is_a_clear_error():
    from rtguard.models.trees import fit_tree_model

    with pytest.raises(RtguardError, match="at least two classes"):
        fit_tree_model("tree", TreeModelConfig(), np.zeros((10, 2), np.float32), np.zeros(10, int), seed=0)
