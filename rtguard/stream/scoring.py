"""Flows in, one JSON verdict line per flow out: what `rtguard score` runs.

Each micro-batch of lines becomes one session call: the lines are parsed and encoded
(a clean batch at once by rtguard.stream.columnar, any other line by line through
RecordEncoder, as the server's /score does, with the same result), checked by the runtime's input guard,
run, and their verdicts written and flushed before the next batch is read, so memory
stays bounded by one batch whatever the length of the stream. A file on disk comes in
blocks of whole lines instead (rtguard.stream.file_blocks): a clean CSV or JSON-lines block
is encoded whole by one of two worker threads and scored in slices of a batch; any
other block is split into the lines LineBatches would give, and scored as they are. The alert rule is the
server's (rtguard.serve.records.verdicts at serve.alert_threshold), so a flow gets the
same verdict here and from `rtguard serve`. A line that cannot be scored is reported
as `line N: reason` and skipped; nothing in the input stops the stream. NaN and infinity
follow training's rule (data.non_finite, carried in schema.json): imputed with the
training median and flagged in the flow's line ("imputed": true), or, where training
imputed none, the flow is written as a suspicious alert, never dropped unseen: CIC-IDS2017's
`Flow Bytes/s = Infinity` rows are often attacks.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import orjson

from rtguard.artifact import SCORE_OUTPUTS
from rtguard.errors import RtguardError
from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, GuardedSession, InputRejected
from rtguard.serve.errors import BadRequest
from rtguard.serve.records import RecordEncoder
from rtguard.stream.columnar import ColumnarFlows, Encoded
from rtguard.stream.file_blocks import Block, FileBlocks
from rtguard.stream.flows import CsvFlows, JsonFlows, MalformedLine
from rtguard.stream.formats import columnar_for, flows_for, format_by_content
from rtguard.stream.lines import Line
from rtguard.stream.sensor_columnar import ZeekColumnar
from rtguard.stream.verdict_lines import VerdictLines, Written

INTERRUPTED, OUTPUT_CLOSED = "interrupted", "the output was closed"
# Threads that score a file's blocks: while one parses (pyarrow) or runs the model (ONNX Runtime), the other formats,
# and both release the GIL for most of it; more would only queue for the GIL on a machine of two cores.
WORKERS = 2


@dataclass
class Summary:
    lines: int = 0  # every line read, the header and blank lines included
    scored: int = 0
    skipped: int = 0
    alerts: int = 0
    clipped: int = 0  # values moved into the training range (runtime.out_of_range = "clip")
    imputed: int = 0  # NaN/infinity replaced by the training median (data.non_finite = "impute")
    suspicious: int = 0  # flows alerted unscored: NaN/infinity where training imputed none
    out_of_vocabulary: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why the stream ended before its input did

    def line(self) -> str:
        rate = f", {self.scored / self.seconds:,.0f} flows/s" if self.seconds > 0 else ""
        return (f"{self.lines} lines read, {self.scored} flows scored, {self.skipped} skipped, {self.alerts} alerts "
                f"({self.out_of_vocabulary} out-of-vocabulary values, {self.clipped} clipped, {self.imputed} imputed, "
                f"{self.suspicious} suspicious) in {self.seconds:.2f} s{rate}"
                + (f" (stopped: {self.stopped})" if self.stopped else ""))


@dataclass
class ScoredBlock:
    """What a worker made of a block: its rows, the verdict lines of the first `done` of them (a batch of lines for each
    guard call), and their repairs."""
    encoded: Encoded
    done: int
    written: list[Written]
    repaired: Counter


class StreamScorer:
    """Scores batches of numbered lines and writes a JSON line per flow (or per alert, with alerts_only).

    The format (csv, jsonl, a sensor's) may be None: the first non-blank line then decides it, with `by_name`,
    what the input's file name says, if any (stream.formats.format_by_content).
    """

    def __init__(self, session: GuardedSession, format: str | None, threshold: float, out: BinaryIO,
                 report: Callable[[str], None], max_line_bytes: int, id_field: str | None = None, alerts_only: bool = False,
                 batch_lines: int = 1024, by_name: str | None = None):
        self.session, self.format, self.threshold, self.id_field = session, format, threshold, id_field
        self.by_name = by_name
        self.batch_lines = batch_lines  # most flows one session call carries (a file's blocks are scored in slices of it)
        self.out, self.report, self.max_line_bytes, self.alerts_only = out, report, max_line_bytes, alerts_only
        self.encoder = RecordEncoder(session.schema, max_records=1)  # encode() takes one record at a time
        self.extra = [name for name in SCORE_OUTPUTS if name in {o.name for o in session.session.get_outputs()}]
        self.summary = Summary()
        self.flows: CsvFlows | JsonFlows | None = None
        self.columnar = None  # ColumnarFlows or ZeekColumnar: whole clean batches at once; the line reader takes any other
        self.lines_out = VerdictLines(session.schema, threshold, alerts_only)

    def score(self, batches: Iterable[list[Line]] | FileBlocks) -> Summary:
        """Score every batch of lines (LineBatches) or block of a file (FileBlocks); stops early only when interrupted or
        when the output is closed (noted in the summary)."""
        started = time.perf_counter()
        try:
            if isinstance(batches, FileBlocks):
                self._blocks(batches)
            else:
                for batch in batches:
                    self._batch(batch)
        except KeyboardInterrupt:
            self.summary.stopped = INTERRUPTED
        except BrokenPipeError:  # the reader went away (`rtguard score ... | head`)
            self.summary.stopped = OUTPUT_CLOSED
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _batch(self, batch: list[Line]) -> None:
        self.summary.lines += len(batch)
        rows = np.empty((len(batch), len(self.session.schema.features)), dtype=np.float32)
        flow_lines: list[tuple[int, bytes]] = []
        for number, line in batch:
            if line is None:
                self._skip(number, f"longer than {self.max_line_bytes} bytes (the line cap)")
                continue
            if not line.strip():
                continue
            if self.flows is None:  # the first non-blank line fixes the format and, for CSV, is the header
                self.flows = flows_for(self.format or format_by_content(line, self.by_name), self.session.schema, self.id_field)
                if isinstance(self.flows, CsvFlows):
                    self.flows.read_header(line)
                    self.columnar = ColumnarFlows(self.session.schema, self.flows)
                    continue
                self.columnar = columnar_for(self.session.schema, self.flows)
            flow_lines.append((number, line))
        kept = self.columnar.encode(flow_lines, rows) if self.columnar is not None else None
        if kept is None:
            kept = self._line_by_line(flow_lines, rows)
        if kept:
            numbers, ids, unknown = (list(column) for column in zip(*kept))
            self._score(rows[: len(kept)], numbers, ids, unknown)

    def _blocks(self, blocks: FileBlocks) -> None:
        """A file's blocks in order, each parsed, checked, run and formatted whole by one of WORKERS threads while the
        others take the blocks after it, so that pyarrow's parsing, the model and Arrow's formatting (which release the
        GIL) overlap; the verdicts are written here, in the file's order. At most WORKERS + 1 blocks are held. A pipe has
        none of this: its flows are answered as they come."""
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="rtguard-score") as workers:
            pending: deque[tuple[Block, Future]] = deque()
            for block in blocks:
                while self.flows is None and block.data:  # the first non-blank line fixes the format (and is a CSV's header)
                    first, block = block.split_first()
                    self._batch([first])
                if isinstance(self.columnar, ZeekColumnar):  # parsed here, in order: a block read line by line may change the layout
                    encoded = self.columnar.encode_block(block)
                    if encoded is None:
                        while pending:
                            self._write_block(*pending.popleft())
                        self._block_by_lines(block)
                        continue
                    pending.append((block, workers.submit(self._scored_block, block, encoded)))
                else:
                    pending.append((block, workers.submit(self._scored_block, block)))
                while len(pending) > WORKERS:
                    self._write_block(*pending.popleft())
            while pending:
                self._write_block(*pending.popleft())

    def _scored_block(self, block: Block, encoded: Encoded | None = None) -> ScoredBlock | None:
        """In a worker: the block parsed (unless given), then part by part (as many rows as one guard call takes: the whole
        block, mostly) checked, run in batches and its verdicts formatted, touching no state of the stream. It stops at
        the first part the guard refuses or the session fails on, which the stream then scores batch by batch as any
        other, reporting each line; None when the columnar reader cannot take the block."""
        if encoded is None:
            encoded = self.columnar.encode_block(block) if isinstance(self.columnar, ColumnarFlows) else None
            if encoded is None:
                return None
        rows, ids, unknown = encoded
        scored = ScoredBlock(encoded, 0, [], Counter())
        for start in range(0, len(rows), self.session.max_batch):
            stop = min(start + self.session.max_batch, len(rows))
            try:
                checked, repaired, touched = self.session.inspect({INPUT_NAME: rows[start:stop]})
                runs = [self._run(checked[at:at + self.batch_lines]) for at in range(0, len(checked), self.batch_lines)]
            except (InputRejected, RtguardError):
                break
            probabilities = np.concatenate([probabilities for probabilities, _ in runs])
            extra = {name: np.concatenate([values[name] for _, values in runs]) for name in self.extra}
            scored.written.append(self.lines_out.format(np.arange(block.first + start, block.first + stop),
                                                        None if ids is None or not self.id_field else ids[start:stop],
                                                        unknown[start:stop], probabilities, extra, touched))
            scored.repaired.update(repaired)
            scored.done = stop
        return scored

    def _write_block(self, block: Block, scored: Future) -> None:
        """Write what a worker made of a block, and score what it left (its rest, batch by batch, or, where the columnar
        reader stepped aside, its lines in batches as LineBatches gives them)."""
        result = scored.result()
        if result is None:
            self._block_by_lines(block)
            return
        rows, ids, unknown = result.encoded
        self.summary.lines += len(rows)
        self._count(result.repaired)
        for written in result.written:
            self._write(written)
        for start in range(result.done, len(rows), self.batch_lines):
            stop = min(start + self.batch_lines, len(rows))
            self._score(rows[start:stop], range(block.first + start, block.first + stop), None if ids is None else ids[start:stop],
                        unknown[start:stop])

    def _block_by_lines(self, block: Block) -> None:
        lines = block.lines()
        for start in range(0, len(lines), self.batch_lines):
            self._batch(lines[start:start + self.batch_lines])

    def _score(self, rows: np.ndarray, numbers: Sequence[int], ids: Sequence | None, unknown: list[list[str]]) -> None:
        """Check, run and write these rows (numbers their line numbers, ids None without an id field)."""
        rows, numbers, ids, unknown, touched = self._checked(rows, numbers, ids, unknown)
        if not len(rows):
            return
        try:
            probabilities, extra = self._run(rows)
        except RtguardError as exc:  # the deadline, the memory cap, a failing kernel: this batch only
            for number in numbers:
                self._skip(number, f"not scored: {exc}")
            return
        self._write(self.lines_out.format(numbers, ids if self.id_field else None, unknown, probabilities, extra, touched))

    def _write(self, written: Written) -> None:
        self.summary.alerts += written.alerts
        self.summary.out_of_vocabulary += written.out_of_vocabulary
        self.summary.scored += written.flows
        if written.lines:
            self.out.write(written.lines)
            self.out.flush()

    def _line_by_line(self, flow_lines: list[tuple[int, bytes]], rows: np.ndarray) -> list[tuple[int, object, list[str]]]:
        """(line number, id, out-of-vocabulary features) per line read; each line that is no flow reported with its reason."""
        kept: list[tuple[int, object, list[str]]] = []
        for number, line in flow_lines:
            try:
                read = self.flows.record(line)
                if read is None:  # a sensor's line that is no flow (a Zeek header, an eve.json dns event)
                    continue
                kept.append((number, read[1], self.encoder.encode(read[0], rows[len(kept)])))
            except (MalformedLine, BadRequest) as exc:
                self._skip(number, str(exc))
        return kept

    def _checked(self, rows: np.ndarray, numbers: Sequence[int], ids: Sequence | None, unknown: list[list[str]]):
        """The rows the runtime's guard lets through, with their numbers, ids and unknown features, and which rows each
        repair touched (repairs counted); refused lines are reported one by one."""
        try:
            checked, repaired, touched = self.session.inspect({INPUT_NAME: rows})
        except InputRejected:
            return self._checked_one_by_one(rows, numbers, ids, unknown)
        self._count(repaired)
        return checked, numbers, ids, unknown, touched

    def _checked_one_by_one(self, rows: np.ndarray, numbers: Sequence[int], ids: Sequence | None, unknown: list[list[str]]):
        good_rows, good, flags = [], [], []
        for index, row in enumerate(rows):
            try:
                checked, repaired, touched = self.session.inspect({INPUT_NAME: row[None]})
            except InputRejected as exc:
                reason = str(exc).replace("the first is row 0, ", "")
                if np.isfinite(row).all():
                    self._skip(numbers[index], reason)
                else:
                    self._suspicious(numbers[index], None if ids is None else ids[index], reason)
                continue
            self._count(repaired)
            good_rows.append(checked)
            good.append(index)
            flags.append(touched)
        touched = {kind: np.array([kind in flag for flag in flags], dtype=bool) for kind in {k for flag in flags for k in flag}}
        return ((np.concatenate(good_rows) if good_rows else rows[:0]), [numbers[i] for i in good],
                None if ids is None else [ids[i] for i in good], [unknown[i] for i in good], touched)

    def _count(self, repaired: dict[str, int]) -> None:
        self.summary.clipped += repaired.get("clipped", 0)
        self.summary.imputed += repaired.get("imputed", 0)

    def _suspicious(self, number: int, flow_id: object, reason: str) -> None:
        """A flow the model cannot score for NaN/infinity training never saw: alerted as suspicious, not dropped."""
        self.summary.suspicious += 1
        self.summary.alerts += 1
        self.report(f"line {number}: alerted as suspicious, not scored: {reason}")
        head = {"line": number} if flow_id is None or not self.id_field else {"line": number, "id": flow_id}
        self.out.write(orjson.dumps({**head, "alert": True, "suspicious": reason}) + b"\n")
        self.out.flush()

    def _run(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, list]]:
        """Probabilities, and the extra outputs the artifact gives, per row."""
        probabilities, *extra = self.session.run_checked_outputs(rows, [OUTPUT_NAME, *self.extra])
        return probabilities, {name: values.reshape(len(rows)) for name, values in zip(self.extra, extra)}

    def _skip(self, number: int, reason: str) -> None:
        self.summary.skipped += 1
        self.report(f"line {number}: {reason}")
