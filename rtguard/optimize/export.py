"""Export the reference model to ONNX (preprocessing inside) and prove parity."""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from rtguard.errors import ParityError
from rtguard.models import WithProbabilities
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME
from rtguard.train.loop import predict_proba


def warm_up_exporter(opset: int) -> None:
    """Pay the exporter's one-time start-up (a few seconds) on a toy model, outside every timed export.

    Otherwise the first variant's conversion cost carries it and costs compare unfairly.
    """
    with tempfile.TemporaryDirectory() as scratch:
        export_onnx(nn.Linear(2, 2), 2, Path(scratch) / "warm-up.onnx", opset)


def export_onnx(model: nn.Module, n_features: int, path: Path, opset: int) -> None:
    """A classifier as the artifact takes it: raw features in, class probabilities out."""
    export_module(WithProbabilities(model.eval()), n_features, path, opset, OUTPUT_NAME)


def export_module(module: nn.Module, n_features: int, path: Path, opset: int, output: str) -> None:
    """torch.export-based exporter with a dynamic batch axis; one self-contained file."""
    example = torch.zeros(2, n_features)
    exporter_log = logging.getLogger("torch.onnx")
    previous_level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # it narrates its internals (absent torchvision ops) as warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (example,), str(path), dynamo=True, opset_version=opset,
                input_names=[INPUT_NAME], output_names=[output],
                dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False, verbose=False,
            )
    finally:
        exporter_log.setLevel(previous_level)
    _strip_debug_info(path)


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node stack traces and FX dumps.

    They name files and lines of the machine that built the model, which a deployed
    artifact has no business carrying, and they were half of a small model's bytes.
    """
    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, str(path))


def check_parity(model: nn.Module, onnx_path: Path, features: np.ndarray, tolerance: float, outlier_share: float = 0.0) -> dict:
    """Compare PyTorch and ONNX Runtime probabilities on real rows; raise when more than `outlier_share` of them differ
    beyond `tolerance` (0 for a float export: every row must agree)."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = predict_proba(model, features)
    actual = session.run([OUTPUT_NAME], {INPUT_NAME: features})[0]
    per_row = np.abs(expected - actual).max(axis=1) if len(features) else np.zeros(0)
    max_diff = float(per_row.max()) if len(per_row) else 0.0
    beyond = int((~(per_row <= tolerance)).sum())  # NaN counts as beyond
    agreement = float((expected.argmax(1) == actual.argmax(1)).mean()) if len(features) else 1.0
    if beyond > outlier_share * len(features):
        allowed = f" (at most {outlier_share:.2%} of rows may)" if outlier_share else ""
        raise ParityError(
            f"ONNX export differs from PyTorch: {beyond} of {len(features)} selection rows beyond tolerance {tolerance:g}{allowed}, "
            f"max |Δp| = {max_diff:.3g} (prediction agreement {agreement:.4%})"
        )
    return {"rows": int(len(features)), "max_abs_diff": max_diff, "rows_beyond_tolerance": beyond, "agreement": agreement,
            "tolerance": tolerance, "outlier_share": outlier_share}
