"""A regular file's lines in blocks of whole lines, so the columnar reader parses a megabyte in one call.

LineBatches (rtguard.stream.lines) splits every line in Python and waits on select() so a
lone flow on a quiet pipe is answered at once; a file on disk needs neither. Here the
file is read a block at a time and handed on as raw bytes ending at a line break. A block
the columnar reader cannot take whole is split into exactly the numbered lines
LineBatches gives (a trailing carriage return removed, a line over the cap as None), so
what is scored and reported does not depend on the reader. Memory stays bounded by a
block: a line longer than the cap is cut as it is read, never held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from rtguard.stream.lines import Line

BLOCK_BYTES = 1 << 20
_NEWLINE = ord("\n")


@dataclass(frozen=True)
class Block:
    first: int  # the 1-based number of its first line
    data: bytes  # whole lines, each ending in a newline except perhaps the file's last
    max_line_bytes: int
    count: int = field(init=False)  # its lines

    def __post_init__(self):
        newlines = int(np.count_nonzero(np.frombuffer(self.data, dtype=np.uint8) == _NEWLINE))  # a quarter of bytes.count's time
        object.__setattr__(self, "count", newlines + (bool(self.data) and not self.data.endswith(b"\n")))

    def overlong(self) -> bool:
        """Whether a line may be over the cap (a "\r" before its newline counted, so never a miss). A line over it covers
        a whole aligned window of half the cap, so a newline in every window settles it in a few searches."""
        data, cap = self.data, self.max_line_bytes
        if len(data) <= cap:
            return False
        window = max(cap // 2, 1)
        if all(data.find(b"\n", start, start + window) >= 0 for start in range(0, len(data) - window + 1, window)):
            return False
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE)
        return int(np.diff(ends, prepend=-1, append=len(data)).max()) - 1 > cap

    def lines(self) -> list[Line]:
        """Numbered as LineBatches numbers them: no \\r at the end, a line over the cap as None."""
        pieces = self.data.split(b"\n")
        if not pieces[-1]:
            pieces.pop()
        cap = self.max_line_bytes
        return [(self.first + index, None if len(line) > cap else line)
                for index, line in enumerate(piece.removesuffix(b"\r") for piece in pieces)]

    def split_first(self) -> tuple[Line, Block]:
        """Its first line (numbered and capped as lines() gives it) and the block after it."""
        end = self.data.find(b"\n")
        end = len(self.data) if end < 0 else end
        head = Block(self.first, self.data[:end], self.max_line_bytes).lines()
        return (head[0] if head else (self.first, b"")), Block(self.first + 1, self.data[end + 1:], self.max_line_bytes)


class FileBlocks:
    """`read(n)` gives up to n more bytes of the file, b"" at its end: os.read on the file, or a gzip file's read."""

    def __init__(self, read: Callable[[int], bytes], max_line_bytes: int, block_bytes: int = BLOCK_BYTES):
        self.read, self.max_line_bytes, self.block_bytes = read, max_line_bytes, block_bytes

    def __iter__(self) -> Iterator[Block]:
        number, pending, chunk = 0, b"", b""
        while chunk or (chunk := self.read(self.block_bytes)):
            cut = chunk.rfind(b"\n") + 1
            if cut:  # the block copied once: the line begun in the last chunk, and this chunk up to its last newline
                data = b"".join((pending, memoryview(chunk)[:cut])) if pending or cut < len(chunk) else chunk
                block = Block(number + 1, data, self.max_line_bytes)
                number += block.count
                yield block
                pending = chunk[cut:]
            else:
                pending += chunk
            if len(pending) > self.max_line_bytes + 1:  # + 1: a "\r" before the newline is not the line's
                # over the cap: enough of it is kept to be reported as overlong, the rest is dropped unread
                number += 1
                yield Block(number, pending[: self.max_line_bytes + 2] + b"\n", self.max_line_bytes)
                pending, chunk = b"", self._rest_of_line()
            else:
                chunk = b""
        if pending:
            yield Block(number + 1, pending, self.max_line_bytes)

    def _rest_of_line(self) -> bytes:
        """Read past the end of an overlong line; the bytes after its newline, still to be taken apart."""
        while chunk := self.read(self.block_bytes):
            end = chunk.find(b"\n")
            if end >= 0:
                return chunk[end + 1:]
        return b""
