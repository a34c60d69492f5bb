"""Shared fixtures: a tiny configuration and one tiny run built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtguard.config import RunConfig, validate_config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY = {
    "data": {"n_flows": 3000, "seed": 7},
    "model": {"hidden": [16]},
    "train": {"epochs": 2, "batch_size": 256},
    "evaluate": {"latency_calls": 20, "warmup_calls": 2, "throughput_batch": 64, "throughput_seconds": 0.05, "threads": 1},
}


@pytest.fixture
def tiny_config() -> RunConfig:
    return validate_config(TINY)


@pytest.fixture
def tiny_toml(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(
        "\n".join(
            f"[{section}]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in values.items())
            for section, values in TINY.items()
        )
    )
    return path


def _toml(value) -> str:
    return repr(value).lower() if isinstance(value, bool) else repr(value)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """A complete run folder on tiny synthetic data, and its report."""
    from rtguard.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("runs") / "tiny"
    report = run_pipeline(validate_config(TINY), out, show_progress=False)
    return out, report
