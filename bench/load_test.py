"""Load test of `rtguard serve` on loopback: latency at fixed arrival rates, and where the time goes.

Not a test: it times things, with bench/loadgen.py's open-loop generator (queueing delay
counts). Client and server share this machine's cores, as the issue's targets assume;
the load average before and after each rate says how busy the machine was, and the CPU
each side spent per request says what each took. Each scenario gets a fresh server:

- the HTTP floor: the same uvicorn (uvloop, httptools) with an app that answers a constant;
- single-flow JSON requests at several rates, micro-batching on and off;
- batched requests of 1024 flows: binary tensors at several rates, JSON at one;
- batch 1: the server's p50 at a light rate over the raw in-process session p50;
- the in-process cost of each stage of one request (parse, guard, run, encode, log line);
- hot reloads (alternating two signed variants) under load: every request must succeed.

Every loop is bounded in time and count, and all traffic goes to 127.0.0.1.

    .venv/bin/python bench/load_test.py [--run RUN] [--quick] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from loadgen import HOST, http_post, run_open_loop

RTGUARD = Path(sys.executable).parent / "rtguard"
SINGLE_RATES = (500, 1000, 2000, 3000, 4000)
BATCH_RATES = (50, 100, 200, 300, 400)
BATCH_ROWS = 1024
RELOAD_RATE, RELOAD_SECONDS, RELOAD_EVERY_S = 1000, 10.0, 1.0
MODEL = "rtguard"


async def floor_app(scope, receive, send):
    """The HTTP floor: what uvicorn alone costs per request, answering a constant."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


class Server:
    """A server subprocess on a free port, stopped with SIGTERM (graceful) at exit; reports its CPU seconds."""

    def __init__(self, command: list[str], log: Path, cwd: Path | None = None):
        self.log = log.open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)

    @classmethod
    def rtguard(cls, run: Path, variant: str, pub: Path, config: str, scratch: Path, name: str) -> Server:
        port = _free_port()
        (scratch / f"{name}.toml").write_text(config)
        server = cls([str(RTGUARD), "serve", str(run), "--variant", variant, "--pub", str(pub), "--port", str(port),
                      "--config", str(scratch / f"{name}.toml")], scratch / f"{name}.log")
        return server._ready(port)

    @classmethod
    def floor(cls, scratch: Path) -> Server:
        port = _free_port()
        server = cls([sys.executable, "-m", "uvicorn", "load_test:floor_app", "--port", str(port), "--no-access-log",
                      "--log-level", "warning"], scratch / "floor.log", cwd=Path(__file__).parent)
        return server._ready(port)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _ready(self, port: int) -> Server:
        self.port = port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.process.returncode}")
            try:
                with socket.create_connection((HOST, port), timeout=1) as connection:
                    connection.sendall(f"GET /v2/health/ready HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                    if connection.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


ADMIN_TOKEN = "bench-admin-0123456789abcdef"


def server_config(batching: bool, window_ms: float = 1.0) -> str:
    # One ONNX Runtime thread: a request's few rows give a second intra-op thread nothing to
    # share, and on 2 cores it would only wait for the core the event loop or the client holds.
    return f"[runtime]\nthreads = 1\n[serve]\nbatching = {str(batching).lower()}\nbatch_window_ms = {window_ms}\n"


def single_flow_requests(rows: np.ndarray) -> list[bytes]:
    return [http_post(f"/v2/models/{MODEL}/infer", json.dumps({"inputs": [
        {"name": "features", "shape": [1, rows.shape[1]], "datatype": "FP32", "data": row.tolist()}]}).encode()) for row in rows]


def batched_requests(rows: np.ndarray, binary: bool, count: int = 8) -> list[bytes]:
    """BATCH_ROWS flows a request: binary tensors as tritonclient sends them, or JSON."""
    requests = []
    for start in range(count):
        batch = np.resize(np.roll(rows, start * 97, axis=0), (BATCH_ROWS, rows.shape[1])).astype("<f4")
        tensor = {"name": "features", "shape": list(batch.shape), "datatype": "FP32"}
        if not binary:
            requests.append(http_post(f"/v2/models/{MODEL}/infer", json.dumps({"inputs": [{**tensor, "data": batch.ravel().tolist()}]}).encode()))
            continue
        header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": batch.nbytes}}],
                             "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
        requests.append(http_post(f"/v2/models/{MODEL}/infer", header + batch.tobytes(), {"Inference-Header-Content-Length": str(len(header))}))
    return requests


def warm(server: Server, requests: list[bytes], rate: float) -> None:
    """A second of traffic nobody measures: a fresh process's first requests pay for lazy setup."""
    run_open_loop(server.port, requests, rate, 1.0)


def at_rate(server: Server, requests: list[bytes], rate: float, seconds: float, **options) -> dict:
    """One open-loop run, with the load average around it and the server's CPU per answered request."""
    load_before, cpu_before = os.getloadavg()[0], server.cpu_seconds()
    outcome = asdict(run_open_loop(server.port, requests, rate, seconds, **options))
    server_cpu = server.cpu_seconds() - cpu_before
    return {**outcome, "server_cpu_us_per_request": 1e6 * server_cpu / max(outcome["ok"], 1),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def stage_costs(variant: Path, pub: Path, rows: np.ndarray, calls: int = 3000) -> dict:
    """µs per call of each stage a single-flow JSON request passes through, in this process."""
    from rtguard.config import RuntimeConfig
    from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, Trust, load_session
    from rtguard.serve.logs import JsonFormatter
    from rtguard.serve.protocol import Contract, infer_response, parse_infer

    bodies = [request.split(b"\r\n\r\n", 1)[1] for request in single_flow_requests(rows)]
    formatter = JsonFormatter()
    record = logging.makeLogRecord({"name": "rtguard.serve.access", "msg": "request", "levelno": logging.INFO, "levelname": "INFO",
                                    "fields": {"method": "POST", "path": f"/v2/models/{MODEL}/infer", "status": 200, "ms": 1.0, "client": HOST}})
    with load_session(variant, Trust(pub), RuntimeConfig(threads=1)) as session:
        contract = Contract(rows.shape[1], len(session.schema.classes), 8192)
        parsed = parse_infer(bodies[0], None, contract)
        checked = session.check({INPUT_NAME: parsed.rows})[0]
        probabilities = session.run_checked(checked)
        stages = {
            "parse (JSON, checks, array)": lambda i: parse_infer(bodies[i % len(bodies)], None, contract),
            "guard (schema checks)": lambda i: session.check({INPUT_NAME: parsed.rows}),
            "run (deadline watchdog + session)": lambda i: session.run_checked(checked),
            "raw ONNX Runtime session.run": lambda i: session.session.run([OUTPUT_NAME], {INPUT_NAME: checked}),
            "encode the answer": lambda i: infer_response(parsed, probabilities, MODEL, "1"),
            "access log line (format)": lambda i: formatter.format(record),
        }
        costs = {}
        for name, stage in stages.items():
            for index in range(calls // 10):
                stage(index)
            start = time.perf_counter()
            for index in range(calls):
                stage(index)
            costs[name] = 1e6 * (time.perf_counter() - start) / calls
    costs["whole app, no socket (Starlette, middleware, metrics, handler, batching off)"] = app_cost(variant, pub, bodies, calls)
    return costs


def app_cost(variant: Path, pub: Path, bodies: list[bytes], calls: int) -> float:
    """µs per request through the ASGI app itself, called directly: everything but uvicorn and the socket."""
    import uvloop

    from rtguard.config import validate_config
    from rtguard.runtime import Trust
    from rtguard.serve.app import create_app
    from rtguard.serve.metrics import Metrics
    from rtguard.serve.models import Repository

    config = validate_config({"runtime": {"threads": 1}, "serve": {"batching": False, "access_log": False}})
    app = create_app(Repository(variant.parent.parent, variant.name, Trust(pub), config, Metrics()), config.serve, None)

    async def one(body: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": f"/v2/models/{MODEL}/infer", "raw_path": f"/v2/models/{MODEL}/infer".encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"content-length", str(len(body)).encode())], "client": (HOST, 1), "server": (HOST, 2)}

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            pass

        await app(scope, receive, send)

    async def measure_app() -> float:
        for index in range(calls // 10):
            await one(bodies[index % len(bodies)])
        start = time.perf_counter()
        for index in range(calls):
            await one(bodies[index % len(bodies)])
        return 1e6 * (time.perf_counter() - start) / calls

    return uvloop.run(measure_app())


def raw_session_p50_ms(variant: Path, pub: Path, rows: np.ndarray, calls: int = 3000) -> dict:
    """Batch-1 p50 in process: the ONNX Runtime session alone, and behind rtguard's guard (GuardedSession)."""
    from rtguard.config import RuntimeConfig
    from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, Trust, load_session

    with load_session(variant, Trust(pub), RuntimeConfig(threads=1)) as session:
        timings = {"raw": [], "guarded": []}
        for index in range(calls):
            row = rows[index % len(rows) : index % len(rows) + 1]
            start = time.perf_counter()
            session.session.run([OUTPUT_NAME], {INPUT_NAME: row})
            middle = time.perf_counter()
            session.run({INPUT_NAME: row})
            timings["raw"].append(middle - start)
            timings["guarded"].append(time.perf_counter() - middle)
    return {name: float(np.median(values[calls // 10 :]) * 1000) for name, values in timings.items()}


def measure(run: Path, pub: Path, variants: tuple[str, str], quick: bool, scratch: Path) -> dict:
    rows = np.load(run / "data" / "splits.npz")["x_test"][:1000]
    seconds = 2.0 if quick else 5.0
    single = single_flow_requests(rows)
    results = {"seconds_per_rate": seconds, "single": [], "batched": []}
    with Server.floor(scratch) as floor:
        warm(floor, [http_post("/", b"{}")], 500)
        results["floor"] = at_rate(floor, [http_post("/", b"{}")], 2000, seconds)
        _say("HTTP floor", results["floor"])
    session = raw_session_p50_ms(run / "variants" / variants[0], pub, rows)
    results["batch1"] = {"session_raw_p50_ms": session["raw"], "session_guarded_p50_ms": session["guarded"]}
    for batching in (True, False):
        with Server.rtguard(run, variants[0], pub, server_config(batching), scratch, f"single-{batching}") as server:
            warm(server, single, 500)
            light = at_rate(server, single, 200, seconds)
            results["batch1"]["batching on" if batching else "batching off"] = {
                "server_p50_ms": light["p50_ms"], "ratio_to_raw": light["p50_ms"] / session["raw"]}
            for rate in SINGLE_RATES[::2] if quick else SINGLE_RATES:
                results["single"].append({"batching": batching, **at_rate(server, single, rate, seconds)})
                _say(f"single-flow, batching {'on' if batching else 'off'}", results["single"][-1])
    with Server.rtguard(run, variants[0], pub, server_config(True), scratch, "batched") as server:
        warm(server, batched_requests(rows, True), BATCH_RATES[0])
        for rate in BATCH_RATES[::2] if quick else BATCH_RATES:
            results["batched"].append({"binary": True, **at_rate(server, batched_requests(rows, True), rate, seconds)})
            _say(f"batched x{BATCH_ROWS}, binary", results["batched"][-1])
        for rate in BATCH_RATES[:2]:
            results["batched"].append({"binary": False, **at_rate(server, batched_requests(rows, False), rate, seconds)})
            _say(f"batched x{BATCH_ROWS}, JSON", results["batched"][-1])
    results["stages_us"] = stage_costs(run / "variants" / variants[0], pub, rows)
    results["reload"] = reload_under_load(run, pub, variants, single, scratch, RELOAD_SECONDS / (2 if quick else 1))
    return results


def reload_under_load(run: Path, pub: Path, variants: tuple[str, str], single: list[bytes], scratch: Path, seconds: float) -> dict:
    """Hot reloads every RELOAD_EVERY_S, alternating two variants, while single-flow requests arrive at RELOAD_RATE."""
    import httpx

    admin = scratch / "admin.keys"  # hot reload takes an admin key (#17)
    admin.write_text(f"bench:{ADMIN_TOKEN}\n")
    admin.chmod(0o600)
    config = server_config(True).replace("[serve]\n", f"[serve]\nadmin_keys_file = {json.dumps(str(admin))}\n")
    with Server.rtguard(run, variants[0], pub, config, scratch, "reload") as server:
        warm(server, single, 500)
        reloads, threads = [], []

        def reload(variant: str) -> None:
            started = time.perf_counter()
            answer = httpx.post(f"http://{HOST}:{server.port}/v2/repository/models/{MODEL}/load",
                                json={"parameters": {"variant": variant}}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                                timeout=60)
            reloads.append({"variant": variant, "status": answer.status_code, "seconds": time.perf_counter() - started})

        def tick(elapsed: float) -> None:  # reloads run on their own threads: the generator's schedule never waits for them
            if elapsed >= (len(threads) + 1) * RELOAD_EVERY_S and len(threads) < int(seconds / RELOAD_EVERY_S) - 1:
                threads.append(threading.Thread(target=reload, args=(variants[(len(threads) + 1) % 2],)))
                threads[-1].start()

        outcome = at_rate(server, single, RELOAD_RATE, seconds, on_tick=tick, track_versions=True)
        for thread in threads:
            thread.join(60)
    _say(f"reload under load ({[r['status'] for r in reloads]})", outcome)
    return {**outcome, "reloads": reloads}


def _say(what: str, outcome: dict) -> None:
    print(f"{what}: offered {outcome['offered_per_s']:,.0f}/s achieved {outcome['achieved_per_s']:,.0f}/s "
          f"p50 {outcome['p50_ms']:.2f} p99 {outcome['p99_ms']:.2f} p99.9 {outcome['p999_ms']:.2f} ms failed {outcome['failed']} "
          f"{outcome['statuses']} server {outcome['server_cpu_us_per_request']:.0f} µs/req client {outcome['client_cpu_us_per_request']:.0f} µs/req "
          f"load {outcome['load_before']:.2f}", flush=True)


def render(results: dict, machine: dict, versions: dict) -> str:
    floor, batch1, reload = results["floor"], results["batch1"], results["reload"]
    lines = [
        "# Load test: `rtguard serve` on loopback (bench/load_test.py)", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, shared by client and server; "
        f"{', '.join(f'{name} {version}' for name, version in versions.items())}. Open loop (bench/loadgen.py): "
        f"{results['seconds_per_rate']:g} s per rate over 64 keep-alive connections; latency runs from each request's due time "
        "to its answer, so queueing in the client and in the server both count. CPU columns: CPU time each process spent "
        "per answered request. Load average: 1-minute, before and after each rate.", "",
        f"HTTP floor (uvicorn + uvloop + httptools answering a constant, 2,000 req/s): server {floor['server_cpu_us_per_request']:.0f} µs "
        f"CPU per request, p50 {floor['p50_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms.", "",
        "## Single-flow requests (JSON, 1 flow each)", "",
        "| micro-batching | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | failed | server µs/req | client µs/req | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {'on (1 ms window)' if row['batching'] else 'off'} | {_cells(row)} |" for row in results["single"]]
    lines += ["", f"## Batched requests ({BATCH_ROWS} flows each, micro-batching on)", "",
              "| encoding | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | failed | server µs/req | client µs/req | load avg | flows/s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {'binary' if row['binary'] else 'JSON'} | {_cells(row)} | {row['achieved_per_s'] * BATCH_ROWS:,.0f} |" for row in results["batched"]]
    lines += ["", "## Batch 1: server vs in-process session", "",
              f"Raw ONNX Runtime session p50 at batch 1, in process: {batch1['session_raw_p50_ms']:.4f} ms (behind rtguard's guard: "
              f"{batch1['session_guarded_p50_ms']:.4f} ms). Server p50 for one single-flow request at a light 200 req/s, measured by the client: "
              + "; ".join(f"{mode} {batch1[mode]['server_p50_ms']:.3f} ms (**{batch1[mode]['ratio_to_raw']:.0f}x** the raw session)"
                          for mode in ("batching off", "batching on")) + ".", "",
              "## Where a single-flow request's time goes (in process, µs per call)", "",
              "| stage | µs |", "|---|---:|"]
    lines += [f"| {stage} | {cost:.1f} |" for stage, cost in results["stages_us"].items()]
    lines += ["", "## Hot reload under load", "",
              f"{len(reload['reloads'])} reloads alternating two signed variants (statuses {[r['status'] for r in reload['reloads']]}, "
              f"{min(r['seconds'] for r in reload['reloads']):.2f}–{max(r['seconds'] for r in reload['reloads']):.2f} s each) while "
              f"{reload['offered_per_s']:,.0f} single-flow req/s arrived: {reload['sent']:,} requests, **{reload['failed']} failed**, "
              f"p50 {reload['p50_ms']:.2f} ms, p99 {reload['p99_ms']:.2f} ms, p99.9 {reload['p999_ms']:.2f} ms; model versions seen in "
              f"answers: {', '.join(reload['versions'])}.", ""]
    return "\n".join(lines)


def _cells(row: dict) -> str:
    return (f"{row['offered_per_s']:,.0f} | {row['achieved_per_s']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['p999_ms']:.2f} | "
            f"{row['failed']} | {row['server_cpu_us_per_request']:.0f} | {row['client_cpu_us_per_request']:.0f} | "
            f"{row['load_before']:.2f} → {row['load_after']:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an evaluated run folder holding --variants (default: build a small one)")
    parser.add_argument("--variants", nargs=2, default=("onnx-fp32", "int8-dynamic"), help="the served variant, and the one reloads alternate with")
    parser.add_argument("--quick", action="store_true", help="fewer rates, shorter runs (a smoke run of the bench itself)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    from importlib.metadata import version

    from rtguard.integrity import generate_keypair, next_release, sign_all
    from rtguard.machine import machine_info

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = scratch / "run"
        if args.run:
            shutil.copytree(args.run, run)  # signed here with a throwaway key: the original stays untouched
        else:
            _small_run(run)
        private, public = generate_keypair(scratch / "bench.key")
        release = next_release(private)  # one release: alternating between the two is no rollback
        for variant in args.variants:
            sign_all(run / "variants" / variant, private, release=release)
        results = measure(run, public, tuple(args.variants), args.quick, scratch)
    versions = {name: version(name) for name in ("onnxruntime", "uvicorn", "starlette", "uvloop", "httptools", "orjson")}
    text = render(results, machine_info(), versions)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load-test.md").write_text(text)
    (args.out / "load-test.json").write_text(json.dumps(results, indent=2))
    print(text)
    return 0


def _small_run(out: Path) -> None:
    from rtguard.config import validate_config
    from rtguard.pipeline import run_pipeline

    print("==> building a small synthetic run (onnx-fp32, int8-dynamic)", flush=True)
    config = validate_config({"data": {"n_flows": 20000}, "train": {"epochs": 3},
                              "optimize": {"variants": ["onnx-fp32", "int8-dynamic"]},
                              "evaluate": {"latency_calls": 100, "throughput_seconds": 0.2}})
    run_pipeline(config, out, show_progress=False)


if __name__ == "__main__":
    sys.exit(main())
