"""What every request passes before a handler sees it: measurement, key, rate, body size.

Plain ASGI middleware rather than Starlette's BaseHTTPMiddleware: each costs a function
call, not a task and a stream per request, which matters at thousands of requests a second.
Refusals here are answered directly, as JSON, and counted.
"""

from __future__ import annotations

import logging
import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rtguard.serve.access import ApiKeys, RateLimiter, presented_key
from rtguard.serve.errors import BodyTooLarge, ServeError, TooManyRequests, Unauthorized, error_body
from rtguard.serve.metrics import Metrics

log = logging.getLogger("rtguard.serve.access")
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})  # load balancers probe without keys
CLIENT = "rtguard.client"  # scope key: the client's key name, or its address when no keys are configured


async def send_error(send: Send, error: ServeError, metrics: Metrics) -> None:
    metrics.rejected.labels(error.reason).inc()
    body = error_body(str(error))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Measured:
    """Counts and times every request by route (not path, so series stay bounded) and writes the access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool):
        self.app, self.metrics, self.access_log = app, metrics, access_log
        self._children: dict[tuple[str, int], tuple] = {}

    def _series(self, endpoint: str, status: int) -> tuple:
        """The request counter and latency histogram of a route and status, looked up once (labels() costs a lock and a hash)."""
        key = (endpoint, status)
        if key not in self._children:
            self._children[key] = (self.metrics.requests.labels(endpoint, str(status)), self.metrics.latency.labels(endpoint))
        return self._children[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - start
            endpoint = getattr(scope.get("endpoint"), "__name__", "unmatched")
            requests, latency = self._series(endpoint, status)
            requests.inc()
            latency.observe(elapsed)
            if self.access_log:
                log.info("request", extra={"fields": {
                    "method": scope["method"], "path": scope["path"], "status": status, "ms": round(elapsed * 1000, 3),
                    "client": scope.get(CLIENT),
                }})


class Authenticated:
    """Requires a known API key on every path but the health probes, when keys are configured."""

    def __init__(self, app: ASGIApp, keys: ApiKeys | None, metrics: Metrics):
        self.app, self.keys, self.metrics = app, keys, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.keys is None or scope["path"] in OPEN_PATHS:
                scope[CLIENT] = (scope.get("client") or ("unknown",))[0]
            else:
                presented = presented_key(dict(scope["headers"]))
                scope[CLIENT] = self.keys.identify(presented)
                if scope[CLIENT] is None:
                    what = "a wrong API key" if presented else "no API key"
                    return await send_error(send, Unauthorized(
                        f"{what}: send `Authorization: Bearer <key>` or `X-API-Key: <key>`", {"WWW-Authenticate": "Bearer"}), self.metrics)
        await self.app(scope, receive, send)


class RateLimited:
    """At most serve.rate_limit_per_s requests per client (key name, else address), after a burst."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, metrics: Metrics):
        self.app, self.limiter, self.metrics = app, limiter, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            wait = self.limiter.retry_after(scope[CLIENT])
            if wait:
                return await send_error(send, TooManyRequests(
                    f"too many requests from {scope[CLIENT]!r}: the limit is {self.limiter.rate:g} per second after a burst of "
                    f"{self.limiter.burst}; retry in {wait:.2f} s", {"Retry-After": str(math.ceil(wait))}), self.metrics)
        await self.app(scope, receive, send)


class BodyCapped:
    """Refuses bodies over the cap: at once when Content-Length says so, else as soon as the bytes read pass it."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics):
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await send_error(send, self._too_large(f"of {int(declared):,} bytes"), self.metrics)
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self._too_large("sent in chunks")
            return message

        await self.app(scope, counting, send)

    def _too_large(self, what: str) -> BodyTooLarge:
        return BodyTooLarge(f"the request body {what} exceeds the {self.max_bytes:,}-byte limit (serve.max_body_kib)")
