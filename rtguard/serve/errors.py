"""What a request can be refused for, with its HTTP status; the client gets {"error": message}."""

from __future__ import annotations

import orjson

from rtguard.errors import RtguardError
from rtguard.runtime import DeadlineExceeded, InputRejected, MemoryLimitExceeded, RunFailed


class ServeError(RtguardError):
    """A refusal the client can act on; `reason` labels it in the rejected-requests metric."""

    status = 400
    reason = "bad_request"

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.headers = headers or {}


class BadRequest(ServeError):
    pass


class Unauthorized(ServeError):
    status, reason = 401, "unauthorized"


class Forbidden(ServeError):
    status, reason = 403, "forbidden"


class MisdirectedHost(ServeError):
    """The Host header names a host this server does not listen as (DNS rebinding, a cross-site request)."""

    status, reason = 421, "bad_host"


class NotFound(ServeError):
    status, reason = 404, "not_found"


class BodyTooLarge(ServeError):
    status, reason = 413, "body_too_large"


class UnsupportedEncoding(ServeError):
    status, reason = 415, "unsupported_encoding"


class TooManyRequests(ServeError):
    status, reason = 429, "rate_limited"


class DeadlineExpired(ServeError):
    """The request's deadline passed before the session could run it: answered now rather than late."""

    status, reason = 503, "deadline"


# Errors of the runtime, as the client sees them; any other RtguardError (a reload
# refused for its signature, validation or smoke test) is the client's bad request.
_RUNTIME = {
    InputRejected: (400, "input_rejected"),
    MemoryLimitExceeded: (413, "memory_limit"),
    DeadlineExceeded: (503, "run_deadline"),
    RunFailed: (500, "run_failed"),
}


def error_body(message: str) -> bytes:
    """Every refusal's body: {"error": "<one line>"}, never a stack trace."""
    return orjson.dumps({"error": message})


def status_of(exc: RtguardError) -> tuple[int, str]:
    """HTTP status and metric reason for an error raised while answering a request."""
    if isinstance(exc, ServeError):
        return exc.status, exc.reason
    return _RUNTIME.get(type(exc), (400, "rejected"))
