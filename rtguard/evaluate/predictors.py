"""Every variant behind one call: raw feature rows in, class probabilities out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtguard.backends import LoadedModel, artifact_backend
from rtguard.backends.pytorch import reference_backend
from rtguard.config import RuntimeConfig
from rtguard.data.schema import FeatureSchema
from rtguard.models import FlowClassifier
from rtguard.models.preprocessing import FlowPreprocessing


@dataclass
class Predictor:
    name: str
    predict: Callable[[np.ndarray], np.ndarray]
    file_bytes: int
    load_seconds: float
    runtime: dict = field(default_factory=dict)
    backend: str = "onnxruntime"


def torch_predictor(model_factory: Callable[[], FlowClassifier], weights: Path, threads: int,
                    backend: str = "torch-eager", name: str = "torch-fp32", sample: np.ndarray | None = None) -> Predictor:
    """The reference weights on PyTorch (eager: the FP32 baseline); load time covers building the
    model, reading the weights and, for torch-compile, compiling."""
    started = time.perf_counter()
    model = model_factory()
    loaded = reference_backend(backend).load_reference(model, threads, sample)
    return _predictor(name, loaded, weights.stat().st_size, time.perf_counter() - started)


def onnx_predictor(name: str, model_path: Path, threads: int, runtime: RuntimeConfig | None = None,
                   backend: str = "onnxruntime") -> Predictor:
    """A validated artifact on `backend` (the run's [runtime] settings), called without the input guard.

    Evaluation feeds the test split as it is, drift included, so the metrics describe the
    model; the guard's clipping is a serving decision, counted where it happens.
    """
    engine = artifact_backend(backend)
    started = time.perf_counter()
    loaded = engine.load(model_path, threads, runtime or RuntimeConfig())
    return _predictor(name, loaded, model_path.stat().st_size, time.perf_counter() - started)


def _predictor(name: str, loaded: LoadedModel, file_bytes: int, load_seconds: float) -> Predictor:
    return Predictor(name, loaded.run, file_bytes, load_seconds, loaded.settings, loaded.backend)


def tree_predictor(name: str, schema: FeatureSchema, trees: Path, classes: list[int], threads: int) -> Predictor:
    """A tree reference as it was fitted: PyTorch's preprocessing, then its trees (model.trees.onnx, checked against the
    library when fitted) on ONNX Runtime; the artifacts' merged graphs are compared with it, as networks with PyTorch."""
    started = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(trees), options, providers=["CPUExecutionProvider"])
    fed = session.get_inputs()[0].name
    preprocessing = FlowPreprocessing(schema)  # built once: predict is timed at batch 1

    def predict(rows: np.ndarray) -> np.ndarray:
        probabilities = np.zeros((len(rows), len(schema.classes)), dtype=np.float32)
        probabilities[:, classes] = session.run(["probabilities"], {fed: preprocessing.rows(rows)})[0]
        return probabilities

    return Predictor(name, predict, trees.stat().st_size, time.perf_counter() - started, {"intra_op_threads": threads}, "trees-as-fitted")
