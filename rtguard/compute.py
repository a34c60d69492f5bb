"""Shared mechanics of running a model: how many threads by default, inference over rows in chunks, one graph output.

Torch-free (numpy and ONNX Runtime), so the serving path may import it; torch callers pass `join=torch.cat`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import onnx
import onnxruntime as ort

CHUNK_ROWS = 8192  # rows per call when a whole split is scored: large enough to amortise a call, small enough for memory

T = TypeVar("T")


def default_threads(configured: int | None = None) -> int:
    """The configured thread count, else every core this machine reports (at least 1)."""
    return configured or os.cpu_count() or 1


def in_chunks(run: Callable[[np.ndarray], T], rows: np.ndarray, size: int = CHUNK_ROWS,
              join: Callable[[list], object] = np.concatenate) -> T:
    """`run` over `rows` in chunks of `size`, the results joined along the first axis (`join`).

    A tuple result is joined element by element. No rows: one call with the empty slice, so the
    result keeps its shape and type.
    """
    parts = [run(rows[start : start + size]) for start in range(0, max(len(rows), 1), size)]
    if isinstance(parts[0], tuple):
        return tuple(join([part[i] for part in parts]) for i in range(len(parts[0])))  # type: ignore[return-value]
    return join(parts)  # type: ignore[return-value]


def graph_output(model: onnx.ModelProto, output: str, rows: np.ndarray, input_name: str = "features") -> np.ndarray:
    """One output of an in-memory graph over `rows`, on ONNX Runtime's CPU provider (an artifact's input is `features`)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return in_chunks(lambda part: session.run([output], {input_name: part})[0], rows)
