"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, whatever the server does.

Why open loop: a closed-loop client (wrk, ab) sends its next request only after an answer,
so when the server stalls the client stops sending and the stall vanishes from the
percentiles (coordinated omission). Here request i is due at t0 + i/rate; its latency runs
from that due time to the last byte of its answer, so waiting for a free connection, the
server's queue and its batch window are all counted. wrk2 does the same in C; this one is
Python on uvloop so that it needs nothing but the project's own packages, and it reports
its own CPU use so a reader can see what the client took from the shared cores.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import uvloop

HOST = "127.0.0.1"  # loopback only
CONNECTIONS = 64
DRAIN_S = 5.0  # after the last due time, answers still missing by then count as failures


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight; resolves (status, body) once the body is complete."""

    def __init__(self):
        self.buffer, self.waiting, self.transport = bytearray(), None, None

    def connection_made(self, transport):
        self.transport = transport

    def send(self, request: bytes) -> asyncio.Future:
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiting

    def data_received(self, data: bytes):
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).split(b"\r\n")
        lengths = [int(line.split(b":", 1)[1]) for line in head if line.lower().startswith(b"content-length:")]
        if not lengths:
            self._fail(ConnectionError("an answer without Content-Length"))
            return
        if len(self.buffer) < end + 4 + lengths[0]:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + lengths[0]])
        del self.buffer[: end + 4 + lengths[0]]
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result((int(head[0].split()[1]), body))

    def connection_lost(self, exc):
        self._fail(ConnectionError("connection closed"))

    def _fail(self, error: Exception) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(error)
        if self.transport is not None:
            self.transport.close()


def http_post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Outcome:
    offered_per_s: float
    sent: int = 0
    ok: int = 0
    failed: int = 0
    statuses: dict = field(default_factory=dict)
    achieved_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    client_cpu_us_per_request: float = 0.0
    versions: list = field(default_factory=list)


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float, on_tick=None, track_versions: bool = False) -> Outcome:
    """Send requests[i % len] at t0 + i/rate for `seconds`; on_tick(elapsed) is called before each send."""
    loop = asyncio.get_running_loop()
    # First in, first out: every connection stays in use, so none sits idle past the server's keep-alive timeout.
    idle = deque([(await loop.create_connection(Connection, HOST, port))[1] for _ in range(CONNECTIONS)])
    backlog: deque[tuple[int, float]] = deque()
    latencies, statuses, versions, pending = [], {}, set(), set()
    total = int(rate * seconds)

    def dispatch(index: int, due: float) -> None:
        connection = idle.popleft()
        if connection.transport.is_closing():  # closed by the server since its last answer: counted when it was lost
            backlog.appendleft((index, due))
            return
        task = asyncio.ensure_future(connection.send(requests[index % len(requests)]))
        pending.add(task)
        task.add_done_callback(lambda done: answered(done, connection, due))

    def answered(task: asyncio.Future, connection: Connection, due: float) -> None:
        pending.discard(task)
        if task.cancelled():  # still unanswered DRAIN_S after the last due time
            statuses["timed out"] = statuses.get("timed out", 0) + 1
            return
        try:
            status, body = task.result()
        except ConnectionError:
            statuses["closed"] = statuses.get("closed", 0) + 1
            return
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200 and track_versions:
            versions.add(json.loads(body)["model_version"])
        if not connection.transport.is_closing():  # the server may close a connection after an error answer
            idle.append(connection)
        while backlog and idle:
            dispatch(*backlog.popleft())

    cpu_before = _cpu_seconds()
    start = time.perf_counter() + 0.05  # perf_counter: uvloop's loop.time() ticks in whole milliseconds
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_tick is not None:
            on_tick(time.perf_counter() - start)
        backlog.append((index, due))
        while backlog and idle:
            dispatch(*backlog.popleft())
    deadline = time.perf_counter() + DRAIN_S
    while (pending or backlog) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    finished = time.perf_counter()
    for task in pending:
        task.cancel()
    for connection in idle:
        connection.transport.close()
    return _outcome(rate, total, statuses, latencies, versions, max(finished - start, seconds), _cpu_seconds() - cpu_before)


def run_open_loop(port: int, requests: list[bytes], rate: float, seconds: float, **options) -> Outcome:
    """open_loop on this process's one uvloop event loop."""
    if not hasattr(run_open_loop, "loop"):
        run_open_loop.loop = uvloop.new_event_loop()
    return run_open_loop.loop.run_until_complete(open_loop(port, requests, rate, seconds, **options))


def _outcome(rate, total, statuses, latencies, versions, elapsed, cpu) -> Outcome:
    outcome = Outcome(rate, sent=total, ok=statuses.get(200, 0), statuses={str(key): value for key, value in statuses.items()})
    outcome.failed = total - outcome.ok
    outcome.achieved_per_s = len(latencies) / elapsed
    outcome.client_cpu_us_per_request = 1e6 * cpu / max(len(latencies), 1)
    if latencies:
        outcome.p50_ms, outcome.p99_ms, outcome.p999_ms = (float(v) for v in np.percentile(np.array(latencies) * 1000, [50, 99, 99.9]))
    outcome.versions = sorted(versions, key=int)
    return outcome


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
