"""Benchmark: `rtguard score` flows/s, CSV and JSON lines, end to end, beside the session's own ceiling.

Not a test: it times things. In one process, in rounds (each contender once per round,
in turn, so a noisy neighbour slows all alike):

- `rtguard score RUN flows.csv -o out` and the same for flows.jsonl, each a fresh process
  (file in, file out): flows/s over the whole command (start-up, verified load, scoring)
  and over its stream alone (the command's own summary line, start-up excluded);
- the CSV again through a pipe on stdin;
- the ceiling: GuardedSession.run (the runtime's checks and the model) on the same flows,
  already encoded, in batches of the stream's size, in this process;
- in this process too, the same StreamScorer loop over a file and over a pipe, with the
  columnar reader (#18) and with the line reader it replaced (reproduced below as
  LineScorer: a record dict per line, RecordEncoder, verdicts and a dict per flow out);
- where the columnar stream's time goes per flow: read (LineBatches), parse + encode,
  guard, session, write.

Each command also reports its peak resident memory; a second CSV four times as long
shows whether memory stays bounded by a batch rather than growing with the input.

    .venv/bin/python bench/stream.py [--run RUN] [--variant onnx-fp32] [--flows 50000] [--rounds 3] [--out bench/results]
"""

from __future__ import annotations

import argparse
import csv
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
_SUMMARY = re.compile(r"(\d+) flows scored, (\d+) skipped.* in ([\d.]+) s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an evaluated run folder (default: build a small synthetic one)")
    parser.add_argument("--variant", default="onnx-fp32", help="which variant of the run to score with")
    parser.add_argument("--flows", type=int, default=50_000, help="flows per input file (the test split, repeated)")
    parser.add_argument("--rounds", type=int, default=3, help="times each contender runs, in turn")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where stream.md goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = args.run or _small_run(scratch / "run")
        text = measure(run, args.variant, args.flows, args.rounds, scratch)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "stream.md"
    kept = target.read_text().partition(NOTES_MARKER)[2] if target.exists() else ""
    target.write_text(text + (f"\n{NOTES_MARKER}{kept}" if kept else ""))  # the hand-written notes below the marker stay
    print(text)
    return 0


def measure(run: Path, variant_name: str, n_flows: int, rounds: int, scratch: Path) -> str:
    import orjson

    from rtguard.config import RuntimeConfig, dump_config, validate_config
    from rtguard.data.prepare import Splits
    from rtguard.data.schema import FeatureSchema
    from rtguard.integrity import generate_keypair, sign_all
    from rtguard.machine import machine_info
    from rtguard.runtime import INPUT_NAME, Trust, load_session
    from rtguard.stream.flows import records_from_rows

    # A signed copy in the scratch folder: the run itself is left as it was.
    variant = Path(shutil.copytree(run / "variants" / variant_name, scratch / "scored" / "variants" / variant_name))
    shutil.copy(run / "schema.json", scratch / "scored" / "schema.json")
    private, public = generate_keypair(scratch / "bench.key")
    sign_all(variant, private)
    config = scratch / "bench.toml"
    config.write_text(dump_config(validate_config({"runtime": {"threads": 1}})))
    schema = FeatureSchema.load(variant / "schema.json")
    x_test = Splits.load(run / "data" / "splits.npz").x_test
    rows = np.resize(x_test, (n_flows, x_test.shape[1]))
    records = records_from_rows(rows, schema)
    files = {"csv": _write_csv(scratch / "flows.csv", schema, records), "jsonl": scratch / "flows.jsonl",
             "csv x4": _write_csv(scratch / "flows-x4.csv", schema, records * 4)}
    files["jsonl"].write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    command = [sys.executable, "-c", _COMMAND, "score", str(scratch / "scored"), "--variant", variant_name, "--pub", str(public),
               "--config", str(config), "--batch", str(BATCH)]

    def score(source: Path, through_pipe: bool = False) -> dict:
        arguments = [*command, "-" if through_pipe else str(source), "-o", str(scratch / "verdicts.jsonl")]
        started = time.perf_counter()
        if through_pipe:
            done = subprocess.run(arguments, input=source.read_bytes(), capture_output=True)
        else:
            done = subprocess.run(arguments, capture_output=True)
        wall = time.perf_counter() - started
        stderr = done.stderr.decode()
        if done.returncode != 0 or not (summary := _SUMMARY.search(stderr)):
            raise SystemExit(f"rtguard score failed ({done.returncode}):\n{stderr}")
        scored, skipped, stream_s = int(summary[1]), int(summary[2]), float(summary[3])
        if scored != n_flows * (4 if "x4" in source.name else 1) or skipped:
            raise SystemExit(f"expected every flow scored, got {scored} scored and {skipped} skipped:\n{stderr}")
        rss = int(re.search(r"peak_kib (\d+)", stderr)[1])
        return {"wall_s": wall, "stream_s": stream_s, "flows": scored, "rss_mib": rss / 1024}

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


def _in_process(session, files: dict, n_flows: int, scratch: Path) -> dict:
    """The stream loop itself, columnar and line by line, over a file and through a pipe, in this process."""
    from rtguard.serve.records import alert_threshold
    from rtguard.stream.lines import LineBatches
    from rtguard.stream.scoring import StreamScorer

    line_scorer = _line_scorer_class()

    def stream(scorer_class, source: Path, through_pipe: bool) -> dict:
        with (scratch / "in-process.jsonl").open("wb") as out:
            scorer = scorer_class(session, None, alert_threshold(session.alert_threshold, 0.5), out, print, 65536)
            if through_pipe:
                read, write = os.pipe()
                feeder = threading.Thread(target=_feed, args=(write, source.read_bytes()))
                feeder.start()
            else:
                read = os.open(source, os.O_RDONLY)
            try:
                summary = scorer.score(LineBatches(read, 65536, BATCH, 0.005))
            finally:
                os.close(read)
                if through_pipe:
                    feeder.join()
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
    }


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
            rows, kept = self._checked(rows, kept)[:2]  # (#17 added which rows the guard repaired)
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
    """Seconds per stage of the columnar stream on the CSV file, each stage's calls timed in place (best of 3)."""
    from rtguard.serve.records import alert_threshold
    from rtguard.stream import scoring
    from rtguard.stream.columnar import ColumnarFlows
    from rtguard.stream.lines import LineBatches
    from rtguard.stream.verdict_lines import VerdictLines

    stages = {"read lines (LineBatches)": None, "parse + encode (ColumnarFlows.encode)": (ColumnarFlows, "encode"),
              "guard (GuardedSession.inspect)": (type(session), "inspect"),
              "session (run_checked_outputs)": (type(session), "run_checked_outputs"),
              "format verdict lines (VerdictLines.format)": (VerdictLines, "format")}
    best: dict[str, float] = {}
    for _ in range(3):
        spent = dict.fromkeys(stages, 0.0)
        originals = {}
        for stage, target in stages.items():
            if target is None:
                continue
            owner, name = target
            originals[target] = getattr(owner, name)
            setattr(owner, name, _timed(originals[target], spent, stage))
        batches_iter = LineBatches.__iter__
        LineBatches.__iter__ = _timed_iter(batches_iter, spent, "read lines (LineBatches)")
        try:
            with (scratch / "profile.jsonl").open("wb") as out:
                scorer = scoring.StreamScorer(session, None, alert_threshold(session.alert_threshold, 0.5), out, print, 65536)
                fd = os.open(files["csv"], os.O_RDONLY)
                try:
                    summary = scorer.score(LineBatches(fd, 65536, BATCH, 0.005))
                finally:
                    os.close(fd)
        finally:
            LineBatches.__iter__ = batches_iter
            for (owner, name), original in originals.items():
                setattr(owner, name, original)
        spent["rest (filtering lines, write, loop)"] = summary.seconds - sum(spent.values())
        spent["whole stream"] = summary.seconds
        best = spent if not best or spent["whole stream"] < best["whole stream"] else best
    out = ["", f"#### Where the columnar stream's time goes (CSV file, {n_flows:,} flows, the fastest of 3 runs)", "",
           "| stage | µs per flow | share |", "|---|---:|---:|"]
    for stage, seconds in best.items():
        out.append(f"| {stage} | {seconds / n_flows * 1e6:.2f} | {seconds / best['whole stream']:.0%} |")
    return "\n".join(out) + "\n"


def _timed(function, spent: dict, stage: str):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[stage] += time.perf_counter() - started
    return timed


def _timed_iter(function, spent: dict, stage: str):
    def timed(self):
        iterator = function(self)
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                spent[stage] += time.perf_counter() - started
                return
            spent[stage] += time.perf_counter() - started
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
