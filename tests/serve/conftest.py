"""Fixtures for the serving tests: keys, and a signed copy of the shared tiny run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serving import OTHER, SERVED

from rtguard.integrity import generate_keypair, next_release, sign_all, sign_selection


@pytest.fixture(scope="session")
def serve_keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("serve-keys") / "rtguard.key")


@pytest.fixture(scope="module")
def signed_run(tiny_run, serve_keys, tmp_path_factory) -> Path:
    """A copy of the tiny run with two signed variants (one release) and its signed selection, in a repository folder of its own."""
    run = Path(shutil.copytree(tiny_run[0], tmp_path_factory.mktemp("repository") / "run"))
    release = next_release(serve_keys[0])
    for name in (SERVED, OTHER):
        sign_all(run / "variants" / name, serve_keys[0], release=release)
    sign_selection(run, serve_keys[0], release)
    return run


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory) -> tuple[Path, str]:
    """An admin key file (mode 600) for the repository API, and its token."""
    token = "admin-token-0123456789abcdef"
    path = tmp_path_factory.mktemp("admin") / "admin.keys"
    path.write_text(f"ops:{token}\n")
    path.chmod(0o600)
    return path, token
