"""Signatures over real variant folders: any change to any signed byte is caught and named."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from rtguard.integrity import (
    RELEASE_NAME,
    SELECTION_SIGNATURE,
    SIGNED_FILES,
    KeyFileError,
    SignatureError,
    UnsafeFileError,
    sign_all,
    sign_variant,
    verify_variant,
)

CAP = 64 << 20


def test_signing_a_run_binds_the_schema_and_covers_every_variant(run_copy, keys):
    *signatures, decision = sign_all(run_copy, keys[0])
    assert [s.parent.name for s in signatures] == sorted(p.parent.name for p in run_copy.glob("variants/*/model.onnx"))
    assert decision == run_copy / SELECTION_SIGNATURE  # the run's decision is signed with its variants
    for signature in signatures:
        variant = signature.parent
        assert (variant / "schema.json").read_bytes() == (run_copy / "schema.json").read_bytes()
        verify_variant(variant, keys[1], CAP)
        statement = json.loads(base64.b64decode(json.loads(signature.read_text())["dsseEnvelope"]["payload"]))
        assert {item["name"] for item in statement["predicate"]["resources"]} == {*SIGNED_FILES, RELEASE_NAME}
        release = json.loads((signatures[0].parent / RELEASE_NAME).read_text())["release"]  # one release for the whole run
        assert json.loads((variant / RELEASE_NAME).read_text()) == {"run": "run", "variant": variant.name, "release": release}


def test_a_variant_is_signed_only_once_its_metrics_exist(variant, keys):
    (variant / "metrics.json").unlink()
    with pytest.raises(SignatureError, match=r"lacks metrics.json: a signature must bind the model .* sign after `rtguard evaluate`"):
        sign_all(variant.parent.parent, keys[0])


def modify_a_weight_byte(variant):
    data = bytearray((variant / "model.onnx").read_bytes())
    data[-200] ^= 0x01  # initializers are stored last
    (variant / "model.onnx").write_bytes(bytes(data))


@pytest.mark.parametrize("tamper, message", [
    (modify_a_weight_byte, "model.onnx was modified"),
    (lambda v: (v / "model.onnx_data").write_bytes(b"\0" * 16), "model.onnx_data was added"),
    (lambda v: (v / "variant.json").unlink(), "variant.json is missing"),
    (lambda v: (v / "metrics.json").write_text((v / "metrics.json").read_text().replace('"accuracy": 0.', '"accuracy": 1.')), "metrics.json was modified"),
])
def test_any_change_after_signing_is_named(variant, keys, tamper, message):
    sign_all(variant, keys[0])
    tamper(variant)
    with pytest.raises(SignatureError, match=message):
        verify_variant(variant, keys[1], CAP)


def test_a_signature_made_with_an_rsa_key_is_refused(variant, keys, tmp_path):
    """A well-formed bundle whose envelope an RSA key signed: refused for its key type."""
    from model_signing._signing.sign_sigstore_pb import pae

    signature = sign_variant(variant, keys[0])
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_public = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    bundle = json.loads(signature.read_text())
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(rsa_key.sign(pae(payload), padding.PKCS1v15(), hashes.SHA256())).decode()
    bundle["verificationMaterial"]["publicKey"]["hint"] = hashlib.sha256(rsa_public).hexdigest()
    signature.write_text(json.dumps(bundle))
    (tmp_path / "rsa.pub").write_bytes(rsa_public)
    with pytest.raises(KeyFileError, match="holds a key of type RSA"):
        verify_variant(variant, tmp_path / "rsa.pub", CAP)
    with pytest.raises(SignatureError, match="it was signed with a different key"):
        verify_variant(variant, keys[1], CAP)


def test_an_altered_signature_is_refused(variant, keys):
    signature = sign_variant(variant, keys[0])
    bundle = json.loads(signature.read_text())
    raw = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    raw[-1] ^= 0x01
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    signature.write_text(json.dumps(bundle))
    with pytest.raises(SignatureError, match="not valid for this key|unreadable or malformed"):
        verify_variant(variant, keys[1], CAP)
    signature.write_text("{not json")
    with pytest.raises(SignatureError, match="unreadable or malformed"):
        verify_variant(variant, keys[1], CAP)


def test_a_signature_that_leaves_files_out_is_refused(variant, keys):
    from model_signing import hashing, signing

    (variant / "extra_weights.bin").write_bytes(b"\0" * 8)
    config = signing.Config().use_elliptic_key_signer(private_key=keys[0])
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=["model.sig", "extra_weights.bin"]))
    config.sign(variant, variant / "model.sig")
    with pytest.raises(SignatureError, match=r"its signature leaves out extra_weights.bin; rtguard loads only folders signed in full"):
        verify_variant(variant, keys[1], CAP)


def test_a_signature_can_live_outside_the_folder(variant, keys, tmp_path):
    outside = sign_variant(variant, keys[0], tmp_path / "int8-static.sig")
    assert not (variant / "model.sig").exists()
    verify_variant(variant, keys[1], CAP, signature=outside)


def test_links_and_oversized_folders_are_refused(variant, keys, tmp_path):
    (tmp_path / "secret").write_text("x")
    (variant / "secret").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafeFileError, match="secret is a symbolic link"):
        sign_variant(variant, keys[0])
    (variant / "secret").unlink()
    sign_variant(variant, keys[0])
    with pytest.raises(UnsafeFileError, match=r"over the 1,024-byte limit \(runtime.max_model_mib\)"):
        verify_variant(variant, keys[1], 1024)
