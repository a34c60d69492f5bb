"""Fixtures for the notebook API tests: a signed copy of the shared tiny run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rtguard.integrity import generate_keypair, sign_all


@pytest.fixture(scope="session")
def api_keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("api-keys") / "rtguard.key")


@pytest.fixture(scope="session")
def api_run(tiny_run, api_keys, tmp_path_factory) -> Path:
    """A copy of the tiny run with every variant and its selection signed, as `rtguard sign RUN` leaves it."""
    run = Path(shutil.copytree(tiny_run[0], tmp_path_factory.mktemp("api") / "run"))
    sign_all(run, api_keys[0])
    return run
