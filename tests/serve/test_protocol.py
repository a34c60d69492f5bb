"""The Open Inference Protocol v2 against a real server: tritonclient unchanged, raw binary tensors,
/score, /metrics, and every bad request answered with its 4xx while the server keeps serving."""

from __future__ import annotations

import asyncio
import gzip
import json

import httpx
import numpy as np
import pytest
from serving import SERVED, Server, error_of, infer_body, probabilities, sample_rows

from rtguard.artifact import ALERT
from rtguard.config import RuntimeConfig
from rtguard.data.schema import FeatureSchema
from rtguard.runtime import Trust, load_session

MAX_BODY_KIB = 64
WINDOW_MS = 30.0  # wide, so concurrent requests surely share a run
INFER = "/v2/models/rtguard/infer"


@pytest.fixture(scope="module")
def server(signed_run, serve_keys, tmp_path_factory):
    server = Server(signed_run, serve_keys[1], tmp_path_factory.mktemp("protocol"),
                    {"serve": {"max_body_kib": MAX_BODY_KIB, "batch_window_ms": WINDOW_MS}}).wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def rows(signed_run) -> np.ndarray:
    return sample_rows(signed_run)


@pytest.fixture(scope="module")
def expected(signed_run, serve_keys, rows) -> np.ndarray:
    """What the same verified variant answers in process."""
    with load_session(signed_run / "variants" / SERVED, Trust(serve_keys[1]), RuntimeConfig()) as session:
        return session.run({"features": rows})


@pytest.fixture(scope="module")
def graph_alerts(signed_run, serve_keys, rows) -> list[bool]:
    """The served variant's own decision: its graph's `alert` output at the operating point calibrated into it."""
    with load_session(signed_run / "variants" / SERVED, Trust(serve_keys[1]), RuntimeConfig()) as session:
        checked, _ = session.check({"features": rows})
        return session.run_checked_outputs(checked, [ALERT])[0].tolist()


def still_serving(client, rows, expected) -> None:
    answer = client.post(INFER, json=infer_body(rows[:2]))
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(probabilities(answer), expected[:2], atol=1e-6)


def test_server_and_model_metadata(client, rows):
    assert client.get("/v2").json() == {"name": "rtguard", "version": "0.1.0", "extensions": ["binary_tensor_data", "model_repository"]}
    assert client.get("/v2/health/live").status_code == client.get("/v2/health/ready").status_code == 200
    metadata = client.get("/v2/models/rtguard").json()
    assert metadata["versions"] == ["1"] and metadata["platform"] == "onnxruntime_onnx"
    assert [{k: v for k, v in tensor.items() if k != "parameters"} for tensor in metadata["inputs"]] == [
        {"name": "features", "datatype": "FP32", "shape": [-1, rows.shape[1]]}]
    assert client.get("/v2/models/rtguard/versions/1/ready").json()["ready"] is True
    assert client.get("/v2/models/rtguard/versions/7").status_code == 404
    assert "unknown model 'nope'" in error_of(client.get("/v2/models/nope"))
    assert error_of(client.get("/v2/nothing-here")) == "no endpoint /v2/nothing-here"
    assert client.get(INFER).status_code == 405


def test_model_metadata_names_every_feature(server, client, signed_run, serve_keys):
    """A client builds an /infer request and a /score record from the metadata alone, and both agree."""
    schema = FeatureSchema.load(signed_run / "variants" / SERVED / "schema.json")
    metadata = client.get("/v2/models/rtguard").json()
    features = metadata["inputs"][0]["parameters"]["features"]
    assert [f["name"] for f in features] == schema.names and [f["index"] for f in features] == list(range(len(schema.names)))
    assert [f["kind"] for f in features] == [f.kind for f in schema.features]
    categorical = [f for f in features if f["kind"] == "categorical"]
    assert categorical and all(f["vocabulary"] and f["oov_code"] == len(f["vocabulary"]) for f in categorical)
    assert metadata["outputs"][0]["parameters"]["classes"] == schema.classes
    with load_session(signed_run / "variants" / SERVED, Trust(serve_keys[1]), RuntimeConfig()) as session:
        threshold = session.alert_threshold
    parameters = metadata["parameters"]
    assert parameters["benign_class"] == schema.benign_class and parameters["alert_threshold"] == pytest.approx(threshold)
    assert parameters["score_endpoint"] == "/v2/models/rtguard/score"
    # one flow, written as a person would: categoricals as strings for /score, as vocabulary indices for /infer
    record = {f["name"]: (f["vocabulary"][-1] if f["kind"] == "categorical" else (f["minimum"] + f["maximum"]) / 2) for f in features}
    row = [float(f["vocabulary"].index(record[f["name"]])) if f["kind"] == "categorical" else record[f["name"]] for f in features]
    scored = client.post(parameters["score_endpoint"], json={"records": [record]}).json()["results"][0]
    inferred = probabilities(client.post(INFER, json=infer_body(np.array([row], dtype=np.float32))))[0]
    np.testing.assert_allclose([scored["scores"][name] for name in metadata["outputs"][0]["parameters"]["classes"]], inferred, atol=1e-6)
    http = pytest.importorskip("tritonclient.http")
    triton = http.InferenceServerClient(server.url.removeprefix("http://"))
    assert triton.get_model_metadata("rtguard")["inputs"][0]["parameters"]["features"] == features
    triton.close()


def test_tritonclient_json_and_binary(server, rows, expected):
    http = pytest.importorskip("tritonclient.http")
    client = http.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("rtguard")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    for binary_in in (True, False):
        for binary_out in (True, False):
            tensor = http.InferInput("features", list(rows.shape), "FP32")
            tensor.set_data_from_numpy(rows, binary_data=binary_in)
            result = client.infer("rtguard", [tensor], outputs=[http.InferRequestedOutput("probabilities", binary_data=binary_out)],
                                  request_id="r-1")
            np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
            assert result.get_response()["id"] == "r-1" and result.get_response()["model_version"] == "1"
    compressed = client.infer("rtguard", [tensor], model_version="1", request_compression_algorithm="gzip")
    np.testing.assert_allclose(compressed.as_numpy("probabilities"), expected, atol=1e-6)
    with pytest.raises(Exception, match="unknown model 'other'"):
        client.infer("other", [tensor])
    client.close()


def test_binary_tensors_as_triton_defines_them(client, rows, expected):
    header = json.dumps({"inputs": [{"name": "features", "shape": list(rows.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": rows.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    answer = client.post(INFER, content=header + rows.astype("<f4").tobytes(),
                         headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/octet-stream"
    length = int(answer.headers["inference-header-content-length"])
    document = json.loads(answer.content[:length])
    size = document["outputs"][0]["parameters"]["binary_data_size"]
    assert size == len(answer.content) - length == expected.nbytes
    np.testing.assert_allclose(np.frombuffer(answer.content[length:], "<f4").reshape(expected.shape), expected, atol=1e-6)


def _binary(rows: np.ndarray, declared: int | None = None, header_length: int | None = None, tail: bytes = b"") -> tuple[bytes, dict]:
    data = rows.astype("<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "features", "shape": list(rows.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(data) if declared is None else declared}}]}).encode()
    length = len(header) if header_length is None else header_length
    return header + data + tail, {"Inference-Header-Content-Length": str(length)}


def _json(document) -> tuple[bytes, dict]:
    return json.dumps(document).encode(), {}


def _bad_requests(rows: np.ndarray) -> dict[str, tuple[bytes, dict, int, str]]:
    one, n = rows[:1], rows.shape[1]
    nan_row = one.copy()
    nan_row[0, 3] = np.nan
    return {
        "malformed JSON": (b'{"inputs": [', {}, 400, "not valid JSON"),
        "not an object": (b"[1, 2]", {}, 400, "must be a JSON object"),
        "no inputs": (*_json({}), 400, "'inputs' must be a list"),
        "missing input": (*_json({"inputs": []}), 400, "input 'features' is missing"),
        "unknown input": (*_json({"inputs": [{**infer_body(one)["inputs"][0], "name": "x"}]}), 400, "unknown inputs ['x']"),
        "wrong shape": (*_json(infer_body(one[:, :3])), 400, f"has shape [1, 3]; the model takes [batch, {n}]"),
        "wrong dtype": (*_json({"inputs": [{**infer_body(one)["inputs"][0], "datatype": "INT64"}]}), 400, "datatype 'INT64'; the model takes FP32"),
        "too few values": (*_json({"inputs": [{**infer_body(one)["inputs"][0], "shape": [2, n]}]}), 400, f"holds {n} values; shape [2, {n}] needs {2 * n}"),
        "strings as data": (*_json({"inputs": [{**infer_body(one)["inputs"][0], "data": ["1"] * n}]}), 400, "numbers only"),
        "ragged data": (*_json({"inputs": [{**infer_body(one)["inputs"][0], "data": [[1.0], [1.0, 2.0]]}]}), 400, "regular nested list"),
        "batch too large": (*_json({"inputs": [{**infer_body(one)["inputs"][0], "shape": [10**6, n]}]}), 400, "with batch 1 to 8192"),
        "NaN token in JSON": (*_json(infer_body(nan_row)), 400, "not valid JSON"),  # json.dumps writes it; JSON has none
        "binary size vs shape": (*_binary_mismatch(one), 400, f"shape [1, {n}] of FP32 needs {4 * n}"),
        "header longer than body": (*_binary(one, header_length=10**6), 400, "but the body holds"),
        "header not a number": (_binary(one)[0], {"Inference-Header-Content-Length": "ten"}, 400, "is not an integer"),
        "bytes left over": (*_binary(one, tail=b"\0" * 4), 400, f"declare {4 * n} bytes of binary data but the body holds {4 * n + 4}"),
        "binary without header": (_binary(one)[0][: -4 * n], {}, 400, "no Inference-Header-Content-Length header"),
        "unknown output": (*_json(infer_body(one, outputs=[{"name": "logits"}])), 400, "unknown output 'logits'"),
        "classification": (*_json(infer_body(one, outputs=[{"name": "probabilities", "parameters": {"classification": 2}}])), 400,
                           "classification extension is not supported"),
        "bad timeout": (*_json(infer_body(one, parameters={"timeout": "soon"})), 400, "'timeout' must be a non-negative integer"),
        "oversized body": (b"{" + b" " * (MAX_BODY_KIB << 10) + b"}", {}, 413, f"exceeds the {MAX_BODY_KIB << 10:,}-byte limit"),
        "unknown encoding": (b"{}", {"Content-Encoding": "br"}, 415, "Content-Encoding 'br' is not supported"),
        "corrupt gzip": (b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "does not decompress"),
        "gzip bomb": (gzip.compress(b" " * (MAX_BODY_KIB << 11)), {"Content-Encoding": "gzip"}, 413, "decompressed body exceeds"),
    }


def _binary_mismatch(one: np.ndarray) -> tuple[bytes, dict]:
    """Header and body agree with each other, but not with the shape: 8 bytes for a whole row."""
    header = json.dumps({"inputs": [{"name": "features", "shape": list(one.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": 8}}]}).encode()
    return header + b"\0" * 8, {"Inference-Header-Content-Length": str(len(header))}


BAD = list(_bad_requests(np.zeros((1, 21), np.float32)))


@pytest.mark.parametrize("case", BAD)
def test_bad_request_is_refused_and_the_server_keeps_serving(case, client, rows, expected):
    body, headers, status, message = _bad_requests(rows)[case]
    answer = client.post(INFER, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert message in error_of(answer)
    still_serving(client, rows, expected)


def test_oversized_chunked_body_is_cut_off(client, rows, expected):
    def chunks():
        for _ in range(2 * MAX_BODY_KIB):
            yield b" " * 1024

    answer = client.post(INFER, content=chunks())
    assert answer.status_code == 413 and "sent in chunks exceeds" in error_of(answer)
    still_serving(client, rows, expected)


def test_unknown_model_is_404(client, rows, expected):
    answer = client.post("/v2/models/other/infer", json=infer_body(rows[:1]))
    assert answer.status_code == 404 and "this server serves 'rtguard'" in error_of(answer)
    assert client.post("/v2/models/rtguard/versions/9/infer", json=infer_body(rows[:1])).status_code == 404
    still_serving(client, rows, expected)


def test_concurrent_requests_share_runs_and_each_gets_its_own_rows(server, rows, expected):
    async def send_all():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(*(client.post(INFER, json=infer_body(rows[i : i + 1])) for i in range(len(rows))))

    answers = asyncio.run(send_all())
    for index, answer in enumerate(answers):
        np.testing.assert_allclose(probabilities(answer), expected[index : index + 1], atol=1e-6)
    metrics = httpx.get(f"{server.url}/metrics").text
    single_runs = _sample(metrics, 'rtguard_batch_requests_bucket{le="1.0"}')
    assert _sample(metrics, "rtguard_batch_requests_count") > single_runs, "no run carried more than one request"


def _record(row: np.ndarray, schema: FeatureSchema) -> dict:
    record = {}
    for value, feature in zip(row.tolist(), schema.features):
        if feature.kind == "categorical":
            record[feature.name] = feature.vocabulary[int(value)] if int(value) < len(feature.vocabulary) else "never-seen"
        else:
            record[feature.name] = value
    return record


def test_score_named_records(client, signed_run, rows, expected, graph_alerts):
    schema = FeatureSchema.load(signed_run / "schema.json")
    records = [_record(row, schema) for row in rows]
    categorical = next(f.name for f in schema.features if f.kind == "categorical")
    records[0][categorical] = "protocol-from-the-future"
    answer = client.post("/v2/models/rtguard/score", json={"records": records})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results[0]["out_of_vocabulary"] == [categorical]
    for result, row, alert in zip(results[1:], expected[1:], graph_alerts[1:]):
        assert result["class"] == schema.classes[int(row.argmax())]
        np.testing.assert_allclose([result["scores"][name] for name in schema.classes], row, atol=1e-6)
        assert result["alert"] == alert
    numeric = next(f.name for f in schema.features if f.kind != "categorical")
    for bad, message in (
        ({"records": []}, "1 to 8192 flow records"),
        ({"records": [{k: v for k, v in records[1].items() if k != numeric}]}, f"record 0: missing ['{numeric}']"),
        ({"records": [{**records[1], "src_ip": "10.0.0.1"}]}, "unknown fields ['src_ip']"),
        ({"records": [{**records[1], numeric: "many"}]}, f"feature {numeric!r} takes a number, not str"),
        ({"records": [{**records[1], categorical: 1.5}]}, f"categorical feature {categorical!r} takes a string, not float"),
    ):
        refused = client.post("/v2/models/rtguard/score", json=bad)
        assert refused.status_code == 400 and message in error_of(refused), refused.text
    still_serving(client, rows, expected)


def test_metrics_count_requests_batches_refusals_and_the_model(client, rows):
    client.post(INFER, content=b"{")
    metrics = client.get("/metrics").text
    assert 'rtguard_requests_total{endpoint="infer",status="200"}' in metrics
    assert 'rtguard_request_seconds_bucket{endpoint="infer",le="0.001"}' in metrics
    assert _sample(metrics, "rtguard_batch_rows_count") >= 1
    assert _sample(metrics, 'rtguard_rejected_requests_total{reason="bad_request"}') >= 1
    assert 'rtguard_model_info{model="rtguard",run="run",variant="onnx-fp32",version="1"} 1.0' in metrics


def _sample(metrics: str, name: str) -> float:
    return next(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + " "))


def test_a_keyless_loopback_server_refuses_reload_and_cross_site_requests(client, rows, expected):
    """Adversarial finding: a keyless loopback server accepted a text/plain POST .../load with Host: evil.example."""
    load = "/v2/repository/models/rtguard/load"
    cross_site = client.post(load, content=b'{"parameters": {"variant": "int8-dynamic"}}',
                             headers={"Content-Type": "text/plain", "Host": "evil.example"})
    assert cross_site.status_code == 421 and "Host 'evil.example' is not a name this server listens as" in error_of(cross_site)
    keyless = client.post(load, json={"parameters": {"variant": "int8-dynamic"}})
    assert keyless.status_code == 403 and "needs an admin key and this server has none" in error_of(keyless)
    still_serving(client, rows, expected)


def test_a_client_that_disconnects_is_counted_as_such_not_as_a_failure(server, client, rows, expected):
    """Adversarial finding: disconnects were logged as "unexpected failure" with a traceback and counted as 500s."""
    import socket
    import time

    body = json.dumps(infer_body(rows[:1])).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall((f"POST {INFER} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:10])
        time.sleep(0.3)
    for _ in range(100):
        metrics = client.get("/metrics").text
        if "rtguard_client_disconnects_total 1.0" in metrics:
            break
        time.sleep(0.05)
    assert "rtguard_client_disconnects_total 1.0" in metrics
    assert 'status="500"' not in metrics and "unexpected failure" not in server.log.read_text()
    still_serving(client, rows, expected)


def test_clipping_is_reported_to_the_client(client, signed_run, rows):
    """Adversarial finding: the service clipped out-of-range inputs without telling the client."""
    schema = FeatureSchema.load(signed_run / "schema.json")
    column = next(i for i, f in enumerate(schema.features) if f.kind != "categorical")
    far = rows[:3].copy()
    far[1, column] = schema.features[column].maximum * 1000 + 1
    answer = client.post(INFER, json=infer_body(far))
    assert answer.status_code == 200 and answer.json()["parameters"] == {"clipped": 1}
    assert "parameters" not in client.post(INFER, json=infer_body(rows[:3])).json()
    records = [{f.name: (f.vocabulary[0] if f.kind == "categorical" else float(f.minimum)) for f in schema.features} for _ in range(2)]
    records[0][schema.features[column].name] = schema.features[column].maximum * 1000 + 1
    scored = client.post("/v2/models/rtguard/score", json={"records": records}).json()
    assert scored["parameters"] == {"clipped": 1} and scored["results"][0]["clipped"] is True and "clipped" not in scored["results"][1]


def test_non_finite_values_follow_the_training_rule_and_are_reported(client, rows):
    """NaN and infinity are imputed with the training median, as in training (data.non_finite), and counted in the answer."""
    one = rows[:1]
    nan_row, inf_row, big_row = one.copy(), one.copy(), one.astype(np.float64)
    nan_row[0, 3], inf_row[0, 3], big_row[0, 3] = np.nan, np.inf, 1e39
    answers = [client.post(INFER, content=body, headers=headers) for body, headers in
               (_binary(nan_row), _binary(inf_row), _json(infer_body(big_row)))]
    assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
    assert [answer.json()["parameters"] for answer in answers] == [{"imputed": 1}] * 3
    assert np.array_equal(probabilities(answers[0]), probabilities(answers[1]))
