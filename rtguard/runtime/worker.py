"""Isolation: a variant's session in a worker process under resource limits.

A crash, a memory blow-up or a runaway call inside ONNX Runtime then ends the worker,
not the caller, which gets a WorkerCrashed error and may restart() the worker. Limits:
address space (RLIMIT_AS), CPU seconds per call (RLIMIT_CPU, re-armed before each
call), no files written once loaded (RLIMIT_FSIZE 0) and no core dumps. The parent
never unpickles what the worker sends: replies are a JSON header and raw float32 bytes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import struct
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rtguard.config import RuntimeConfig
from rtguard.errors import ConfigError, RtguardError
from rtguard.integrity import IntegrityError, KeyFileError, SignatureError, UnsafeFileError
from rtguard.runtime import errors
from rtguard.runtime.guard import features_of
from rtguard.runtime.loader import Trust, load_session
from rtguard.runtime.session import INPUT_NAME

log = logging.getLogger("rtguard.runtime")
STARTUP_TIMEOUT_S = 120.0
# Errors the worker may report, by name; anything else arrives as WorkerCrashed.
_ERRORS = {cls.__name__: cls for cls in (
    RtguardError, ConfigError, IntegrityError, KeyFileError, SignatureError, UnsafeFileError,
    errors.ModelRejected, errors.InputRejected, errors.DeadlineExceeded, errors.MemoryLimitExceeded, errors.RunFailed,
)}
_SIGNALS = {
    signal.SIGKILL: "was killed (SIGKILL: out of memory, or stopped by the system)",
    signal.SIGXCPU: "exceeded its CPU-time limit per call (runtime.worker_cpu_seconds)",
    signal.SIGXFSZ: "tried to write a file, which a loaded worker may not (RLIMIT_FSIZE)",
    signal.SIGSEGV: "crashed (segmentation fault)",
    signal.SIGABRT: "aborted (SIGABRT)",
}


class WorkerSession:
    """The GuardedSession interface (run, counts, close), served by a limited worker process."""

    def __init__(self, variant_dir: Path, trust: Trust, settings: RuntimeConfig):
        self.name = Path(variant_dir).name
        self.counts: Counter[str] = Counter()
        self._args = (str(variant_dir), trust, settings)
        self._timeout = 2 * settings.deadline_ms / 1000 + 1.0  # the worker's own watchdog acts at 1-1.25x
        self._lock = threading.Lock()
        self._start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process.is_alive() else None

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities, computed in the worker; a dead worker raises WorkerCrashed until restart()."""
        rows = features_of(inputs)
        if rows.dtype.hasobject:
            raise errors.InputRejected(f"input {INPUT_NAME!r} has dtype {rows.dtype}; the model takes float32")
        rows = np.ascontiguousarray(rows)
        with self._lock:
            header, payload = self._call({"dtype": rows.dtype.str, "shape": rows.shape}, [rows.data], self._timeout)
        self.counts = Counter(header.get("counts") or {})
        _raise_reported(header)
        return _probabilities(header, payload)

    def restart(self) -> None:
        """Stop the worker (if it still runs) and start a fresh one, verifying and loading again."""
        self.close()
        self._start()

    def close(self) -> None:
        self._stop("it was closed")
        self._connection.close()

    def __enter__(self) -> WorkerSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self) -> None:
        if self._args[1].public_key is None:
            log.warning("INSECURE: the worker for %s loads it WITHOUT signature verification", self._args[0])
        self._stopped_because: str | None = None
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or state
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, *self._args), name=f"rtguard-worker-{self.name}", daemon=True)
        self._process.start()
        child.close()
        header, _ = self._receive(STARTUP_TIMEOUT_S)
        try:
            _raise_reported(header)
        except RtguardError:
            self.close()
            raise
        self.settings = header.get("settings", {})
        self.release = header.get("release")  # the signed release number the worker verified

    def _call(self, header: dict, payloads: list, timeout: float) -> tuple[dict, memoryview]:
        if not self._process.is_alive():
            raise self._crashed()
        try:
            self._connection.send_bytes(_pack(header, payloads))
        except OSError:
            raise self._crashed() from None
        return self._receive(timeout)

    def _receive(self, timeout: float) -> tuple[dict, memoryview]:
        try:
            if not self._connection.poll(timeout):
                self._stop(f"it did not answer within {timeout:g} s and was stopped")
                raise self._crashed()
            return _unpack(self._connection.recv_bytes())
        except (EOFError, OSError):
            raise self._crashed() from None

    def _stop(self, reason: str) -> None:
        if self._process.is_alive():
            self._stopped_because = reason
            self._process.kill()
        self._process.join(5)

    def _crashed(self) -> errors.WorkerCrashed:
        """Why the worker is gone, as an error; the caller itself is unharmed."""
        self._process.join(5)
        code = self._process.exitcode
        if self._stopped_because:
            what = self._stopped_because
        elif code is not None and code < 0:
            what = "it " + _SIGNALS.get(-code, f"was ended by {signal.Signals(-code).name}")
        else:
            what = f"it exited (status {code})"
        return errors.WorkerCrashed(f"the worker for {self.name} is gone: {what}; call restart()")


def _serve(connection, variant_dir: str, trust: Trust, settings: RuntimeConfig) -> None:
    """The worker's life: limit itself, verify and load, then answer calls until the pipe closes."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (settings.worker_memory_mib << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (((settings.max_model_mib + 16) << 20),) * 2)  # the verified private copy
    try:
        session = load_session(Path(variant_dir), trust, settings)
    except RtguardError as exc:
        connection.send_bytes(_pack(_error(exc, Counter()), []))
        return
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    connection.send_bytes(_pack({"ok": True, "settings": session.settings, "release": session.release, "counts": {}}, []))
    cpu_hard_limit = resource.getrlimit(resource.RLIMIT_CPU)[1]
    while True:
        try:
            header, payload = _unpack(connection.recv_bytes())
        except EOFError:
            return
        used = resource.getrusage(resource.RUSAGE_SELF)
        budget = int(used.ru_utime + used.ru_stime) + 1 + settings.worker_cpu_seconds
        if cpu_hard_limit != resource.RLIM_INFINITY:
            budget = min(budget, cpu_hard_limit)
        resource.setrlimit(resource.RLIMIT_CPU, (budget, cpu_hard_limit))
        try:
            probabilities = session.run({INPUT_NAME: _rows(header, payload)})
        except RtguardError as exc:
            connection.send_bytes(_pack(_error(exc, session.counts), []))
            continue
        reply = {"ok": True, "shape": probabilities.shape, "counts": session.counts}
        connection.send_bytes(_pack(reply, [np.ascontiguousarray(probabilities, dtype=np.float32).data]))


def _raise_reported(header: dict) -> None:
    """Raise the error the worker reported, as the same RtguardError class."""
    if header.get("ok") is not True:
        raise _ERRORS.get(header.get("error"), errors.WorkerCrashed)(str(header.get("message", "the worker failed")))


def _error(exc: RtguardError, counts: Counter) -> dict:
    return {"ok": False, "error": type(exc).__name__, "message": str(exc), "counts": counts}


def _rows(header: dict, payload: memoryview) -> np.ndarray:
    try:
        return np.frombuffer(payload, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.InputRejected(f"input {INPUT_NAME!r} could not be decoded: {exc}") from None


def _probabilities(header: dict, payload: memoryview) -> np.ndarray:
    shape = header.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) and n >= 0 for n in shape)
            and len(payload) == shape[0] * shape[1] * 4):
        raise errors.WorkerCrashed("the worker sent a malformed reply")
    return np.frombuffer(payload, dtype=np.float32).reshape(shape).copy()


def _pack(header: dict, payloads: list) -> bytes:
    """One message: header length, JSON header, then the raw bytes of each array."""
    encoded = json.dumps(header).encode()
    return b"".join([struct.pack("<I", len(encoded)), encoded, *payloads])


def _unpack(message: bytes) -> tuple[dict, memoryview]:
    view = memoryview(message)
    try:
        (length,) = struct.unpack_from("<I", view)
        header = json.loads(bytes(view[4 : 4 + length]))
    except (struct.error, ValueError):
        header = None
    if not isinstance(header, dict):
        raise errors.WorkerCrashed("the worker sent a malformed message")
    return header, view[4 + length :]
