"""Variants built on the tiny in-memory reference, without a run folder."""

from __future__ import annotations

import pytest

from rtguard.config import OptimizeConfig


@pytest.fixture(scope="session")
def reference_export(tiny_context, tmp_path_factory):
    from rtguard.optimize.build import export_checked

    path = tmp_path_factory.mktemp("reference") / "reference.onnx"
    return export_checked(tiny_context.reference, tiny_context, path, opset=20, tolerance=1e-4)


@pytest.fixture
def build(tiny_context, reference_export, tmp_path):
    """build(name, **optimize settings) -> (variant.json record, path of model.onnx)."""
    from rtguard.optimize.build import build_variant
    from rtguard.optimize.recipes import recipe

    def build_one(name: str, **settings):
        config = OptimizeConfig(variants=[name], **settings)
        folder = tmp_path / name
        record = build_variant(name, recipe(name, config), folder, tiny_context, reference_export, config.opset, config.parity_tolerance)
        return record, folder / "model.onnx"

    return build_one
