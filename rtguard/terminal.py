"""How the command line prints messages: one whole line each, whatever the terminal's width.

Operators grep these lines and ship them to logs one line per message, so nothing here
wraps at the terminal's width or reads markup into the text: errors and warnings are
plain writes to stderr, looked up when written so that a live progress display (which
redirects stderr above its bars) is not torn.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

LIBRARY_LOGGER = "rtguard"


def one_line(text: str) -> str:
    """A multi-line message as one line: its non-blank lines joined with "; " (with a space after a colon)."""
    parts = [line.strip() for line in str(text).splitlines() if line.strip()]
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined += (" " if joined.endswith(":") else "; ") + part
    return joined


def say(text: str) -> None:
    """One line on stderr, as written."""
    sys.stderr.write(one_line(text) + "\n")
    sys.stderr.flush()


def error(message: str) -> None:
    say(f"error: {message}")


def stdout_console() -> Console:
    """Text as written (no markup, no highlighting, no emoji codes) and never hard-wrapped; tables fit the real width."""
    return Console(soft_wrap=True, markup=False, highlight=False, emoji=False)


class _OncePerProcess(logging.Handler):
    """`level: message` on stderr, each distinct line once: an optional backend missing is news the first time only."""

    said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.levelname.lower()}: {one_line(record.getMessage())}"
        except Exception:  # a record whose arguments do not format: logging's own report, as any handler gives
            self.handleError(record)
            return
        if text not in self.said:
            self.said.add(text)
            say(text)


@contextmanager
def library_log() -> Iterator[None]:
    """While a command runs, the records of rtguard's loggers go to stderr as one-line `warning: ...`, and only there.

    Not propagated: a library that configured the root logger (onnxruntime's quantizer calls
    logging.basicConfig on first use) would print them again in its own format.
    """
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler, propagate = _OncePerProcess(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
