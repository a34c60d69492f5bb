"""One entry point for a verified session: in this process (loader.py), or in a worker process (worker.py).

Apart from loader.py because the worker process itself loads through the loader.
"""

from __future__ import annotations

from pathlib import Path

from rtguard.config import RuntimeConfig
from rtguard.runtime.guarded import GuardedSession
from rtguard.runtime.loader import Trust, load_session
from rtguard.runtime.worker import WorkerSession


def open_session(variant_dir: Path, trust: Trust, settings: RuntimeConfig | None = None) -> GuardedSession | WorkerSession:
    """A GuardedSession for the variant, or a WorkerSession when runtime.isolate is set."""
    settings = settings or RuntimeConfig()
    if settings.isolate:
        return WorkerSession(variant_dir, trust, settings)
    return load_session(variant_dir, trust, settings)
