"""Streaming scoring: flows as CSV or JSON lines in (a file or stdin), one JSON verdict line per flow out.

What `rtguard score` runs. Loads the variant through the runtime's verified load, as
`rtguard serve` does, and never imports torch or the training code.
"""

from __future__ import annotations

import functools
import gzip
import os
import stat
import sys
import zlib
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rtguard.config import RunConfig
from rtguard.errors import ConfigError, DataError
from rtguard.runtime import Trust, load_session
from rtguard.serve.records import alert_threshold
from rtguard.stream.file_blocks import FileBlocks
from rtguard.stream.flows import format_by_name
from rtguard.stream.lines import LineBatches
from rtguard.stream.scoring import OUTPUT_CLOSED, StreamScorer, Summary


@dataclass(frozen=True)
class StreamOptions:
    format: str | None = None  # csv, jsonl or a sensor's; None: by the file's extension and its first line
    id_field: str | None = None  # a column or key copied into each output line as "id"
    batch_lines: int = 1024  # most lines one session call carries (capped at runtime.max_batch)
    window_ms: float = 5.0  # how long the first line of a batch waits for more before the batch runs anyway
    max_line_bytes: int = 65536  # longer lines are dropped unread and reported
    alerts_only: bool = False  # write only the flows that alert


def score_stream(variant_dir: Path, trust: Trust, config: RunConfig, source: str, target: str | None,
                 options: StreamOptions, report=lambda text: print(text, file=sys.stderr, flush=True)) -> Summary:
    """Score every flow of `source` (a path, or "-" for stdin) into `target` (a path, or None for stdout).

    Raises DataError when the input cannot be opened or its CSV header lacks features, and the
    runtime's errors when the variant fails verification or validation; nothing on a data line raises.
    """
    if config.runtime.isolate:
        raise ConfigError("runtime.isolate is not supported by `rtguard score` (lines are checked and batched in process); set it to false")
    with ExitStack() as stack:
        fd = sys.stdin.fileno() if source == "-" else _open_input(Path(source), stack)
        session = stack.enter_context(load_session(variant_dir, trust, config.runtime))
        out = sys.stdout.buffer if target is None else stack.enter_context(_open_output(Path(target)))
        threshold = alert_threshold(session.alert_threshold, config.serve.alert_threshold)
        batch_lines = min(options.batch_lines, config.runtime.max_batch)
        scorer = StreamScorer(session, options.format, threshold, out, report, options.max_line_bytes, options.id_field,
                              options.alerts_only, batch_lines, by_name=format_by_name(source))
        if source != "-" and source.lower().endswith(".gz"):  # a rotated Zeek log, an archived eve.json: read decompressed
            batches = FileBlocks(_gunzipped(fd, source, stack), options.max_line_bytes)
        elif stat.S_ISREG(os.fstat(fd).st_mode):  # a file on disk: read in blocks, parsed whole where they are clean
            batches = FileBlocks(functools.partial(os.read, fd), options.max_line_bytes)
        else:  # a pipe or terminal: line by line as lines arrive, a batch going out after --wait-ms
            batches = LineBatches(fd, options.max_line_bytes, batch_lines, options.window_ms / 1000)
        summary = scorer.score(batches)
    if summary.stopped == OUTPUT_CLOSED and target is None:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the interpreter's last flush finds no broken pipe
    return summary


def _open_input(path: Path, stack: ExitStack) -> int:
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected a file of flows (CSV or JSON lines) or - for stdin")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise DataError(f"cannot open {path}: {exc.strerror or exc}") from None
    stack.callback(os.close, fd)
    return fd


def _gunzipped(fd: int, source: str, stack: ExitStack):
    """The decompressed file's read(n); a file that is not gzip, or is cut short, is a DataError (what came before is scored)."""
    file = stack.enter_context(gzip.GzipFile(fileobj=stack.enter_context(open(fd, "rb", closefd=False)), mode="rb"))

    def read(size: int) -> bytes:
        try:
            return file.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"cannot decompress {source}: {exc}") from None

    return read


def _open_output(path: Path):
    try:
        return path.open("wb")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
