"""A loaded variant behind its input guard and deadline: the object serving calls."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

import numpy as np
import onnxruntime as ort

from rtguard.config import RuntimeConfig
from rtguard.data.schema import FeatureSchema
from rtguard.runtime.errors import DeadlineExceeded, InputRejected, MemoryLimitExceeded, RunFailed
from rtguard.runtime.guard import InputGuard
from rtguard.runtime.session import OUTPUT_NAME

# What each refusal is counted as, beside the guard's "clipped" and "out_of_vocabulary".
_COUNTED = {InputRejected: "rejected", DeadlineExceeded: "deadline_exceeded",
            MemoryLimitExceeded: "memory_exceeded", RunFailed: "failed"}


class Runner(Protocol):
    """What runs checked rows under the deadline: ONNX Runtime's Watchdog, or another backend's runner."""

    def run(self, rows: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


class GuardedSession:
    """run() checks a call against the schema, runs it under the deadline and counts what it repaired or refused.

    A refused call changes nothing: the session keeps serving the next one.
    """

    def __init__(self, runner: Runner, schema: FeatureSchema, settings: RuntimeConfig, name: str, record: dict,
                 session: ort.InferenceSession | None = None, alert_threshold: float | None = None):
        self.name = name
        self.schema = schema
        self.alert_threshold = alert_threshold  # the artifact's own operating point (rtguard.artifact), None if it states none
        self.release: int | None = None  # the signed release number (rtguard.integrity.release); None when loaded unsigned
        self.batch_dependence: float | None = None  # measured by evaluate (metrics.json); None: never measured
        self.settings = record  # what runs the model, and how: recorded beside its numbers
        self.counts: Counter[str] = Counter()
        self.session = session  # the raw ONNX Runtime session (None on other backends), for measurements that compare against it
        self.max_batch = settings.max_batch  # the most rows one call may carry (runtime.max_batch)
        self._guard = InputGuard(schema, settings)
        self._runner = runner
        self._lock = threading.Lock()

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities [batch, classes] for {"features": float32 [batch, features]}."""
        return self.run_checked(self.check(inputs)[0])

    def check(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, int]]:
        """The rows the model will see and what was repaired (counted); raises InputRejected (counted).

        Apart from run_checked so a server can refuse one client's call alone and then
        run several clients' checked rows as one batch.
        """
        return self.inspect(inputs)[:2]

    def inspect(self, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
        """check(), plus which rows each repair touched ({"imputed": bool per row, "clipped": ...}), to flag their verdicts."""
        with self._counting():
            rows, repaired, touched = self._guard.check(inputs)
        if repaired:
            self._count(repaired)
        return rows, repaired, touched

    def run_checked(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities for rows that came out of check(), under the deadline."""
        with self._counting():
            return self._runner.run(rows, (OUTPUT_NAME,))[0]

    def run_checked_outputs(self, rows: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        """Several named outputs for checked rows (an anomaly detector's anomaly_score beside its
        probabilities), under the same deadline and counts."""
        with self._counting():
            return self._runner.run(rows, outputs)

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> GuardedSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def _counting(self) -> Iterator[None]:
        try:
            yield
        except tuple(_COUNTED) as exc:
            self._count({_COUNTED[type(exc)]: 1})
            raise

    def _count(self, events: dict[str, int]) -> None:
        with self._lock:
            self.counts.update(events)
