"""Verified load: nothing runs unless every file matches a signature by the configured key."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from artifacts import expected, linear_model, save_external

from rtguard.config import RuntimeConfig, SigningConfig
from rtguard.errors import ConfigError
from rtguard.integrity import SignatureError, UnsafeFileError, generate_keypair, sign_variant
from rtguard.runtime import GuardedSession, ModelRejected, Trust, open_session

SETTINGS = RuntimeConfig(threads=1)


def test_a_signed_variant_opens_and_scores(signed, keys, rows):
    with open_session(signed, Trust(keys[1]), SETTINGS) as session:
        assert isinstance(session, GuardedSession) and session.name == "linear"
        np.testing.assert_allclose(session.run({"features": rows}), expected(rows), rtol=1e-5)


def test_external_data_is_verified_and_loaded_from_the_private_copy(variant, keys, rows):
    (variant / "model.onnx").unlink()
    save_external(linear_model(), variant, "weights.bin")
    sign_variant(variant, keys[0])
    with open_session(variant, Trust(keys[1]), SETTINGS) as session:
        np.testing.assert_allclose(session.run({"features": rows}), expected(rows), rtol=1e-5)
    (variant / "weights.bin").write_bytes(b"\0" * 24)
    with pytest.raises(SignatureError, match="weights.bin was modified"):
        open_session(variant, Trust(keys[1]), SETTINGS)


def test_what_runs_is_the_verified_copy_not_the_folder(signed, keys, rows):
    with open_session(signed, Trust(keys[1]), SETTINGS) as session:
        (signed / "model.onnx").write_bytes(b"replaced after verification")
        np.testing.assert_allclose(session.run({"features": rows}), expected(rows), rtol=1e-5)


def flip_a_weight_byte(folder):
    data = bytearray((folder / "model.onnx").read_bytes())
    data[data.index(np.float32(0.5).tobytes())] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))


@pytest.mark.parametrize("tamper, message", [
    (flip_a_weight_byte, "model.onnx was modified"),
    (lambda folder: (folder / "notes.txt").write_text("added later"), "notes.txt was added"),
    (lambda folder: (folder / "metrics.json").unlink(), "metrics.json is missing"),
    (lambda folder: (folder / "schema.json").write_text((folder / "schema.json").read_text().replace('"maximum": 1000', '"maximum": 9999')),
     "schema.json was modified"),
])
def test_a_tampered_variant_is_refused_and_a_loaded_one_keeps_working(signed, keys, rows, tamper, message):
    loaded = open_session(signed, Trust(keys[1]), SETTINGS)
    tamper(signed)
    with pytest.raises(SignatureError, match=f"does not verify against .*: {message}"):
        open_session(signed, Trust(keys[1]), SETTINGS)
    np.testing.assert_allclose(loaded.run({"features": rows}), expected(rows), rtol=1e-5)


def test_a_signature_by_another_key_is_refused(signed, tmp_path):
    _, other_public = generate_keypair(tmp_path / "other.key")
    with pytest.raises(SignatureError, match="it was signed with a different key"):
        open_session(signed, Trust(other_public), SETTINGS)


def test_an_unsigned_variant_is_refused(variant, keys):
    with pytest.raises(SignatureError, match=r"is not signed \(.*model.sig not found\): sign it with `rtguard sign"):
        open_session(variant, Trust(keys[1]), SETTINGS)


def test_a_link_inside_a_signed_folder_is_refused(signed, keys, tmp_path):
    (tmp_path / "elsewhere.txt").write_text("x")
    (signed / "link.txt").symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(UnsafeFileError, match="link.txt is a symbolic link"):
        open_session(signed, Trust(keys[1]), SETTINGS)


def test_loading_without_a_key_needs_the_explicit_switch_and_logs_it(variant, rows, caplog):
    with pytest.raises(ConfigError, match=r"no public key.*signing.allow_unsigned = true skips verification, for development only"):
        open_session(variant, Trust.from_config(SigningConfig()), SETTINGS)
    with caplog.at_level(logging.WARNING, logger="rtguard.runtime"):
        session = open_session(variant, Trust.from_config(SigningConfig(allow_unsigned=True)), SETTINGS)
    assert "INSECURE" in caplog.text and "WITHOUT signature verification" in caplog.text
    assert session.run({"features": rows}).shape == (3, 2)


def test_errors_inside_the_verified_copy_name_the_original_folder(signed, keys):
    (signed / "schema.json").write_text("{}")
    sign_variant(signed, keys[0])
    with pytest.raises(ModelRejected, match=f"{signed}/schema.json is not a usable schema"):
        open_session(signed, Trust(keys[1]), SETTINGS)
