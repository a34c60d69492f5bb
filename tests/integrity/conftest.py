"""Keys and real variant folders (copied from the shared tiny run) for the integrity tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rtguard.integrity import bind_schema, generate_keypair


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("keys") / "rtguard.key")


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the tiny run folder, free to sign and tamper with."""
    return Path(shutil.copytree(tiny_run[0], tmp_path / "run"))


@pytest.fixture
def variant(run_copy) -> Path:
    """A variant of the copy, with the run's schema bound into it: ready to sign."""
    folder = run_copy / "variants" / "int8-static"
    bind_schema(folder)
    return folder
