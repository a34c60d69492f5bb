"""LineBatches: numbering, the line cap, batch sizes, and a lone line on a pipe not waiting for company."""

from __future__ import annotations

import os
import threading

import pytest

from rtguard.stream.lines import CHUNK_BYTES, LineBatches


def _batches(data: bytes, max_line_bytes: int = 100, max_lines: int = 1024) -> list[list]:
    read, write = os.pipe()
    writer = threading.Thread(target=_write_all, args=(write, data))  # a pipe holds less than the long lines
    writer.start()
    try:
        return list(LineBatches(read, max_line_bytes, max_lines, window_s=1.0))
    finally:
        writer.join()
        os.close(read)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)


def test_lines_are_numbered_from_one_without_their_line_ends():
    batches = _batches(b"a,b\r\n\nsecond\nlast without newline")
    assert batches == [[(1, b"a,b"), (2, b""), (3, b"second"), (4, b"last without newline")]]


def test_a_full_batch_goes_out_at_max_lines():
    batches = _batches(b"".join(b"%d\n" % n for n in range(10)), max_lines=4)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert [number for batch in batches for number, _ in batch] == list(range(1, 11))


@pytest.mark.parametrize("length", [101, 3 * CHUNK_BYTES])
def test_a_line_over_the_cap_comes_back_as_none_and_the_next_line_is_intact(length):
    lines = [line for batch in _batches(b"ok\n" + b"x" * length + b"\nafter\n" + b"y" * 100) for line in batch]
    assert lines == [(1, b"ok"), (2, None), (3, b"after"), (4, b"y" * 100)]


def test_a_line_at_the_cap_with_a_carriage_return_is_kept():
    assert _batches(b"z" * 100 + b"\r\n") == [[(1, b"z" * 100)]]


def test_an_overlong_line_is_never_held_whole():
    reader = LineBatches(0, max_line_bytes=100, max_lines=10, window_s=1.0)
    for _ in range(50):
        reader._split(b"x" * 1000)
    assert len(reader._partial) <= 101 and reader._overlong


def test_a_lone_line_on_an_open_pipe_is_batched_after_the_window():
    read, write = os.pipe()
    batches = iter(LineBatches(read, 100, max_lines=1024, window_s=0.01))
    got = []
    reader = threading.Thread(target=lambda: got.append(next(batches)), daemon=True)
    try:
        os.write(write, b"first\n")
        reader.start()
        reader.join(10)  # the pipe stays open: only the window can end the batch
        assert got == [[(1, b"first")]]
    finally:
        os.close(write)
        reader.join(10)
        os.close(read)
