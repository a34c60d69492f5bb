"""`rtguard serve` through OpenVINO: the same signed variant, the same checks, the same answers as ONNX Runtime."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from serving import SERVED, Server, error_of, infer_body, probabilities, sample_rows

from rtguard.config import RuntimeConfig
from rtguard.runtime import Trust, load_session

LOAD = "/v2/repository/models/rtguard/load"
INFER = "/v2/models/rtguard/infer"


@pytest.fixture(scope="module")
def client(signed_run, serve_keys, admin_key, tmp_path_factory):
    settings = {"serve": {"backend": "openvino", "admin_keys_file": str(admin_key[0])}}
    server = Server(signed_run, serve_keys[1], tmp_path_factory.mktemp("backends"), settings).wait_ready()
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {admin_key[1]}"}) as client:
        yield client
    server.stop()


def test_openvino_serves_the_signed_variant_with_onnx_runtimes_answers(client, signed_run, serve_keys):
    assert client.get("/v2/models/rtguard").json()["platform"] == "openvino"
    rows = sample_rows(signed_run)
    answer = client.post(INFER, json=infer_body(rows))
    assert answer.status_code == 200, answer.text
    with load_session(signed_run / "variants" / SERVED, Trust(serve_keys[1]), RuntimeConfig()) as session:
        np.testing.assert_allclose(probabilities(answer), session.run({"features": rows}), atol=1e-5)


def test_a_reload_can_switch_backend_and_a_bad_backend_is_refused(client, signed_run):
    answer = client.post(LOAD, json={"parameters": {"backend": "tensorflow"}})
    assert answer.status_code == 400 and "'backend' must be one of onnxruntime, openvino" in error_of(answer)
    assert client.post(LOAD, json={"parameters": {"backend": "onnxruntime"}}).status_code == 200
    assert client.get("/v2/models/rtguard").json()["platform"] == "onnxruntime_onnx"


def test_an_unsigned_variant_is_refused_on_openvino_too(signed_run, serve_keys, tmp_path):
    import shutil

    from rtguard.backends.serving import load_backend_session
    from rtguard.integrity.errors import IntegrityError

    unsigned = shutil.copytree(signed_run / "variants" / SERVED, tmp_path / "unsigned", ignore=shutil.ignore_patterns("model.sig"))
    with pytest.raises(IntegrityError):
        load_backend_session(unsigned, Trust(serve_keys[1]), RuntimeConfig(), "openvino")


def test_the_backend_served_is_the_one_selection_chose_for_that_variant(tmp_path):
    import json

    from rtguard.serve.models import decision

    unsigned = Trust(allow_unsigned=True)  # the selection's signature is tested in test_reload
    (tmp_path / "selection.json").write_text(json.dumps({"chosen": "int8", "backend": "openvino"}))
    assert decision(tmp_path, unsigned) == ("int8", "openvino")
    (tmp_path / "selection.json").write_text(json.dumps({"chosen": "int8"}))  # a selection from before backends
    assert decision(tmp_path, unsigned) == ("int8", None)  # None: ONNX Runtime, unless serve.backend names one
