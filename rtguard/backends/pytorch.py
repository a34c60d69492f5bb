"""PyTorch eager and torch.compile on the reference weights: what the ONNX artifacts are measured against.

Imported by evaluate only (never by serving): these backends run the trained model,
not a signed artifact, so they can be compared but never shipped.
"""

from __future__ import annotations

import numpy as np
import torch

from rtguard.backends.base import BackendUnavailable, LoadedModel, NotSupported
from rtguard.backends.registry import REFERENCE_BACKENDS


class TorchBackend:
    def __init__(self, compiled: bool):
        self.compiled = compiled
        self.name = "torch-compile" if compiled else "torch-eager"

    def load_reference(self, model: torch.nn.Module, threads: int, sample: np.ndarray | None = None) -> LoadedModel:
        """The model ready to run; torch.compile compiles here on `sample` rows (dynamic batch: one graph
        for every batch size but 1), or on its first call when no sample is given."""
        module = torch.compile(model, dynamic=True) if self.compiled else model

        @torch.inference_mode()
        def run(rows: np.ndarray) -> np.ndarray:
            # torch's thread pool is per process: each loaded model sets the size it was measured with
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            return torch.softmax(module(torch.from_numpy(rows)), dim=1).numpy()

        if self.compiled and sample is not None:
            try:
                for batch in (1, 2):  # batch 1 is specialised apart from the dynamic graph
                    run(np.ascontiguousarray(sample[:batch], dtype=np.float32))
            except Exception as exc:
                raise NotSupported(f"torch.compile failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        settings = {"version": torch.__version__, "mode": "compile (inductor, dynamic batch)" if self.compiled else "eager",
                    "threads": threads, "inference_mode": True}
        return LoadedModel(self.name, run, settings)


def reference_backend(name: str):
    """torch-eager or torch-compile (evaluate only)."""
    if name not in REFERENCE_BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}: choose from {', '.join(REFERENCE_BACKENDS)}")
    return TorchBackend(compiled=name == "torch-compile")
