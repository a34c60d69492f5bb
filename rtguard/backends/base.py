"""What every inference backend gives: a loaded artifact that maps feature rows to class probabilities.

A backend is anything that can run an rtguard artifact (or, for the PyTorch backends,
the reference weights): it loads one, runs a batch, and says which version ran it with
which settings, so a measurement always names what produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rtguard.errors import RtguardError


class BackendUnavailable(RtguardError):
    """The backend cannot run on this machine at all (its package or its device is missing)."""


class NotSupported(RtguardError):
    """The backend is here but cannot run this artifact (an operator it lacks, a compile error)."""


@dataclass(frozen=True)
class LoadedModel:
    backend: str
    run: Callable[[np.ndarray], np.ndarray]  # float32 [batch, features] -> probabilities [batch, classes]
    settings: dict  # version, threads and every other setting it was loaded with, recorded beside its numbers
    # run under a deadline in seconds (serving); None: the backend cannot stop a call once started
    run_within: Callable[[np.ndarray, float], np.ndarray] | None = field(default=None, repr=False)


class Backend(Protocol):
    name: str

    def load(self, model_path, threads: int, runtime) -> LoadedModel:
        """Validate (rtguard.runtime.validation) and load one ONNX artifact with `threads` threads.

        Raises NotSupported when this backend cannot run it, ModelRejected when validation refuses it.
        """
