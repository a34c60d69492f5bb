"""Who may call, and how often: API keys checked in constant time, a token bucket per client.

Keys are held only as SHA-256 digests and every presented key is compared with every
stored one through hmac.compare_digest, so neither the time of an answer nor a memory
dump tells an attacker how close a guess came. Keys are known by their names (from the
file or the variable), which are what logs and limits use; a key itself is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import stat
import time
from collections import OrderedDict
from pathlib import Path

from rtguard.errors import ConfigError
from rtguard.integrity.files import read_regular

MIN_KEY_CHARS = 16
MAX_CLIENTS = 65536  # token buckets remembered; the least recently seen client is forgotten first
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ApiKeys:
    def __init__(self, keys: dict[str, str]):
        self._digests = [(name, _digest(token)) for name, token in keys.items()]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._digests]

    @classmethod
    def load(cls, path: Path | None, variable: str) -> ApiKeys | None:
        """Keys from the file and the environment variable (either may be absent); None when there are none."""
        keys: dict[str, str] = {}
        if path is not None:
            _add(keys, _read_owner_only(Path(path)).splitlines(), f"{path} line")
        if os.environ.get(variable):
            _add(keys, os.environ[variable].split(","), f"${variable} item")
        return cls(keys) if keys else None

    def shares_a_key_with(self, other: ApiKeys) -> bool:
        """Whether any token is in both sets: an admin key must never also be a scoring key."""
        return bool({digest for _, digest in self._digests} & {digest for _, digest in other._digests})

    def identify(self, presented: str | None) -> str | None:
        """The name of the key presented, or None; takes the same time whichever key (if any) matches."""
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        for name, stored in self._digests:
            if hmac.compare_digest(digest, stored):
                found = name
        return found


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key from `Authorization: Bearer KEY` or `X-API-Key: KEY` (raw ASGI headers, lower-case names)."""
    authorization = headers.get(b"authorization", b"")
    if authorization[:7].lower() == b"bearer ":
        return authorization[7:].strip().decode("latin-1")
    api_key = headers.get(b"x-api-key")
    return api_key.strip().decode("latin-1") if api_key else None


class AllowedHosts:
    """The Host header values a request may carry: the names and port the server listens as.

    A browser page on another site can make a loopback server's client send requests
    (a "simple" cross-site POST, or DNS rebinding with Host: evil.example); refusing every
    Host the server does not listen as closes both.
    """

    def __init__(self, host: str, port: int, extra: list[str]):
        self.port = port
        self.any_address = host in ("0.0.0.0", "::", "")
        names = {host.lower().strip("[]"), *(name.lower() for name in extra)}
        if host == "localhost" or _is_loopback(host):
            names |= {"localhost", "127.0.0.1", "::1"}
        self.names = frozenset(names)

    def allows(self, header: bytes | None) -> bool:
        if not header:
            return False
        text = header.decode("latin-1").strip().lower()
        name, port = (text[1:].partition("]")[::2] if text.startswith("[") else text.rpartition(":")[::2]) \
            if ":" in text else (text, "")
        port = port.lstrip(":")
        if port and not (port.isdigit() and (int(port) == self.port or self.port == 0)):  # port 0: the system chose one
            return False
        if name in self.names:
            return True
        return self.any_address and _is_address(name)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class RateLimiter:
    """A token bucket per client: `burst` requests at once, then `rate` per second."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """0 when the request may go (its token is taken); else the seconds until the next token."""
        now = self._clock()
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _add(keys: dict[str, str], entries: list[str], where: str) -> None:
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        name, separator, token = entry.partition(":")
        if not separator or not _NAME.fullmatch(name):
            name, token = f"key-{len(keys) + 1}", entry
        if len(token) < MIN_KEY_CHARS:
            raise ConfigError(f"API key {name!r} ({where} {number}) is shorter than {MIN_KEY_CHARS} characters: use a random token")
        if name in keys:
            raise ConfigError(f"API key name {name!r} ({where} {number}) is used twice")
        keys[name] = token


def _read_owner_only(path: Path) -> str:
    """The file's text, refused when others may read it (as ssh refuses such key files)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(f"API key file {path} not found") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"API key file {path} is readable or writable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it")
    try:
        return read_regular(path, 1 << 20).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"API key file {path} is not UTF-8 text") from None
