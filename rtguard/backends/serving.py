"""A signed variant served through any serving backend, behind the same checks as ONNX Runtime.

The load path is rtguard.runtime's: the signature is verified (trusted_folder), the
model validated (each backend's load), the schema read from the verified copy; then
the same input guard and refusal counting wrap the backend instead of an ONNX Runtime session.
One difference: runtime.memory_limit_mib caps ONNX Runtime's arena only; OpenVINO allocates
on its own (runtime.max_batch still bounds what one call can ask for).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from rtguard.backends import SERVING_BACKENDS, LoadedModel, artifact_backend
from rtguard.compute import default_threads
from rtguard.config import RuntimeConfig
from rtguard.errors import ConfigError
from rtguard.runtime.errors import RunFailed
from rtguard.runtime.guarded import GuardedSession
from rtguard.runtime.loader import (
    Trust,
    load_session,
    measured_batch_dependence,
    read_schema,
    signed_release,
    stated_threshold,
    trusted_folder,
)
from rtguard.runtime.session import OUTPUT_NAME
from rtguard.runtime.smoke import smoke_test


def load_backend_session(variant_dir: Path, trust: Trust, settings: RuntimeConfig, backend: str) -> GuardedSession:
    """Verify, validate and load the variant on `backend`: a GuardedSession either way."""
    if backend not in SERVING_BACKENDS:
        raise ConfigError(f"backend {backend!r} cannot serve: choose from {', '.join(SERVING_BACKENDS)}")
    if backend == "onnxruntime":
        return load_session(variant_dir, trust, settings)
    engine = artifact_backend(backend)
    with trusted_folder(variant_dir, trust, settings.max_model_mib) as folder:
        schema = read_schema(folder / "schema.json")
        model = engine.load(folder / "model.onnx", default_threads(settings.threads), settings)
        metadata = {prop.key: prop.value for prop in onnx.load(str(folder / "model.onnx"), load_external_data=False).metadata_props}
        threshold = stated_threshold(Path(variant_dir), metadata)
        release = signed_release(folder, variant_dir, trust)
        dependence = measured_batch_dependence(folder)
    session = GuardedSession(BackendRunner(model, settings.deadline_ms / 1000), schema, settings, Path(variant_dir).name,
                             record={"backend": model.backend, **model.settings}, alert_threshold=threshold)
    session.release, session.batch_dependence = release, dependence
    smoke_test(session)
    return session


class BackendRunner:
    """A backend's own deadline (LoadedModel.run_within) in the place of ONNX Runtime's watchdog."""

    def __init__(self, model: LoadedModel, deadline_s: float):
        self._model, self._deadline_s = model, deadline_s

    def run(self, rows: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        if list(outputs) != [OUTPUT_NAME]:
            raise RunFailed(f"{self._model.backend} serves {OUTPUT_NAME!r} only, not {', '.join(outputs)}")
        return [self._model.run_within(rows, self._deadline_s)]

    def close(self) -> None:
        """Nothing to stop: the backend's memory goes with the object."""
