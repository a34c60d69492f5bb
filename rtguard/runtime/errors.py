"""What a load or a call can be refused for: one line each, for the user or the client."""

from rtguard.errors import RtguardError


class ModelRejected(RtguardError):
    """A model file failed validation before ONNX Runtime was allowed to parse it."""


class InputRejected(RtguardError):
    """A call's inputs do not fit the model's schema (names, dtype, shape, batch, values)."""


class DeadlineExceeded(RtguardError):
    """A call ran past runtime.deadline_ms and was terminated."""


class MemoryLimitExceeded(RtguardError):
    """A call needed more memory than runtime.memory_limit_mib allows."""


class RunFailed(RtguardError):
    """ONNX Runtime failed on a call for a reason that is neither the deadline nor the memory cap."""


class WorkerCrashed(RtguardError):
    """The isolated worker process died or stopped answering; restart() starts a new one."""
