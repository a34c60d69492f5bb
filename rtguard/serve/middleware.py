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

from rtguard.serve.access import AllowedHosts, ApiKeys, RateLimiter, presented_key
from rtguard.serve.errors import (
    BodyTooLarge,
    Forbidden,
    MisdirectedHost,
    ServeError,
    TooManyRequests,
    Unauthorized,
    UnsupportedEncoding,
    error_body,
)
from rtguard.serve.metrics import Metrics

log = logging.getLogger("rtguard.serve.access")
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})  # load balancers probe without keys
ADMIN_PREFIX = "/v2/repository/"  # the repository API: index and hot reload, admin keys only
INDEX_PATH = "/v2/repository/index"  # a read: tritonclient posts it with no body and no Content-Type
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


class HostChecked:
    """Refuses requests whose Host header names a host the server does not listen as (health probes excepted)."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts, metrics: Metrics):
        self.app, self.hosts, self.metrics = app, hosts, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            host = dict(scope["headers"]).get(b"host")
            if not self.hosts.allows(host):
                shown = host.decode("latin-1")[:80] if host else "no Host header"
                return await send_error(send, MisdirectedHost(
                    f"Host {shown!r} is not a name this server listens as (serve.host, serve.allowed_hosts): refused, "
                    "as a cross-site or DNS-rebinding request would be"), self.metrics)
        await self.app(scope, receive, send)


class Authenticated:
    """Requires a known API key on every path but the health probes, when keys are configured; the
    repository API (hot reload) requires an admin key always, sent as application/json."""

    def __init__(self, app: ASGIApp, keys: ApiKeys | None, metrics: Metrics, admin_keys: ApiKeys | None = None):
        self.app, self.keys, self.metrics, self.admin_keys = app, keys, metrics, admin_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ADMIN_PREFIX):
            refusal = self._admin(scope)
            if refusal is not None:
                return await send_error(send, refusal, self.metrics)
        elif scope["type"] == "http":
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


    def _admin(self, scope: Scope) -> ServeError | None:
        """Why a repository request is refused, or None (the admin key's name becomes the client)."""
        headers = dict(scope["headers"])
        if self.admin_keys is None:
            return Forbidden("the repository API (hot reload) needs an admin key and this server has none "
                             "(serve.admin_keys_file or $RTGUARD_ADMIN_KEYS)")
        presented = presented_key(headers)
        scope[CLIENT] = self.admin_keys.identify(presented)
        if scope[CLIENT] is None:
            if presented and self.keys is not None and self.keys.identify(presented):
                return Forbidden("a scoring API key cannot use the repository API (hot reload): it needs an admin key")
            what = "a wrong admin key" if presented else "no admin key"
            return Unauthorized(f"{what}: the repository API needs `Authorization: Bearer <admin key>`", {"WWW-Authenticate": "Bearer"})
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        bodiless_read = scope["path"] == INDEX_PATH and headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers
        if scope["method"] == "POST" and media_type != b"application/json" and not bodiless_read:
            return UnsupportedEncoding(f"the repository API takes Content-Type application/json, not "
                                       f"{media_type.decode('latin-1')[:60] or 'none'!r}")
        return None


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
