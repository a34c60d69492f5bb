"""Fixtures for the runtime tests: keys, and handmade variant folders (see artifacts.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from artifacts import linear_model, write_variant

from rtguard.integrity import generate_keypair, sign_variant


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("keys") / "rtguard.key")


@pytest.fixture
def variant(tmp_path) -> Path:
    return write_variant(tmp_path / "linear", linear_model())


@pytest.fixture
def signed(variant, keys) -> Path:
    sign_variant(variant, keys[0])
    return variant


@pytest.fixture
def rows() -> np.ndarray:
    return np.array([[0, 10, 0.5], [1, 900, 0.1], [2, 0, 1.0]], dtype=np.float32)
