"""Hot reload against a real server: signed candidates swap in, bad ones are refused while the
old model keeps serving, and requests in flight during swaps all succeed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading

import httpx
import numpy as np
import pytest
from serving import OTHER, SERVED, Server, error_of, infer_body, probabilities, sample_rows

from rtguard.integrity import sign_all, sign_selection, sign_variant

LOAD = "/v2/repository/models/rtguard/load"
INFER = "/v2/models/rtguard/infer"


@pytest.fixture(scope="module")
def repository(signed_run, serve_keys):
    """Besides the two signed variants: an unsigned one, a tampered one, one with another input contract, and a second run."""
    variants = signed_run / "variants"
    shutil.copytree(variants / SERVED, variants / "unsigned", ignore=shutil.ignore_patterns("model.sig"))
    shutil.copytree(variants / SERVED, variants / "tampered")
    metrics = json.loads((variants / "tampered" / "metrics.json").read_text())
    (variants / "tampered" / "metrics.json").write_text(json.dumps({**metrics, "accuracy": 1.0}))
    shutil.copytree(variants / SERVED, variants / "renamed", ignore=shutil.ignore_patterns("model.sig"))
    schema = json.loads((variants / "renamed" / "schema.json").read_text())
    schema["features"][0]["name"] = "proto"
    (variants / "renamed" / "schema.json").write_text(json.dumps(schema))
    sign_variant(variants / "renamed", serve_keys[0])  # as is: sign_all would copy the run's schema back in
    release = json.loads((variants / SERVED / "release.json").read_text())["release"]
    second = shutil.copytree(signed_run, signed_run.parent / "next-run")
    (second / "selection.json").write_text(json.dumps({"chosen": OTHER}))
    sign_all(second / "variants" / OTHER, serve_keys[0], release=release)  # the same release, re-signed in its own run
    sign_selection(second, serve_keys[0], release)
    # The adversarial findings, as a writer of the run folders (not the key holder) would try them:
    shutil.copytree(variants / OTHER, variants / "swapped")  # a signed variant under another name
    shutil.copytree(signed_run, signed_run.parent / "moved")  # a signed run under another name
    edited = shutil.copytree(signed_run, signed_run.parent / "edited")  # its decision edited after signing
    (edited / "selection.json").write_text((edited / "selection.json").read_text().replace('"chosen": "', '"chosen": "x'))
    escaping = shutil.copytree(second, signed_run.parent / "escaping")  # a decision naming a path (signed, even)
    (escaping / "selection.json").write_text(json.dumps({"chosen": "../run/variants/onnx-fp32"}))
    sign_selection(escaping, serve_keys[0], release)
    dependent = shutil.copytree(variants / SERVED, variants / "dependent")  # measured batch-dependent, signed as such
    metrics = json.loads((dependent / "metrics.json").read_text())
    (dependent / "metrics.json").write_text(json.dumps({**metrics, "batch_dependence": 0.5}))
    sign_variant(dependent, serve_keys[0], release=release)
    return signed_run


@pytest.fixture(scope="module")
def server(repository, serve_keys, admin_key, tmp_path_factory):
    settings = {"serve": {"admin_keys_file": str(admin_key[0])}}
    server = Server(repository, serve_keys[1], tmp_path_factory.mktemp("reload"), settings).wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server, admin_key):
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {admin_key[1]}"}) as client:
        yield client


def version(client) -> str:
    return client.get("/v2/models/rtguard").json()["versions"][0]


def answers(client, rows) -> tuple[str, np.ndarray]:
    answer = client.post(INFER, json=infer_body(rows))
    assert answer.status_code == 200, answer.text
    return answer.json()["model_version"], probabilities(answer)


def test_reload_swaps_in_a_signed_variant(client, repository):
    rows = sample_rows(repository)
    before_version, before = answers(client, rows)
    loaded = client.post(LOAD, json={"parameters": {"variant": OTHER}})
    assert loaded.status_code == 200, loaded.text
    assert loaded.json() == {"model_name": "rtguard", "model_version": str(int(before_version) + 1), "run": "run", "variant": OTHER}
    after_version, after = answers(client, rows)
    assert after_version == loaded.json()["model_version"] and not np.array_equal(before, after)  # INT8 answers a little differently
    metrics = client.get("/metrics").text
    assert f'variant="{OTHER}",version="{after_version}"}} 1.0' in metrics and f'version="{before_version}"}}' not in metrics


@pytest.mark.parametrize("parameters, status, message", [
    ({"variant": "unsigned"}, 400, "is not signed"),
    ({"variant": "tampered"}, 400, "metrics.json was modified"),
    ({"variant": "renamed"}, 400, "a hot reload keeps the contract clients rely on"),
    ({"variant": "missing"}, 400, "no variant 'missing'"),
    ({"variant": "../run/variants/onnx-fp32"}, 400, "must be the name of a folder"),
    ({"run": "nowhere"}, 400, "has no selection.json"),
    ({"run": "edited"}, 400, "selection.json does not verify"),
    ({"run": "escaping"}, 400, "is not a variant name"),
    ({"run": "moved"}, 400, "selection.json was signed for run 'run', not 'moved'"),
    ({"run": "moved", "variant": SERVED}, 400, "was signed in run 'run', not 'moved'"),
    ({"variant": "swapped"}, 400, "was signed as variant 'int8-dynamic', not 'swapped'"),
    ({"config": "{}"}, 400, "unknown load parameters ['config']"),
])
def test_a_bad_candidate_is_refused_and_the_old_model_keeps_serving(client, repository, parameters, status, message):
    rows = sample_rows(repository)
    serving, before = version(client), answers(client, rows)[1]
    refused = client.post(LOAD, json={"parameters": parameters})
    assert refused.status_code == status and message in error_of(refused), refused.text
    now, after = answers(client, rows)
    assert now == serving and np.array_equal(before, after)


def test_unknown_model_and_malformed_load_requests(client):
    assert client.post("/v2/repository/models/other/load", json={}).status_code == 404
    assert "is not valid JSON" in error_of(client.post(LOAD, content=b"{", headers={"Content-Type": "application/json"}))
    assert client.post(LOAD, json={"parameters": []}).status_code == 400


def test_reload_by_run_uses_its_selection_and_tritonclient_reloads_the_same(server, client):
    loaded = client.post(LOAD, json={"parameters": {"run": "next-run"}})
    assert loaded.status_code == 200 and loaded.json()["run"] == "next-run" and loaded.json()["variant"] == OTHER
    http = pytest.importorskip("tritonclient.http")
    triton = http.InferenceServerClient(server.url.removeprefix("http://"))
    triton.load_model("rtguard", headers={**client.headers, "Content-Type": "application/json"})  # the served variant, verified again
    version = str(int(loaded.json()["model_version"]) + 1)
    assert triton.get_model_repository_index(headers=dict(client.headers)) == [{"name": "rtguard", "version": version, "state": "READY"}]
    triton.close()


def test_no_request_fails_during_swaps(server, client, repository):
    rows = sample_rows(repository, 4)
    statuses, versions = [], set()

    def load_traffic():
        with httpx.Client(base_url=server.url, timeout=60) as own:
            for _ in range(150):
                answer = own.post(INFER, json=infer_body(rows))
                statuses.append(answer.status_code)
                versions.add(answer.json().get("model_version"))

    senders = [threading.Thread(target=load_traffic) for _ in range(3)]
    for sender in senders:
        sender.start()
    for _ in range(600):  # swap while the traffic flows
        if len(statuses) >= 20:
            break
        threading.Event().wait(0.05)
    reloads = [client.post(LOAD, json={"parameters": {"run": "run", "variant": name}}).status_code
               for name in (SERVED, OTHER, SERVED, OTHER)]
    for sender in senders:
        sender.join(120)
    assert reloads == [200] * 4
    assert statuses == [200] * 450 and len(versions) >= 2


def test_reload_needs_an_admin_key_json_and_a_host_the_server_listens_as(server, client, repository):
    """Adversarial finding: a keyless loopback server reloaded on a text/plain POST naming Host: evil.example."""
    serving = version(client)
    body = json.dumps({"parameters": {"variant": OTHER}})
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        refused = anonymous.post(LOAD, content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 401 and "no admin key: the repository API needs" in error_of(refused)
    cross_site = client.post(LOAD, content=body, headers={"Content-Type": "text/plain"})
    assert cross_site.status_code == 415 and "takes Content-Type application/json, not 'text/plain'" in error_of(cross_site)
    rebound = client.post(LOAD, content=body, headers={"Content-Type": "application/json", "Host": "evil.example"})
    assert rebound.status_code == 421 and "Host 'evil.example' is not a name this server listens as" in error_of(rebound)
    assert version(client) == serving


def test_requests_for_a_batch_dependent_variant_are_never_coalesced(server, client, repository):
    """Adversarial finding: int8-dynamic's verdicts depended on the rows micro-batched with them."""
    assert client.post(LOAD, json={"parameters": {"variant": "dependent"}}).status_code == 200
    assert '"message":"not coalescing requests: the variant\'s verdicts depend on the rows batched with it"' in server.log.read_text()
    assert '"batch_dependence":0.5' in server.log.read_text()
    rows = sample_rows(repository, 1)

    def runs_and_requests() -> tuple[float, float]:
        lines = dict(line.rsplit(" ", 1) for line in client.get("/metrics").text.splitlines() if line.startswith("rtguard_batch_requests_"))
        return float(lines["rtguard_batch_requests_count"]), float(lines["rtguard_batch_requests_sum"])

    before = runs_and_requests()
    with httpx.Client(base_url=server.url, timeout=60) as own:
        threads = [threading.Thread(target=lambda: own.post(INFER, json=infer_body(rows))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    runs, requests = (after - first for after, first in zip(runs_and_requests(), before))
    assert runs == requests == 8  # one run per request: none shared a run with another client's rows
    assert client.post(LOAD, json={"parameters": {"variant": SERVED}}).status_code == 200


def test_an_older_release_is_refused_unless_the_admin_overrides(server, client, repository, serve_keys):
    """Adversarial finding: `{"run": "<older run>"}` swapped an older signed variant back in."""
    newer = shutil.copytree(repository, repository.parent / "newer-run", ignore=shutil.ignore_patterns("swapped", "renamed", "tampered", "unsigned"))
    signatures = sign_all(newer, serve_keys[0])  # a later signing: a higher release
    release = json.loads((newer / "variants" / OTHER / "release.json").read_text())["release"]
    assert signatures and client.post(LOAD, json={"parameters": {"run": "newer-run", "variant": OTHER}}).status_code == 200
    older = json.loads((repository / "variants" / SERVED / "release.json").read_text())["release"]
    refused = client.post(LOAD, json={"parameters": {"run": "run", "variant": SERVED}})
    assert refused.status_code == 400 and (
        f"refusing run/{SERVED}: it is release {older}, older than release {release} this server has already served as 'rtguard' "
        "(a rollback); pass allow_rollback") in error_of(refused)
    allowed = client.post(LOAD, json={"parameters": {"run": "run", "variant": SERVED, "allow_rollback": True}})
    assert allowed.status_code == 200 and allowed.json()["variant"] == SERVED
    # The state outlives the process: a server started again on the same config refuses the older release.
    config = next(server.log.parent.glob(f"serve-{server.port}.toml"))
    assert json.loads(config.with_name(config.name + ".releases.json").read_text()) == {"highest_release": {"rtguard": release}}
    again = subprocess.run([sys.executable, "-m", "rtguard.cli", "serve", str(repository), "--variant", SERVED, "--pub", str(serve_keys[1]),
                            "--port", "1", "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and f"it is release {older}, older than release {release}" in again.stderr
