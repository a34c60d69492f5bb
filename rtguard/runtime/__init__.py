"""The ONNX Runtime side: verified load, model validation, hardened sessions, guarded calls.

Runs from the artifact alone and never imports torch or the training code.
Serving opens a variant with `open_session(variant_dir, Trust(public_key=...))`.
"""

from rtguard.runtime.errors import (
    DeadlineExceeded,
    InputRejected,
    MemoryLimitExceeded,
    ModelRejected,
    RunFailed,
    WorkerCrashed,
)
from rtguard.runtime.guarded import GuardedSession
from rtguard.runtime.loader import Trust, load_session, trusted_folder
from rtguard.runtime.opening import open_session
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME, create_session, session_settings
from rtguard.runtime.worker import WorkerSession

__all__ = [
    "DeadlineExceeded", "InputRejected", "MemoryLimitExceeded", "ModelRejected", "RunFailed", "WorkerCrashed",
    "GuardedSession", "Trust", "load_session", "open_session", "trusted_folder", "INPUT_NAME", "OUTPUT_NAME",
    "create_session", "session_settings", "WorkerSession",
]
