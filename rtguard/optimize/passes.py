"""Passes: each a typed config (pydantic) and one `run` that hands the work to a library.

A ModelPass changes the PyTorch model (pruning, distillation, quantization-aware
training) and may train it; the result is exported through the parity-checked export.
An OnnxPass rewrites one ONNX file into another (graph optimization, quantization,
float16). `run` returns what it chose and why, which goes into variant.json; a
"note" among them is a caveat the report should print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict
from torch import nn

from rtguard.config import ModelConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.threat_model import ThreatModel


@dataclass
class PassContext:
    """Everything a pass may need from the run, read once per optimize stage."""

    machine: dict  # rtguard.machine.machine_info()
    schema: FeatureSchema
    splits: Splits
    model_config: ModelConfig
    train_config: TrainConfig
    reference: nn.Module | None  # the trained reference network, in eval mode (passes work on copies); None for a tree reference
    calibration: np.ndarray  # raw training rows for static INT8 calibration
    calibration_labels: np.ndarray
    threat: Callable[[], ThreatModel]  # the security evaluation's threat model, built on demand (it can refuse a bad config)


class Pass(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ClassVar[str]


class ModelPass(Pass):
    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        """Return the changed model (`model` may be changed in place) and what was chosen."""
        raise NotImplementedError

    def export_tolerance(self, fp32_tolerance: float) -> float:
        """Largest |p_torch - p_onnx| the export of this pass's model may show."""
        return fp32_tolerance

    def export_outliers(self) -> float:
        """Share of rows the export may show beyond that tolerance: none for a float model."""
        return 0.0


class OnnxPass(Pass):
    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        raise NotImplementedError


def training_summary(record: dict) -> dict:
    """What variant.json keeps of a model pass's training record."""
    return {"epochs_run": record["epochs_run"], "best_epoch": record["best_epoch"], "train_seconds": record["wall_time_s"],
            "validation_macro_f1": record["validation"]["macro_f1"]}
