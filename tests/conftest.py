"""Shared fixtures: a tiny configuration and one tiny run built once per test session."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from rtguard.config import RunConfig, validate_config

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY = {
    "data": {"n_flows": 3000, "seed": 7},
    "model": {"hidden": [16]},
    "train": {"epochs": 10, "batch_size": 256},  # enough to clear the default policy's floors
    "evaluate": {
        "latency_calls": 20, "warmup_calls": 2, "throughput_batch": 64, "throughput_seconds": 0.05, "threads": 1,
        # the security evaluation on a few flows: every run in the suite pays for it
        "robustness": {"attack_flows": 100, "blackbox_flows": 6, "blackbox_iterations": 5, "blackbox_starts": 32,
                       "noise_rows": 500, "membership_rows": 300},
    },
}


@pytest.fixture(scope="session")
def tiny_settings() -> dict:
    """The tiny run's settings as a mapping, for suites that build their own run on them."""
    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_config() -> RunConfig:
    return validate_config(TINY)


@pytest.fixture
def tiny_toml(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(_tables(TINY))
    return path


def _tables(tables: dict, prefix: str = "") -> str:
    """Sections as [table], a section's sub-sections after it as [table.sub]."""
    blocks = []
    for name, values in tables.items():
        blocks.append(f"[{prefix}{name}]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in values.items() if not isinstance(v, dict)))
        blocks += [_tables({key: sub}, f"{prefix}{name}.") for key, sub in values.items() if isinstance(sub, dict)]
    return "\n".join(blocks)


def _toml(value) -> str:
    return repr(value).lower() if isinstance(value, bool) else repr(value)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """A complete run folder on tiny synthetic data, and its report."""
    from rtguard.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("runs") / "tiny"
    report = run_pipeline(validate_config(TINY), out, show_progress=False)
    return out, report


@pytest.fixture(scope="session")
def tiny_context():
    """What optimization passes read, built in memory: tiny synthetic splits and a trained tiny reference."""
    from rtguard.data.prepare import prepare
    from rtguard.data.stage import load_frames
    from rtguard.optimize import pass_context
    from rtguard.train.loop import train_classifier

    config = validate_config(TINY)
    schema, splits, _ = prepare(load_frames(config.data), config.data)
    model = train_classifier(schema, splits, config.model, config.train, show_progress=False).model
    return pass_context(config, schema, splits, model)
