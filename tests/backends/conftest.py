"""Fixtures: the tiny classifier artifact and rows to score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_classifier import classifier


@pytest.fixture
def tiny_artifact(tmp_path) -> Path:
    return classifier(tmp_path / "tiny" / "model.onnx")


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
