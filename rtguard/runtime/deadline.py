"""Per-call deadlines: a watchdog thread sets RunOptions.terminate on calls that overrun.

ONNX Runtime checks the flag between kernels and stops the call with an error. The
watchdog is one sleeping thread per session, polling at a quarter of the deadline,
so a call pays for a dictionary entry rather than a timer thread of its own; a call
is stopped between 1x and 1.25x its deadline.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from rtguard.runtime.errors import DeadlineExceeded, MemoryLimitExceeded, RunFailed
from rtguard.runtime.session import INPUT_NAME, ORT_ERRORS

# How ONNX Runtime says an allocation failed: the arena cap, or the OS refusing.
_ARENA_FULL = re.compile(r"Available memory of (\d+) is smaller than requested bytes of (\d+)")
_OUT_OF_MEMORY = ("Failed to allocate memory", "bad_alloc")


class Watchdog:
    def __init__(self, session: ort.InferenceSession, deadline_s: float, name: str):
        self.session, self.deadline_s, self.name = session, deadline_s, name
        self._running: dict[int, tuple[float, ort.RunOptions]] = {}
        stop = threading.Event()
        poll = min(max(deadline_s / 4, 0.001), 0.05)
        threading.Thread(target=_watch, args=(self._running, stop, poll), name=f"rtguard-deadline-{name}", daemon=True).start()
        self._finalizer = weakref.finalize(self, stop.set)

    def run(self, features: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        """session.run for the named outputs, stopped at the deadline; ORT errors become RtguardErrors."""
        options = ort.RunOptions()
        key = id(options)
        self._running[key] = (time.monotonic() + self.deadline_s, options)
        try:
            return self.session.run(list(outputs), {INPUT_NAME: features}, options)
        except ORT_ERRORS as exc:
            raise self._explain(exc, options.terminate) from None
        finally:
            del self._running[key]

    def close(self) -> None:
        self._finalizer()

    def _explain(self, exc: Exception, terminated: bool) -> Exception:
        if terminated:
            return DeadlineExceeded(f"{self.name}: the call ran past its {self.deadline_s * 1000:g} ms deadline and was stopped (runtime.deadline_ms)")
        text = str(exc)
        if full := _ARENA_FULL.search(text):
            available, requested = map(int, full.groups())
            return MemoryLimitExceeded(
                f"{self.name}: the call asked for {requested:,} bytes at once, more than the {available:,} "
                "left under the memory cap (runtime.memory_limit_mib); the call was refused"
            )
        if any(phrase in text for phrase in _OUT_OF_MEMORY):
            return MemoryLimitExceeded(f"{self.name}: the call ran out of memory: {_detail(text)}")
        return RunFailed(f"{self.name}: ONNX Runtime failed: {_detail(text)}")


def _watch(running: dict, stop: threading.Event, poll: float) -> None:
    """Holds no reference to the Watchdog, so a dropped session stops its thread."""
    while not stop.wait(poll):
        now = time.monotonic()
        for deadline, options in list(running.values()):
            if now > deadline:
                options.terminate = True


def _detail(text: str) -> str:
    """ORT's message without its source location: the first line after the last 'Status Message:'."""
    message = text.rsplit("Status Message:", 1)[-1].strip()
    message = re.sub(r"^/\S+:\d+ .*?\) ", "", message)  # "/onnxruntime_src/...cc:360 void* f(args) "
    return message.splitlines()[0] if message else "no detail"
