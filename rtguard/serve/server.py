"""`rtguard serve`: verify and load the variant, then answer on uvicorn until told to stop.

The model loads before the port opens, so a server that listens is a server that can
answer (and a bad variant is a one-line error, not a half-started service). SIGTERM or
SIGINT stops accepting connections and lets in-flight requests finish, up to
serve.shutdown_timeout_s.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
from pathlib import Path

import uvicorn

from rtguard.config import RunConfig
from rtguard.errors import ConfigError
from rtguard.runtime import Trust
from rtguard.serve.access import ApiKeys
from rtguard.serve.app import create_app
from rtguard.serve.logs import configure_logging
from rtguard.serve.metrics import Metrics
from rtguard.serve.models import Repository
from rtguard.serve.releases import ReleaseLedger

log = logging.getLogger("rtguard.serve")


def serve(run_dir: Path, variant: str | None, config: RunConfig, trust: Trust, allow_rollback: bool = False) -> None:
    settings = config.serve
    configure_logging()
    if config.runtime.isolate:
        raise ConfigError("runtime.isolate is not supported by `rtguard serve` (requests are batched in process); set it to false")
    keys = ApiKeys.load(settings.api_keys_file, settings.api_keys_env)
    admin_keys = ApiKeys.load(settings.admin_keys_file, settings.admin_keys_env)
    if keys is not None and admin_keys is not None and keys.shares_a_key_with(admin_keys):
        raise ConfigError("an admin key is also a scoring API key: admin keys (serve.admin_keys_file) must be distinct tokens")
    _check_exposure(settings.host, keys is not None, settings.allow_anonymous, settings.tls_certfile is not None)
    for path in (settings.tls_certfile, settings.tls_keyfile):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"TLS file {path} not found")
    repository = Repository(run_dir, variant, trust, config, Metrics(), ReleaseLedger(settings.release_state), allow_rollback)
    app = create_app(repository, settings, keys, admin_keys)
    # The libraries loaded by now (ONNX, ONNX Runtime, model signing, numpy) leave a large heap that
    # never changes; a full collection walking it paused the event loop 35-90 ms at a time under
    # load (measured). Frozen objects are left out of every collection: only what requests allocate is walked.
    gc.collect()
    gc.freeze()
    log.info("listening", extra={"fields": {
        "host": settings.host, "port": settings.port, "tls": settings.tls_certfile is not None,
        "api_keys": keys.names if keys else [], "admin_keys": admin_keys.names if admin_keys else [], "batching": settings.batching,
    }})
    uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, server_header=False,
        proxy_headers=False,  # the client address is the peer's: a forwarded header would let clients pick their own
        ssl_certfile=settings.tls_certfile, ssl_keyfile=settings.tls_keyfile,
        timeout_graceful_shutdown=settings.shutdown_timeout_s, timeout_keep_alive=settings.keep_alive_s,
    )).run()


def _check_exposure(host: str, has_keys: bool, allow_anonymous: bool, tls: bool) -> None:
    """Anything beyond loopback needs keys (or an explicit choice not to); keys without TLS travel in clear text."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return
    if not has_keys and not allow_anonymous:
        raise ConfigError(f"refusing to serve {host} without API keys: set serve.api_keys_file (or the variable "
                          "serve.api_keys_env names), or serve.allow_anonymous = true if the network itself is trusted")
    if not tls:
        log.warning("serving %s without TLS: requests, API keys included, cross the network in clear text", host)
