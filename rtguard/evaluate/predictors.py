"""Every variant behind one call: raw feature rows in, class probabilities out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rtguard.config import RuntimeConfig
from rtguard.models import FlowClassifier
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME, create_session, session_settings


@dataclass
class Predictor:
    name: str
    predict: Callable[[np.ndarray], np.ndarray]
    file_bytes: int
    load_seconds: float
    runtime: dict = field(default_factory=dict)


def torch_predictor(model_factory: Callable[[], FlowClassifier], weights: Path, threads: int) -> Predictor:
    """The PyTorch eager FP32 baseline; load time covers building the model and reading weights."""
    started = time.perf_counter()
    model = model_factory()
    load_seconds = time.perf_counter() - started

    @torch.inference_mode()
    def predict(rows: np.ndarray) -> np.ndarray:
        return torch.softmax(model(torch.from_numpy(rows)), dim=1).numpy()

    return Predictor("torch-fp32", predict, weights.stat().st_size, load_seconds,
                     {"framework": f"torch {torch.__version__}", "mode": "eager", "threads": threads})


def onnx_predictor(name: str, model_path: Path, threads: int, runtime: RuntimeConfig | None = None) -> Predictor:
    """A validated, hardened session (the run's [runtime] settings), called without the input guard.

    Evaluation feeds the test split as it is, drift included, so the metrics describe the
    model; the guard's clipping is a serving decision, counted where it happens.
    """
    settings = (runtime or RuntimeConfig()).model_copy(update={"threads": threads})
    started = time.perf_counter()
    session = create_session(model_path, settings)
    load_seconds = time.perf_counter() - started

    def predict(rows: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: rows})[0]

    return Predictor(name, predict, model_path.stat().st_size, load_seconds, session_settings(settings))


def predict_in_chunks(predictor: Predictor, rows: np.ndarray, chunk: int = 8192) -> np.ndarray:
    return np.concatenate([predictor.predict(rows[i : i + chunk]) for i in range(0, len(rows), chunk)])
