"""Benchmark: `rtguard score` flows/s, CSV and JSON lines, end to end, beside the session's own ceiling.

Not a test: it times things. In one process, in rounds (each contender once per round,
in turn, so a noisy neighbour slows all alike):

- `rtguard score RUN flows.csv -o out` and the same for flows.jsonl, each a fresh process
  (file in, file out): flows/s over the whole command (start-up, verified load, scoring)
  and over its stream alone (the command's own summary line, start-up excluded);
- the CSV again through a pipe on stdin;
- the ceiling: GuardedSession.run (the runtime's checks and the model) on the same flows,
  already encoded, in batches of the stream's size, in this process;
- in this process too, the same StreamScorer loop over a file (FileBlocks, as `rtguard score`
  reads a file on disk) and over a pipe (LineBatches), with the columnar reader (#18) and
  with the line reader it replaced (reproduced below as LineScorer: LineBatches, a record
  dict per line, RecordEncoder, verdicts and a dict per flow out);
- where the columnar stream's time goes per flow: CPU time of read, parse + encode, guard,
  session, format and write, on the threads that run them, beside the stream's wall time;
- with --sensor FORMAT=RUN=FILE (repeatable): `rtguard score RUN FILE --format FORMAT` on a
  sensor's real log (its flows repeated to about --flows), the in-process stream over it,
  and the same run's session on the rows that stream encoded.

Each command also reports its peak resident memory; a second CSV four times as long
shows whether memory stays bounded by a batch rather than growing with the input.

    .venv/bin/python bench/stream.py [--run RUN] [--variant onnx-fp32] [--flows 50000] [--rounds 3] [--out bench/results]
                                     [--sensor zeek=runs/zeek=../shared/data/zeek/iot23-....conn.log.labeled ...]
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from runtime_overhead import _small_run  # the same small synthetic run when no --run is given

BATCH = 1024
NOTES_MARKER = "<!-- notes below are kept when bench/stream.py rewrites the tables above -->"
# The command exactly as the console script runs it, plus its peak RSS on stderr at the end: VmHWM, which
# starts afresh at exec (getrusage's ru_maxrss would also count the pages forked from this big process).
_COMMAND = ("import re, sys\nfrom rtguard.cli import app\ntry:\n    app(sys.argv[1:])\nfinally:\n"
            "    print('peak_kib', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr)")
# The stream's own rate from its summary line: its flows/s, not its seconds, which are printed to 0.01 s (a 50,000-flow
# stream takes about 0.1 s, so the seconds alone would give rates in steps of 10%).
_SUMMARY = re.compile(r"(\d+) flows scored, (\d+) skipped.* in [\d.]+ s, ([\d,]+) flows/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an evaluated run folder (default: build a small synthetic one)")
    parser.add_argument("--variant", default="onnx-fp32", help="which variant of the run to score with")
    parser.add_argument("--flows", type=int, default=50_000, help="flows per input file (the test split, repeated)")
    parser.add_argument("--rounds", type=int, default=3, help="times each contender runs, in turn")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where stream.md goes")
    parser.add_argument("--sensor", action="append", default=[], metavar="FORMAT=RUN=FILE",
                        help="a run trained with --dataset FORMAT (zeek, suricata, cicflowmeter) and a real log of that sensor")
    args = parser.parse_args()
    sensors = [tuple(item.split("=", 2)) for item in args.sensor]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = args.run or _small_run(scratch / "run")
        text = measure(run, args.variant, args.flows, args.rounds, scratch)
        for index, (format, sensor_run, log) in enumerate(sensors):
            text += measure_sensor(format, Path(sensor_run), Path(log), args.variant, args.flows, args.rounds, scratch / f"{index}-{format}")
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "stream.md"
    kept = target.read_text().partition(NOTES_MARKER)[2] if target.exists() else ""
    target.write_text(text + (f"\n{NOTES_MARKER}{kept}" if kept else ""))  # the hand-written notes below the marker stay
    print(text)
    return 0


def measure(run: Path, variant_name: str, n_flows: int, rounds: int, scratch: Path) -> str:
    import orjson

    from rtguard.config import RuntimeConfig
    from rtguard.data.prepare import Splits
    from rtguard.data.schema import FeatureSchema
    from rtguard.machine import machine_info
    from rtguard.runtime import INPUT_NAME, Trust, load_session
    from rtguard.stream.flows import records_from_rows

    variant, public, command = _signed_copy(run, variant_name, scratch)
    schema = FeatureSchema.load(variant / "schema.json")
    x_test = Splits.load(run / "data" / "splits.npz").x_test
    rows = np.resize(x_test, (n_flows, x_test.shape[1]))
    records = records_from_rows(rows, schema)
    files = {"csv": _write_csv(scratch / "flows.csv", schema, records), "jsonl": scratch / "flows.jsonl",
             "csv x4": _write_csv(scratch / "flows-x4.csv", schema, records * 4)}
    files["jsonl"].write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))

    def score(source: Path, through_pipe: bool = False) -> dict:
        return _score_command(command, source, scratch, n_flows * (4 if "x4" in source.name else 1), through_pipe)

    session = load_session(variant, Trust(public), RuntimeConfig(threads=1))
    batches = [np.ascontiguousarray(rows[start:start + BATCH]) for start in range(0, n_flows, BATCH)]

    def ceiling() -> dict:
        started = time.perf_counter()
        for batch in batches:
            session.run({INPUT_NAME: batch})
        seconds = time.perf_counter() - started
        return {"wall_s": seconds, "stream_s": seconds, "flows": n_flows, "rss_mib": float("nan")}

    scorers = _in_process(session, files, n_flows, scratch)
    contenders = {
        **scorers,
        "`rtguard score` CSV file -> file": lambda: score(files["csv"]),
        "`rtguard score` JSON lines file -> file": lambda: score(files["jsonl"]),
        "`rtguard score` CSV on stdin (a pipe) -> file": lambda: score(files["csv"], through_pipe=True),
        "`rtguard score` JSON lines on stdin (a pipe) -> file": lambda: score(files["jsonl"], through_pipe=True),
        f"`rtguard score` CSV, {4 * n_flows:,} flows (memory check)": lambda: score(files["csv x4"]),
        "ceiling: GuardedSession.run on encoded rows, in process": ceiling,
    }
    results = {name: [] for name in contenders}
    for round_index in range(rounds):
        print(f"==> round {round_index + 1} of {rounds}", flush=True)
        for name, contender in contenders.items():
            results[name].append(contender())
    profile = _profile(session, files, n_flows, scratch)
    session.close()
    return _markdown(machine_info(), results, variant_name, n_flows, rounds) + profile


def _signed_copy(run: Path, variant_name: str, scratch: Path) -> tuple[Path, Path, list[str]]:
    """A signed copy of the variant in the scratch folder (the run itself is left as it was), its public key, and the
    `rtguard score` command line that scores with it (one intra-op thread, batches of BATCH)."""
    from rtguard.config import dump_config, validate_config
    from rtguard.integrity import generate_keypair, sign_all

    variant = Path(shutil.copytree(run / "variants" / variant_name, scratch / "scored" / "variants" / variant_name))
    shutil.copy(run / "schema.json", scratch / "scored" / "schema.json")
    private, public = generate_keypair(scratch / "bench.key")
    sign_all(variant, private)
    config = scratch / "bench.toml"
    config.write_text(dump_config(validate_config({"runtime": {"threads": 1}})))
    return variant, public, [sys.executable, "-c", _COMMAND, "score", str(scratch / "scored"), "--variant", variant_name,
                             "--pub", str(public), "--config", str(config), "--batch", str(BATCH)]


def _score_command(command: list[str], source: Path, scratch: Path, n_flows: int, through_pipe: bool = False, *options: str,
                   skipped_lines: int = 0) -> dict:
    """One `rtguard score` process (file in, or a pipe on stdin; a file out): its rates, checked to have scored every flow."""
    arguments = [*command, "-" if through_pipe else str(source), "-o", str(scratch / "verdicts.jsonl"), *options]
    started = time.perf_counter()
    if through_pipe:
        done = subprocess.run(arguments, input=source.read_bytes(), capture_output=True)
    else:
        done = subprocess.run(arguments, capture_output=True)
    wall = time.perf_counter() - started
    stderr = done.stderr.decode()
    if done.returncode != 0 or not (summary := _SUMMARY.search(stderr)):
        raise SystemExit(f"rtguard score failed ({done.returncode}):\n{stderr}")
    scored, skipped = int(summary[1]), int(summary[2])
    if scored != n_flows or skipped != skipped_lines:
        raise SystemExit(f"expected {n_flows} flows scored and {skipped_lines} skipped, got {scored} and {skipped}:\n{stderr[-2000:]}")
    rss = int(re.search(r"peak_kib (\d+)", stderr)[1])
    return {"wall_s": wall, "stream_s": scored / int(summary[3].replace(",", "")), "flows": scored, "rss_mib": rss / 1024}


def measure_sensor(format: str, run: Path, log: Path, variant_name: str, n_flows: int, rounds: int, scratch: Path) -> str:
    """`rtguard score RUN LOG --format FORMAT` on a sensor's real log, its flows repeated to about n_flows, beside the
    in-process stream over it and the same run's session on the rows that stream encoded; contenders in turn per round."""
    from rtguard.config import RuntimeConfig
    from rtguard.runtime import INPUT_NAME, Trust, load_session
    from rtguard.stream.scoring import StreamScorer

    scratch.mkdir(parents=True)
    variant, public, command = _signed_copy(run, variant_name, scratch)
    session = load_session(variant, Trust(public), RuntimeConfig(threads=1))
    once = _stream(session, StreamScorer, log, False, scratch / "once.jsonl", format).scored
    source, header = _lengthened(log, format, max(1, -(-n_flows // max(once, 1))), scratch)
    encoded: list[np.ndarray] = []

    class Capturing(StreamScorer):
        def _run(self, rows):
            encoded.append(rows.copy())
            return super()._run(rows)

    captured = _stream(session, Capturing, source, False, scratch / "captured.jsonl", format)
    flows = captured.scored
    rows = np.concatenate(encoded)
    batches = [np.ascontiguousarray(rows[start:start + BATCH]) for start in range(0, len(rows), BATCH)]

    def in_process() -> dict:
        summary = _stream(session, StreamScorer, source, False, scratch / "in-process.jsonl", format)
        return {"wall_s": summary.seconds, "stream_s": summary.seconds, "flows": summary.scored, "rss_mib": float("nan")}

    def ceiling() -> dict:
        started = time.perf_counter()
        for batch in batches:
            session.run({INPUT_NAME: batch})
        seconds = time.perf_counter() - started
        return {"wall_s": seconds, "stream_s": seconds, "flows": len(rows), "rss_mib": float("nan")}

    contenders = {f"`rtguard score --format {format}` file -> file": lambda: _score_command(command, source, scratch, flows, False, "--format",
                                                                                            format, skipped_lines=captured.skipped),
                  "in process: the same stream": in_process, "ceiling: GuardedSession.run on the rows it encoded": ceiling}
    results = {name: [] for name in contenders}
    for round_index in range(rounds):
        print(f"==> {format}: round {round_index + 1} of {rounds}", flush=True)
        for name, contender in contenders.items():
            results[name].append(contender())
    session.close()
    rate = {name: np.median([r["flows"] / r["stream_s"] for r in runs]) for name, runs in results.items()}
    whole = np.median([r["flows"] / r["wall_s"] for r in next(iter(results.values()))])
    top = rate["ceiling: GuardedSession.run on the rows it encoded"]
    skipped = f", {captured.skipped:,} lines skipped as unreadable" if captured.skipped else ""
    out = ["", f"#### {format}: {log.name}, {header}, {flows:,} flows{skipped} (medians of {rounds} rounds)", "",
           "| contender | stream flows/s | stream vs ceiling |", "|---|---:|---:|"]
    out += [f"| {name} | {value:,.0f} | {value / top:.1%} |" for name, value in rate.items()]
    return "\n".join(out) + f"\n\nThe whole `rtguard score` command, start-up and verified load included: {whole:,.0f} flows/s.\n"


def _lengthened(log: Path, format: str, times: int, scratch: Path) -> tuple[Path, str]:
    """The log's lines repeated `times` (its header lines once), and what was done, in words."""
    lines = log.read_bytes().splitlines(keepends=False)
    if format == "cicflowmeter":
        head, body = lines[:1], lines[1:]
    else:  # a Zeek TSV's #-directives stay at the top, once (a closing #close is dropped)
        head = [line for line in lines if line.startswith(b"#") and not line.startswith(b"#close")]
        body = [line for line in lines if not line.startswith(b"#")]
    target = scratch / log.name
    target.write_bytes(b"\n".join([*head, *body * times]) + b"\n")
    return target, f"its {len(body):,} lines x{times}"


def _in_process(session, files: dict, n_flows: int, scratch: Path) -> dict:
    """The stream loop itself, columnar and line by line, over a file and through a pipe, in this process."""
    from rtguard.stream.scoring import StreamScorer

    line_scorer = _line_scorer_class()

    def stream(scorer_class, source: Path, through_pipe: bool) -> dict:
        summary = _stream(session, scorer_class, source, through_pipe, scratch / "in-process.jsonl")
        if summary.scored != n_flows or summary.skipped:
            raise SystemExit(f"in-process stream: {summary.line()}")
        return {"wall_s": summary.seconds, "stream_s": summary.seconds, "flows": summary.scored, "rss_mib": float("nan")}

    return {
        "in process: columnar reader, CSV file": lambda: stream(StreamScorer, files["csv"], False),
        "in process: line reader (before #18), CSV file": lambda: stream(line_scorer, files["csv"], False),
        "in process: columnar reader, CSV on a pipe": lambda: stream(StreamScorer, files["csv"], True),
        "in process: line reader (before #18), CSV on a pipe": lambda: stream(line_scorer, files["csv"], True),
        "in process: columnar reader, JSON lines file": lambda: stream(StreamScorer, files["jsonl"], False),
        "in process: line reader (before #18), JSON lines file": lambda: stream(line_scorer, files["jsonl"], False),
        "in process: columnar reader, JSON lines on a pipe": lambda: stream(StreamScorer, files["jsonl"], True),
        "in process: line reader (before #18), JSON lines on a pipe": lambda: stream(line_scorer, files["jsonl"], True),
    }


def _stream(session, scorer_class, source: Path, through_pipe: bool, target: Path, format: str | None = None):
    """One StreamScorer pass, read as `rtguard score` reads: a file on disk in blocks (the line reader before #18 read
    it line by line), a pipe line by line; returns its summary."""
    from rtguard.serve.records import alert_threshold
    from rtguard.stream.file_blocks import FileBlocks
    from rtguard.stream.flows import format_by_name
    from rtguard.stream.lines import LineBatches
    from rtguard.stream.scoring import StreamScorer

    with target.open("wb") as out:
        scorer = scorer_class(session, format, alert_threshold(session.alert_threshold, 0.5), out, print, 65536, batch_lines=BATCH,
                              by_name=format_by_name(str(source)))
        if through_pipe:
            read, write = os.pipe()
            feeder = threading.Thread(target=_feed, args=(write, source.read_bytes()))
            feeder.start()
        else:
            read = os.open(source, os.O_RDONLY)
        try:
            in_blocks = not through_pipe and scorer_class is StreamScorer
            return scorer.score(FileBlocks(functools.partial(os.read, read), 65536) if in_blocks else LineBatches(read, 65536, BATCH, 0.005))
        finally:
            os.close(read)
            if through_pipe:
                feeder.join()


def _feed(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb", buffering=0) as pipe:
        view = memoryview(data)
        for start in range(0, len(view), 1 << 16):
            pipe.write(view[start:start + (1 << 16)])


def _line_scorer_class():
    """StreamScorer as it was before #18: each line to a record dict and RecordEncoder, each verdict a dict and a dumps."""
    import orjson

    from rtguard.errors import RtguardError
    from rtguard.serve.errors import BadRequest
    from rtguard.serve.records import verdicts
    from rtguard.stream.flows import CsvFlows, MalformedLine, flows_for, format_by_content
    from rtguard.stream.scoring import StreamScorer

    class LineScorer(StreamScorer):
        def _batch(self, batch):
            self.summary.lines += len(batch)
            rows = np.empty((len(batch), len(self.session.schema.features)), dtype=np.float32)
            kept = []
            for number, line in batch:
                if line is None or not line.strip():
                    continue
                if self.flows is None:
                    self.flows = flows_for(self.format or format_by_content(line), self.session.schema, self.id_field)
                    if isinstance(self.flows, CsvFlows):
                        self.flows.read_header(line)
                        continue
                try:
                    record, flow_id = self.flows.record(line)
                    kept.append((number, flow_id, self.encoder.encode(record, rows[len(kept)])))
                except (MalformedLine, BadRequest) as exc:
                    self._skip(number, str(exc))
            if kept:
                self._score(rows[: len(kept)], kept)

        def _score(self, rows, kept):
            rows, *columns, _ = self._checked(rows, *(list(column) for column in zip(*kept)))  # (#17 added which rows were repaired)
            kept = list(zip(*columns))
            try:
                probabilities, extra = self._run(rows)
            except RtguardError as exc:
                raise SystemExit(f"in-process stream: {exc}") from None
            extra = {name: values.tolist() for name, values in extra.items()}
            results = verdicts(probabilities, self.session.schema, self.threshold, [unknown for _, _, unknown in kept])
            lines = []
            for index, ((number, flow_id, _), result) in enumerate(zip(kept, results)):
                self.summary.alerts += result["alert"]
                head = {"line": number} if flow_id is None else {"line": number, "id": flow_id}
                lines.append(orjson.dumps({**head, **result, **{name: values[index] for name, values in extra.items()}}))
            self.summary.scored += len(kept)
            self.out.write(b"\n".join(lines) + b"\n")
            self.out.flush()

    return LineScorer


def _profile(session, files: dict, n_flows: int, scratch: Path) -> str:
    """CPU time per stage of the columnar stream on the CSV file, each stage's calls timed in place on the thread that makes
    them (best of 3 runs): the blocks are read and the verdicts written on the main thread, and parsed, checked, run and
    formatted on the scoring workers, side by side; beside them, the stream's wall time and the cores it kept busy."""
    from rtguard.stream.columnar import ColumnarFlows
    from rtguard.stream.file_blocks import FileBlocks
    from rtguard.stream.scoring import WORKERS, StreamScorer
    from rtguard.stream.verdict_lines import VerdictLines

    stages = {"read blocks (FileBlocks, main thread)": (FileBlocks, "__iter__"),
              "parse + encode (ColumnarFlows.encode_block)": (ColumnarFlows, "encode_block"),
              "guard (GuardedSession.inspect)": (type(session), "inspect"),
              "session (run_checked_outputs)": (type(session), "run_checked_outputs"),
              "format verdict lines (VerdictLines.format)": (VerdictLines, "format"),
              "write (StreamScorer._write, main thread)": (StreamScorer, "_write")}
    best: dict[str, float] = {}
    for _ in range(3):
        spent = dict.fromkeys(stages, 0.0)
        originals = {}
        for stage, (owner, name) in stages.items():
            originals[owner, name] = getattr(owner, name)
            setattr(owner, name, (_timed_iter if name == "__iter__" else _timed)(originals[owner, name], spent, stage))
        cpu = time.process_time()
        try:
            summary = _stream(session, StreamScorer, files["csv"], False, scratch / "profile.jsonl")
        finally:
            for (owner, name), original in originals.items():
                setattr(owner, name, original)
        cpu = time.process_time() - cpu
        spent["rest (threads' hand-offs, slicing, loop, the deadline watchdog)"] = cpu - sum(spent.values())
        spent["all threads: CPU"] = cpu
        spent["the stream: wall"] = summary.seconds
        best = spent if not best or spent["the stream: wall"] < best["the stream: wall"] else best
    out = ["", f"#### Where the columnar stream's time goes (CSV file, {n_flows:,} flows, {WORKERS} scoring workers, the fastest of 3 runs)", "",
           "CPU time per stage, summed over the threads that ran it; the stream's wall time below it. Cores kept busy: "
           f"{best['all threads: CPU'] / best['the stream: wall']:.2f} of {os.cpu_count()}.", "",
           "| stage | µs per flow | share of the CPU |", "|---|---:|---:|"]
    for stage, seconds in best.items():
        out.append(f"| {stage} | {seconds / n_flows * 1e6:.2f} | {seconds / best['all threads: CPU']:.0%} |")
    return "\n".join(out) + "\n"


def _timed(function, spent: dict, stage: str):
    lock = threading.Lock()  # the scoring workers add to the same stage

    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            with lock:
                spent[stage] += time.thread_time() - started
    return timed


def _timed_iter(function, spent: dict, stage: str):
    def timed(self):
        iterator = function(self)
        while True:
            started = time.thread_time()
            try:
                batch = next(iterator)
            except StopIteration:
                spent[stage] += time.thread_time() - started
                return
            spent[stage] += time.thread_time() - started
            yield batch
    return timed


def _write_csv(path: Path, schema, records: list[dict]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(schema.names)
        writer.writerows([record[name] for name in schema.names] for record in records)
    return path


def _markdown(machine: dict, results: dict, variant: str, n_flows: int, rounds: int) -> str:
    import onnxruntime

    ceiling = np.median([r["flows"] / r["stream_s"] for r in results["ceiling: GuardedSession.run on encoded rows, in process"]])
    out = [
        f"### Streaming scoring: variant {variant}, {n_flows:,} flows a file, batches of {BATCH}, 1 intra-op thread",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; onnxruntime {onnxruntime.__version__}. Medians over {rounds} "
        "rounds; the contenders took turns in each round. *Whole command* counts the process start, imports and the "
        f"verified load; *stream* is the command's own measure of its read-score-write loop. Load average "
        f"{os.getloadavg()[0]:.2f} at the end: on a shared machine absolute rates are noisy, the ratios within a round hold better.",
        "",
        "| contender | whole command flows/s | stream flows/s | stream vs ceiling | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        whole = np.median([r["flows"] / r["wall_s"] for r in runs])
        stream = np.median([r["flows"] / r["stream_s"] for r in runs])
        rss = np.median([r["rss_mib"] for r in runs])
        out.append(f"| {name} | {whole:,.0f} | {stream:,.0f} | {stream / ceiling:.1%} | {'-' if np.isnan(rss) else f'{rss:.0f}'} |")
    out += ["", "Peak RSS of the 4x longer CSV against the CSV shows whether memory grows with the input; the stream holds "
            "one batch of lines, rows and verdicts at a time.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
