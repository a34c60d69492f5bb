"""Session limits: the memory cap and the deadline stop a hostile call, and the session lives on."""

from __future__ import annotations

import numpy as np
import pytest
from artifacts import ALLOCATION_SCHEMA, HUGE, SCHEMA, allocating_model, expected, linear_model, slow_model, write_variant

from rtguard.config import RuntimeConfig
from rtguard.runtime import (
    DeadlineExceeded,
    GuardedSession,
    MemoryLimitExceeded,
    ModelRejected,
    Trust,
    create_session,
    load_session,
)
from rtguard.runtime.deadline import Watchdog
from rtguard.runtime.session import ORT_ERRORS

UNSIGNED = Trust(allow_unsigned=True)


def test_a_model_asking_for_gigabytes_within_its_range_is_refused_at_load(tmp_path):
    """Adversarial finding: `verify` said "loads" for a model needing gigabytes per call; the smoke test is part of every load."""
    folder = write_variant(tmp_path / "hostile", allocating_model(False), ALLOCATION_SCHEMA)
    with pytest.raises(ModelRejected, match=r"hostile failed the smoke test on rows at the edges of its training range: .*runtime.memory_limit_mib"):
        load_session(folder, UNSIGNED, RuntimeConfig(threads=1))


def test_a_call_asking_for_gigabytes_fails_cleanly_and_both_sessions_keep_working(tmp_path, rows):
    good = load_session(write_variant(tmp_path / "good", linear_model()), UNSIGNED, RuntimeConfig(threads=1))
    # Past load (which would refuse it at its smoke test): the call-time cap is what is tested here.
    settings = RuntimeConfig(threads=1)
    session = create_session(write_variant(tmp_path / "hostile", allocating_model(False), ALLOCATION_SCHEMA) / "model.onnx", settings)
    hostile = GuardedSession(Watchdog(session, 1.0, "hostile"), ALLOCATION_SCHEMA, settings, "hostile", record={}, session=session)
    assert hostile.run({"features": np.array([[1000, 0.5]], np.float32)}).shape == (1, 2)
    with pytest.raises(MemoryLimitExceeded, match=r"asked for 8,589,934,592 bytes at once.*runtime.memory_limit_mib"):
        hostile.run({"features": np.array([[HUGE, 0.5]], np.float32)})
    assert hostile.counts["memory_exceeded"] == 1
    assert hostile.run({"features": np.array([[10, 0.5]], np.float32)}).shape == (1, 2)
    np.testing.assert_allclose(good.run({"features": rows}), expected(rows), rtol=1e-5)


def test_constant_folding_cannot_allocate_past_the_cap_at_load(tmp_path):
    """ORT folds constants outside the arena (up to 1 GiB by default); rtguard bounds folding."""
    session = create_session(write_variant(tmp_path / "v", allocating_model(True)) / "model.onnx", RuntimeConfig(threads=1))
    # Had the 8 GiB block been folded at load, this call would succeed; it reaches the arena instead.
    with pytest.raises(ORT_ERRORS, match="Available memory of"):
        session.run(None, {"features": np.zeros((1, 2), np.float32)})


def test_a_call_past_its_deadline_is_terminated_and_the_session_keeps_working(tmp_path):
    folder = write_variant(tmp_path / "slow", slow_model())
    session = load_session(folder, UNSIGNED, RuntimeConfig(threads=1, deadline_ms=250))  # room for the load's smoke test (3 rows)
    batch = np.ones((1024, 3), np.float32)
    with pytest.raises(DeadlineExceeded, match=r"ran past its 250 ms deadline and was stopped \(runtime.deadline_ms\)"):
        session.run({"features": batch})
    assert session.counts["deadline_exceeded"] == 1
    assert session.run({"features": batch[:1]}).shape == (1, 2)


def test_session_settings_are_explicit_and_recorded(variant):
    session = load_session(variant, UNSIGNED, RuntimeConfig(threads=2, graph_optimization="basic"))
    assert session.settings == {
        "provider": "CPUExecutionProvider", "intra_op_threads": 2, "inter_op_threads": 1, "execution_mode": "sequential",
        "graph_optimization_level": "basic", "allow_spinning": False, "memory_limit_mib": 1024, "validated": True,
    }
    assert session.schema == SCHEMA


def test_verify_refuses_a_signed_model_that_fails_its_smoke_test(tmp_path, keys):
    """Adversarial finding: `verify` said "loads" (and `score` exited 0 having scored nothing) for a model needing gigabytes per call."""
    from typer.testing import CliRunner

    from rtguard.cli import app
    from rtguard.integrity import sign_variant

    folder = write_variant(tmp_path / "hostile", allocating_model(False), ALLOCATION_SCHEMA)
    sign_variant(folder, keys[0])
    result = CliRunner().invoke(app, ["verify", str(folder), "--pub", str(keys[1])])
    said = " ".join(result.stderr.split())
    assert result.exit_code == 2 and "hostile failed the smoke test on rows at the edges of its training range" in said
