"""MicroBatcher on its own: who shares a run, in what order, and what happens past a deadline."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import uvloop

from rtguard.serve.batching import MicroBatcher
from rtguard.serve.errors import DeadlineExpired


class Recorder:
    """A stand-in session: doubles its rows and remembers each run's size."""

    def __init__(self, fail_on: float | None = None):
        self.runs, self.observed, self.fail_on = [], [], fail_on

    def run(self, rows: np.ndarray) -> np.ndarray:
        if self.fail_on is not None and (rows == self.fail_on).any():
            raise RuntimeError("the session failed")
        self.runs.append(len(rows))
        return rows * 2

    def observe(self, requests: int, rows: int) -> None:
        self.observed.append((requests, rows))


def batcher(recorder: Recorder, coalesce: bool = True, window_s: float = 0.02, max_rows: int = 1024) -> MicroBatcher:
    return MicroBatcher(recorder.run, coalesce=coalesce, window_s=window_s, max_rows=max_rows, observe=recorder.observe)


def rows(value: float, count: int = 1) -> np.ndarray:
    return np.full((count, 2), value, np.float32)


def submit_all(micro: MicroBatcher, parts: list[np.ndarray], deadline_s: float = 5.0) -> list:
    async def go():
        loop = asyncio.get_running_loop()
        tasks = [micro.submit(part, loop.time() + deadline_s) for part in parts]
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)

    return run(go())


def run(coroutine):
    """Under the loop `rtguard serve` runs on (uvloop: whole-millisecond clock, call_at(past) gives a plain Handle)."""
    return uvloop.run(coroutine)


def test_requests_within_the_window_share_one_run_and_get_their_own_rows():
    recorder = Recorder()
    answers = submit_all(batcher(recorder), [rows(1), rows(2, 3), rows(3)])
    assert recorder.observed == [(3, 5)] and recorder.runs == [5]
    for answer, value, count in zip(answers, (1, 2, 3), (1, 3, 1)):
        np.testing.assert_array_equal(answer, rows(2 * value, count))


def test_max_rows_splits_runs_in_arrival_order():
    recorder = Recorder()
    answers = submit_all(batcher(recorder, max_rows=4), [rows(value, 2) for value in range(5)])
    assert recorder.runs == [4, 4, 2]
    assert [float(answer[0, 0]) for answer in answers] == [0, 2, 4, 6, 8]


def test_without_coalescing_each_request_runs_alone():
    recorder = Recorder()
    submit_all(batcher(recorder, coalesce=False), [rows(1), rows(2), rows(3)])
    assert recorder.observed == [(1, 1)] * 3


def test_a_request_past_its_deadline_is_answered_not_run():
    recorder = Recorder()
    late, on_time = submit_all(batcher(recorder), [rows(1)], deadline_s=-1.0) + submit_all(batcher(recorder), [rows(2)])
    assert isinstance(late, DeadlineExpired) and "overloaded" in str(late)
    np.testing.assert_array_equal(on_time, rows(4))
    assert recorder.runs == [1]


def test_a_short_deadline_runs_the_batch_sooner():
    recorder = Recorder()
    micro = batcher(recorder, window_s=30.0)

    async def go():
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = asyncio.ensure_future(micro.submit(rows(1), started + 60))
        second = asyncio.ensure_future(micro.submit(rows(2), started + 0.05))
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        return loop.time() - started

    assert run(go()) < 5 and recorder.runs == [2]


def test_a_failed_run_fails_its_requests_only():
    recorder = Recorder(fail_on=2.0)
    micro = batcher(recorder)
    first = submit_all(micro, [rows(1), rows(2)])
    assert all(isinstance(answer, RuntimeError) for answer in first)
    np.testing.assert_array_equal(submit_all(micro, [rows(3)])[0], rows(6))


@pytest.mark.parametrize("window_s", [0.0, 0.001])
def test_tiny_windows_still_coalesce_what_arrives_together(window_s):
    recorder = Recorder()
    submit_all(batcher(recorder, window_s=window_s), [rows(1), rows(2)])
    assert recorder.runs == [2]


@pytest.mark.parametrize("coalesce", [True, False])
def test_a_slow_run_never_blocks_the_event_loop(coalesce):
    """Adversarial finding: a signed model whose input makes a call allocate 800 MB stalled the whole server for ~1 s.
    Runs happen on a worker thread, so the loop (health checks, refusals) keeps turning while one runs."""
    import time

    class Slow(Recorder):
        def run(self, rows):
            time.sleep(0.5)  # stands in for a long ONNX Runtime call, which releases the GIL as sleep does
            return super().run(rows)

    micro = batcher(Slow(), coalesce=coalesce, window_s=0.0)

    async def go():
        loop = asyncio.get_running_loop()
        scoring = asyncio.ensure_future(micro.submit(rows(1), loop.time() + 5))
        await asyncio.sleep(0.05)  # the run has started
        ticks, started = 0, loop.time()
        while not scoring.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return ticks, loop.time() - started, await scoring

    ticks, waited, answer = run(go())
    assert waited > 0.3 and ticks >= 10, "the loop stood still while the run went on"
    np.testing.assert_array_equal(answer, rows(2))
