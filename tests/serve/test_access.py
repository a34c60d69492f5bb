"""Access control against a real HTTPS server: API keys, per-client rate limits, TLS, keys never logged;
and the configurations the server refuses to start with."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys

import httpx
import pytest
from serving import Server, error_of, infer_body, sample_rows

from rtguard.errors import ConfigError
from rtguard.serve.access import ApiKeys, RateLimiter

KEYS = {"alice": "alice-0123456789abcdef", "bob": "bob-0123456789abcdef", "carol": "carol-0123456789abcdef"}
BURST = 5
INFER = "/v2/models/rtguard/infer"


def _self_signed(folder) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("access")


@pytest.fixture(scope="module")
def keys_file(folder):
    path = folder / "keys.txt"
    path.write_text("# name:token\n" + "".join(f"{name}:{token}\n" for name, token in KEYS.items()))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def tls(folder):
    return _self_signed(folder)


@pytest.fixture(scope="module")
def trusting(tls) -> ssl.SSLContext:
    """A client context that trusts the test's self-signed certificate."""
    return ssl.create_default_context(cafile=str(tls[0]))


@pytest.fixture(scope="module")
def server(signed_run, serve_keys, folder, keys_file, admin_key, tls, trusting):
    settings = {"serve": {"api_keys_file": str(keys_file), "admin_keys_file": str(admin_key[0]), "rate_limit_per_s": 0.5, "rate_limit_burst": BURST,
                          "tls_certfile": str(tls[0]), "tls_keyfile": str(tls[1])}}
    server = Server(signed_run, serve_keys[1], folder, settings, scheme="https").wait_ready(verify=trusting)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rows(signed_run):
    return sample_rows(signed_run, 2)


def post(server, trusting, rows, **headers) -> httpx.Response:
    return httpx.post(server.url + INFER, json=infer_body(rows), headers=headers, verify=trusting, timeout=30)


def test_health_probes_need_no_key_but_everything_else_does(server, trusting, rows):
    assert httpx.get(server.url + "/v2/health/live", verify=trusting).status_code == 200
    for path in ("/v2", "/v2/models/rtguard", "/metrics"):
        assert httpx.get(server.url + path, verify=trusting).status_code == 401, path
    missing = post(server, trusting, rows)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "no API key" in error_of(missing)
    wrong = post(server, trusting, rows, authorization="Bearer alice-0123456789abcdeX")
    assert wrong.status_code == 401 and "a wrong API key" in error_of(wrong)
    assert post(server, trusting, rows, authorization=f"Bearer {KEYS['alice']}").status_code == 200
    assert post(server, trusting, rows, **{"x-api-key": KEYS["bob"]}).status_code == 200


def test_only_an_admin_key_reloads(server, trusting, admin_key):
    """Adversarial finding: any API key could hot-reload; the repository API takes admin keys only."""
    load = server.url + "/v2/repository/models/rtguard/load"
    scoring = httpx.post(load, json={}, headers={"authorization": f"Bearer {KEYS['carol']}"}, verify=trusting, timeout=30)
    assert scoring.status_code == 403 and "a scoring API key cannot use the repository API (hot reload): it needs an admin key" in error_of(scoring)
    admin = httpx.post(load, json={}, headers={"authorization": f"Bearer {admin_key[1]}"}, verify=trusting, timeout=60)
    assert admin.status_code == 200 and admin.json()["model_version"] == "2"


def test_an_admin_key_must_not_also_be_a_scoring_key(signed_run, serve_keys, keys_file, tmp_path):
    shared = tmp_path / "admin.keys"
    shared.write_text(f"ops:{KEYS['alice']}\n")
    shared.chmod(0o600)
    result = subprocess.run([sys.executable, "-m", "rtguard.cli", "serve", str(signed_run), "--variant", "onnx-fp32", "--pub", str(serve_keys[1]),
                             "--api-keys", str(keys_file), "--admin-keys", str(shared), "--port", "1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "an admin key is also a scoring API key" in " ".join(result.stderr.split())


def test_tritonclient_over_tls_with_a_bearer_token(server, tls, rows):
    http = pytest.importorskip("tritonclient.http")
    client = http.InferenceServerClient(server.url.removeprefix("https://"), ssl=True, ssl_options={"ca_certs": str(tls[0])})
    tensor = http.InferInput("features", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer("rtguard", [tensor], headers={"Authorization": f"Bearer {KEYS['bob']}"})
    assert result.as_numpy("probabilities").shape == (2, 5)
    with pytest.raises(Exception, match="no API key"):
        client.infer("rtguard", [tensor])
    client.close()


def test_plain_http_gets_no_answer_from_the_tls_port(server, rows):
    with pytest.raises(httpx.TransportError):
        httpx.post(server.url.replace("https://", "http://") + INFER, json=infer_body(rows), timeout=5)


def test_rate_limit_is_per_client(server, trusting, rows):
    answers = [post(server, trusting, rows, authorization=f"Bearer {KEYS['carol']}") for _ in range(BURST + 3)]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert len(limited) >= 3 and int(limited[0].headers["retry-after"]) >= 1
    assert "too many requests from 'carol'" in error_of(limited[0])
    assert post(server, trusting, rows, authorization=f"Bearer {KEYS['alice']}").status_code == 200


def test_keys_never_reach_the_log_but_their_names_do(server, trusting, rows):
    post(server, trusting, rows, authorization=f"Bearer {KEYS['alice']}")
    log = server.log.read_text()
    assert '"client":"alice"' in log and '"api_keys":["alice","bob","carol"]' in log
    assert not any(token in log for token in KEYS.values())


def test_key_files_must_be_private_and_keys_long(tmp_path, monkeypatch):
    path = tmp_path / "keys.txt"
    path.write_text("team:0123456789abcdef0123\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        ApiKeys.load(path, "RTGUARD_TEST_KEYS")
    path.chmod(0o600)
    assert ApiKeys.load(path, "RTGUARD_TEST_KEYS").identify("0123456789abcdef0123") == "team"
    monkeypatch.setenv("RTGUARD_TEST_KEYS", "short")
    with pytest.raises(ConfigError, match="shorter than 16 characters"):
        ApiKeys.load(None, "RTGUARD_TEST_KEYS")
    monkeypatch.setenv("RTGUARD_TEST_KEYS", "ci:abcdefghijklmnopqrstuvwxyz, bare-token-0123456789")
    keys = ApiKeys.load(None, "RTGUARD_TEST_KEYS")
    assert keys.names == ["ci", "key-2"] and keys.identify("bare-token-0123456789") == "key-2" and keys.identify("nope") is None


def test_token_bucket():
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.retry_after("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.retry_after("a") == pytest.approx(0.5) and limiter.retry_after("b") == 0.0
    now[0] = 0.5
    assert limiter.retry_after("a") == 0.0


def test_refuses_to_expose_itself_without_keys(signed_run, serve_keys):
    """Binding beyond loopback with no keys is a configuration error before any port opens."""
    environment = {key: value for key, value in os.environ.items() if key != "RTGUARD_API_KEYS"}
    result = subprocess.run([sys.executable, "-m", "rtguard.cli", "serve", str(signed_run), "--variant", "onnx-fp32",
                             "--pub", str(serve_keys[1]), "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 2 and "refusing to serve 0.0.0.0 without API keys" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr



def test_allowed_hosts_are_the_names_the_server_listens_as():
    from rtguard.serve.access import AllowedHosts

    loopback = AllowedHosts("127.0.0.1", 8000, [])
    assert all(loopback.allows(host) for host in (b"127.0.0.1:8000", b"localhost:8000", b"[::1]:8000", b"127.0.0.1"))
    assert not any(loopback.allows(host) for host in (b"evil.example", b"evil.example:8000", b"127.0.0.1:9999", b"", None))
    anywhere = AllowedHosts("0.0.0.0", 443, ["ids.example.org"])
    assert anywhere.allows(b"10.1.2.3:443") and anywhere.allows(b"IDS.example.org") and not anywhere.allows(b"rebind.example")
    assert AllowedHosts("127.0.0.1", 0, []).allows(b"127.0.0.1:41234")  # port 0: the system picked one
