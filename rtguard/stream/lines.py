"""Numbered lines of a byte stream, in micro-batches, in bounded memory.

Reads the file descriptor itself (os.read after select) rather than through a buffered
file: a buffer can hold lines that select() no longer sees, and then a flow arriving
alone on a pipe would wait for the next one. A batch goes out when it is full, when its
first line has waited `window_s`, or at the end of the input. A line longer than the
cap is dropped as it is read (never held whole) and comes back as None, so one endless
line cannot exhaust memory.
"""

from __future__ import annotations

import os
import select
import time
from collections import deque
from collections.abc import Iterator

CHUNK_BYTES = 1 << 16

Line = tuple[int, bytes | None]  # (1-based line number, its bytes without the newline, or None when over the cap)


class LineBatches:
    def __init__(self, fd: int, max_line_bytes: int, max_lines: int, window_s: float):
        self.fd, self.max_line_bytes, self.max_lines, self.window_s = fd, max_line_bytes, max_lines, window_s
        self._ready: deque[Line] = deque()
        self._partial = bytearray()
        self._overlong = False  # the line being read passed the cap; its bytes are dropped up to its newline
        self._number = 0

    def __iter__(self) -> Iterator[list[Line]]:
        flush_at = None
        while True:
            while len(self._ready) >= self.max_lines:
                yield [self._ready.popleft() for _ in range(self.max_lines)]
                flush_at = None
            if self._ready and flush_at is None:
                flush_at = time.monotonic() + self.window_s
            if self._ready and not self._readable(flush_at - time.monotonic()):
                yield self._take_all()
                flush_at = None
                continue
            chunk = os.read(self.fd, CHUNK_BYTES)
            if not chunk:
                self._end()
                if self._ready:
                    yield self._take_all()
                return
            self._split(chunk)

    def _readable(self, timeout: float) -> bool:
        return bool(select.select([self.fd], [], [], max(timeout, 0.0))[0])

    def _take_all(self) -> list[Line]:
        batch = list(self._ready)
        self._ready.clear()
        return batch

    def _split(self, chunk: bytes) -> None:
        pieces = chunk.split(b"\n")
        if len(pieces) > 1:
            self._add(pieces[0])  # closes the line the previous chunk left open
            whole = pieces[1:-1]  # lines wholly inside this chunk: numbered and capped in one pass, not one call each
            if whole:
                cap, first = self.max_line_bytes, self._number + 1
                self._number += len(whole)
                lines = [piece.removesuffix(b"\r") for piece in whole]
                self._ready.extend(zip(range(first, first + len(whole)), [None if len(line) > cap else line for line in lines]))
        self._keep(pieces[-1])

    def _add(self, tail: bytes) -> None:
        """Close the current line with its last piece."""
        self._keep(tail)
        self._number += 1
        line = bytes(self._partial).removesuffix(b"\r")
        self._ready.append((self._number, None if self._overlong or len(line) > self.max_line_bytes else line))
        self._partial.clear()
        self._overlong = False

    def _keep(self, piece: bytes) -> None:
        if self._overlong:
            return
        self._partial += piece
        if len(self._partial) > self.max_line_bytes + 1:  # + 1: a "\r" before the newline is not the line's
            self._partial.clear()
            self._overlong = True

    def _end(self) -> None:
        """A last line without a newline still counts."""
        if self._partial or self._overlong:
            self._add(b"")
