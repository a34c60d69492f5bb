"""Fixtures for the serving tests: keys, and a signed copy of the shared tiny run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serving import OTHER, SERVED

from rtguard.integrity import generate_keypair, sign_all


@pytest.fixture(scope="session")
def serve_keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("serve-keys") / "rtguard.key")


@pytest.fixture(scope="module")
def signed_run(tiny_run, serve_keys, tmp_path_factory) -> Path:
    """A copy of the tiny run with two signed variants, inside a repository folder of its own."""
    run = Path(shutil.copytree(tiny_run[0], tmp_path_factory.mktemp("repository") / "run"))
    for name in (SERVED, OTHER):
        sign_all(run / "variants" / name, serve_keys[0])
    return run
