"""Isolation: whatever happens inside the worker, the caller gets an error and can restart it."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from artifacts import ALLOCATION_SCHEMA, HUGE, allocating_model, expected, linear_model, slow_model, write_variant

from rtguard.config import RuntimeConfig
from rtguard.integrity import SignatureError, sign_variant
from rtguard.runtime import InputRejected, ModelRejected, Trust, WorkerCrashed, open_session

ISOLATED = RuntimeConfig(threads=1, isolate=True)


@pytest.fixture(scope="module")
def worker(tmp_path_factory, keys):
    folder = write_variant(tmp_path_factory.mktemp("worker") / "linear", linear_model())
    sign_variant(folder, keys[0])
    with open_session(folder, Trust(keys[1]), ISOLATED) as session:
        yield session


def test_the_worker_scores_like_the_model(worker, rows):
    assert worker.pid != os.getpid()
    np.testing.assert_allclose(worker.run({"features": rows}), expected(rows), rtol=1e-5)
    assert worker.settings["memory_limit_mib"] == 1024


def test_errors_inside_the_worker_arrive_as_the_same_errors_with_their_counts(worker, rows):
    with pytest.raises(InputRejected, match=r"dtype float64; the model takes float32"):
        worker.run({"features": rows.astype(np.float64)})
    with pytest.raises(InputRejected, match=r"input 'features' is missing"):
        worker.run({})
    wild = rows.copy()
    wild[0, 1] = 1e9
    worker.run({"features": wild})
    assert worker.counts["rejected"] == 1 and worker.counts["clipped"] == 1


def test_a_crashed_worker_reports_why_and_restarts(worker, rows):
    os.kill(worker.pid, signal.SIGSEGV)
    time.sleep(0.2)
    with pytest.raises(WorkerCrashed, match=r"is gone: it crashed \(segmentation fault\); call restart\(\)"):
        worker.run({"features": rows})
    worker.restart()
    np.testing.assert_allclose(worker.run({"features": rows}), expected(rows), rtol=1e-5)


def test_a_worker_that_cannot_verify_does_not_start(tmp_path, keys):
    folder = write_variant(tmp_path / "unsigned", linear_model())
    with pytest.raises(SignatureError, match="is not signed"):
        open_session(folder, Trust(keys[1]), ISOLATED)


def test_memory_blow_up_inside_the_worker_is_contained(tmp_path):
    """Arena cap lifted on purpose: the address-space limit of the worker is what stops it."""
    folder = write_variant(tmp_path / "hostile", allocating_model(False), ALLOCATION_SCHEMA)
    settings = RuntimeConfig(threads=1, isolate=True, memory_limit_mib=64 * 1024, worker_memory_mib=2048)
    # The load's smoke test reaches the allocation (the edges of the training range ask for gigabytes): refused there.
    refusal = f"failed the smoke test .*ran out of memory: Failed to allocate memory for requested buffer of size {2 * HUGE * 4}"
    with pytest.raises(ModelRejected, match=refusal):
        open_session(folder, Trust(allow_unsigned=True), settings)


def test_a_runaway_call_hits_the_cpu_limit_and_the_worker_restarts(tmp_path):
    folder = write_variant(tmp_path / "slow", slow_model(depth=400))
    settings = RuntimeConfig(threads=1, isolate=True, deadline_ms=120_000, worker_cpu_seconds=1)
    with open_session(folder, Trust(allow_unsigned=True), settings) as session:
        with pytest.raises(WorkerCrashed, match=r"it exceeded its CPU-time limit per call \(runtime.worker_cpu_seconds\); call restart\(\)"):
            session.run({"features": np.ones((1024, 3), np.float32)})
        session.restart()
        assert session.run({"features": np.ones((1, 3), np.float32)}).shape == (1, 2)
