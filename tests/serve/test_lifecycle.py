"""A real server's start and stop: a bad variant never opens the port, and SIGTERM lets the
request in flight finish before the process exits."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from serving import HOST, SERVED, Server, infer_body, sample_rows


def serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtguard.cli", "serve", *args], capture_output=True, text=True, timeout=timeout)


def test_sigterm_lets_the_request_in_flight_finish(signed_run, serve_keys, tmp_path):
    server = Server(signed_run, serve_keys[1], tmp_path).wait_ready()
    body = json.dumps(infer_body(sample_rows(signed_run, 1))).encode()
    head = (f"POST /v2/models/rtguard/infer HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((HOST, server.port), timeout=30) as connection:
        connection.sendall(head + body[:10])  # the request has begun: headers in, body still arriving
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        for _ in range(200):  # bounded: the listening socket closes once shutdown has begun
            try:
                socket.create_connection((HOST, server.port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server kept accepting connections after SIGTERM")
        connection.sendall(body[10:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'"model_version":"1"' in answer
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    assert "Finished server process" in server.log.read_text()


@pytest.mark.parametrize("case, message", [
    ("tampered", "does not verify"),
    ("missing", "no variant 'missing'"),
    ("no key", "no public key to verify it with"),
])
def test_a_variant_that_fails_its_checks_never_opens_the_port(signed_run, serve_keys, tmp_path, case, message):
    variant = SERVED
    if case == "tampered":
        variant = "tampered-copy"
        shutil.copytree(signed_run / "variants" / SERVED, signed_run / "variants" / variant, dirs_exist_ok=True)
        with (signed_run / "variants" / variant / "model.onnx").open("ab") as model:
            model.write(b"\0")
    elif case == "missing":
        variant = "missing"
    key = [] if case == "no key" else ["--pub", str(serve_keys[1])]
    result = serve(str(signed_run), "--variant", variant, *key, "--port", "1")
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert message in said and "Traceback" not in said
