"""Rollback protection: a server never goes back to an older signed release of its model unless told to.

Every signed variant carries a release number (rtguard.integrity.release). The highest one
served per model name is kept in a state file beside the server's configuration, written
before the model is swapped in, so neither a hot reload nor a restart brings back an older
release (with a flaw since fixed) unless the admin passes the explicit override.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from rtguard.errors import ConfigError, RtguardError
from rtguard.integrity.files import read_regular
from rtguard.runfolder import write_text

log = logging.getLogger("rtguard.serve")


class RollbackRefused(RtguardError):
    """A candidate's release is older than one this server has already served."""


class ReleaseLedger:
    """The highest release served per model name, in memory and (when a path is given) on disk."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._highest: dict[str, int] = self._read() if self.path else {}
        if self.path is None:
            log.warning("no release state file (serve.release_state, or --config beside which it is kept): "
                        "rollback protection lasts only as long as this process")

    def admit(self, model: str, release: int | None, what: str, allow_rollback: bool = False) -> None:
        """Record `release` as served for `model`, or raise RollbackRefused naming both releases."""
        if release is None:  # loaded unsigned (signing.allow_unsigned): there is no release to compare
            return
        with self._lock:
            highest = self._highest.get(model, 0)
            if release < highest and not allow_rollback:
                raise RollbackRefused(
                    f"refusing {what}: it is release {release}, older than release {highest} this server has already served "
                    f"as {model!r} (a rollback); pass allow_rollback to load it anyway")
            if release < highest:
                log.warning("rollback allowed by the admin", extra={"fields": {"model": model, "release": release, "highest": highest}})
                return
            if release > highest:
                self._highest[model] = release
                self._write()

    def _read(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        try:
            state = json.loads(read_regular(self.path, 1 << 20))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"release state {self.path} is not valid JSON ({exc}): restore it; deleting it disables rollback protection") from None
        highest = state.get("highest_release") if isinstance(state, dict) else None
        if not isinstance(highest, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in highest.values()):
            raise ConfigError(f"release state {self.path} is not {{\"highest_release\": {{model: number}}}}: restore it")
        return dict(highest)

    def _write(self) -> None:
        if self.path is not None:
            write_text(self.path, json.dumps({"highest_release": self._highest}, indent=2, sort_keys=True) + "\n")
