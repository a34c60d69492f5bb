"""Micro-batching: requests that arrive together share one session run.

A run of these detectors costs about the same for one row as for a few hundred, while
each request brings its own HTTP and JSON work; one run for many requests leaves the
CPU to that work. The first request of a batch schedules the run `window` later; every
request that arrives meanwhile joins it, up to max_rows a run. The window is an event-loop
timer, and uvloop's clock counts whole milliseconds: measured, a 1 ms window waits about
1.1 ms, and a 0 ms window batches only what arrives in the same turn of the loop (lowest
latency at light load, smaller batches at heavy load). A request whose deadline has passed
when its batch runs is answered with DeadlineExpired, never run late.

Runs happen on one worker thread per model, never on the event loop: a call that takes
long (a signed model whose input makes it allocate hundreds of megabytes, up to its
deadline) then delays only the requests batched behind it, while health checks, metrics
and refusals keep being answered. ONNX Runtime releases the GIL while it computes. One
thread keeps runs in order, as on the loop before; more cores take more replicas (docs/serving.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from rtguard.serve.errors import DeadlineExpired


class MicroBatcher:
    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, coalesce: bool, window_s: float, max_rows: int,
                 observe: Callable[[int, int], None]):
        self._run, self._observe = run, observe
        self._coalesce, self._window_s, self._max_rows = coalesce, window_s, max_rows
        self._queue: list[tuple[np.ndarray, float, asyncio.Future]] = []
        self._timer: asyncio.Handle | None = None  # uvloop answers call_at(past) with a plain Handle
        self._flush_at = 0.0
        # Its thread ends once the batcher (a replaced model's) is dropped: the pool's workers hold it only weakly.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtguard-run")

    async def submit(self, rows: np.ndarray, deadline: float) -> np.ndarray:
        """The probabilities for `rows` (checked rows), or DeadlineExpired once loop.time() passes `deadline` unrun."""
        if not self._coalesce:
            self._observe(1, len(rows))
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, rows)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((rows, deadline, future))
        now = loop.time()  # a deadline inside the window brings the run halfway there: the rest is slack for a busy loop
        flush_at = min(now + self._window_s, (now + deadline) / 2)
        if self._timer is None or flush_at < self._flush_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._flush_at = loop.call_at(flush_at, self._flush), flush_at
        return await future

    def _flush(self) -> None:
        """Run everything queued, oldest first, in runs of at most max_rows."""
        self._timer = None
        queue, self._queue = self._queue, []
        now = asyncio.get_running_loop().time()
        batch, rows = [], 0
        for waiting in queue:
            _, deadline, future = waiting
            if future.done():  # its client went away
                continue
            if now > deadline:  # the loop itself fell behind
                future.set_exception(DeadlineExpired(
                    "the request's deadline passed before the model could run it (serve.request_deadline_ms, or the "
                    "request's timeout): the server is overloaded; retry later or send larger batches"))
                continue
            if batch and rows + len(waiting[0]) > self._max_rows:
                self._run_batch(batch)
                batch, rows = [], 0
            batch.append(waiting)
            rows += len(waiting[0])
        if batch:
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[np.ndarray, float, asyncio.Future]]) -> None:
        """Hand one run to the worker thread; its result (or error) is shared out on the loop."""
        rows = batch[0][0] if len(batch) == 1 else np.concatenate([waiting[0] for waiting in batch])
        self._observe(len(batch), len(rows))
        loop = asyncio.get_running_loop()
        self._executor.submit(self._run, rows).add_done_callback(
            lambda done: loop.call_soon_threadsafe(_share, done, batch))


def _share(done: Future, batch: list[tuple[np.ndarray, float, asyncio.Future]]) -> None:
    """Each waiting request's rows of the run's probabilities, or the run's error (a request whose client left is skipped)."""
    error = done.exception()
    offset = 0
    for waiting_rows, _, future in batch:
        start, offset = offset, offset + len(waiting_rows)
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result()[start:offset])
