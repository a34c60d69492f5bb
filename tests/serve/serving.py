"""Helpers for the serving tests: a real `rtguard serve` process on loopback, and request shapes.

Each test module starts its own server (module scope) on a free port and stops it with
SIGTERM at teardown; tests talk to it over HTTP like any client would.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from rtguard.config import dump_config, validate_config

HOST = "127.0.0.1"
SERVED, OTHER = "onnx-fp32", "int8-dynamic"
STARTUP_S = 60.0


class Server:
    """`python -m rtguard.cli serve RUN ...` in a subprocess; its combined output goes to `log`."""

    def __init__(self, run: Path, pub: Path, folder: Path, settings: dict | None = None, scheme: str = "http"):
        self.port = free_port()
        self.url = f"{scheme}://{HOST}:{self.port}"
        config = folder / f"serve-{self.port}.toml"
        config.write_text(dump_config(validate_config(settings or {})))
        self.log = folder / f"serve-{self.port}.log"
        self._output = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rtguard.cli", "serve", str(run), "--variant", SERVED, "--pub", str(pub),
             "--port", str(self.port), "--config", str(config)],
            stdout=self._output, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, **client_options) -> Server:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2, **client_options).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {STARTUP_S} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def infer_body(rows: np.ndarray, **extra) -> dict:
    return {"inputs": [{"name": "features", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}], **extra}


def sample_rows(run: Path, count: int = 8) -> np.ndarray:
    return np.load(run / "data" / "splits.npz")["x_test"][:count]


def probabilities(answer: httpx.Response) -> np.ndarray:
    output = answer.json()["outputs"][0]
    return np.array(output["data"], dtype=np.float32).reshape(output["shape"])


def error_of(answer: httpx.Response) -> str:
    body = answer.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"], body
    return body["error"]
