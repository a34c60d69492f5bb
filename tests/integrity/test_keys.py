"""Keys: elliptic-curve pairs written safely; every other kind of key refused by name."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from rtguard.integrity import KeyFileError, check_private_key, check_public_key, generate_keypair


def test_keygen_writes_an_owner_only_private_key_and_its_public_key(tmp_path):
    private, public = generate_keypair(tmp_path / "keys" / "signing.key", curve="p384")
    assert public.name == "signing.key.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    check_private_key(private)
    check_public_key(public)
    assert serialization.load_pem_public_key(public.read_bytes()).curve.name == "secp384r1"


def test_keygen_never_overwrites_without_being_asked(tmp_path):
    private, _ = generate_keypair(tmp_path / "k")
    before = private.read_bytes()
    with pytest.raises(KeyFileError, match="already exists: choose another path or pass --force"):
        generate_keypair(tmp_path / "k")
    generate_keypair(tmp_path / "k", overwrite=True)
    assert private.read_bytes() != before


def write_pem(path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    path.with_name(path.name + ".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


@pytest.mark.parametrize("key, message", [
    (rsa.generate_private_key(public_exponent=65537, key_size=2048), "holds a key of type RSA: rtguard signs with elliptic-curve keys"),
    (ed25519.Ed25519PrivateKey.generate(), "holds a key of type Ed25519"),
    (ec.generate_private_key(ec.SECP256K1()), "uses curve secp256k1: model signing supports secp256r1, secp384r1, secp521r1"),
])
def test_unsupported_key_types_are_refused_by_name(tmp_path, key, message):
    write_pem(tmp_path / "other.key", key)
    with pytest.raises(KeyFileError, match=message):
        check_private_key(tmp_path / "other.key")
    with pytest.raises(KeyFileError, match=message):
        check_public_key(tmp_path / "other.key.pub")


def test_unreadable_keys_are_refused_clearly(tmp_path):
    with pytest.raises(KeyFileError, match=r"private key not found: .*missing.key \(create a pair with `rtguard keygen`\)"):
        check_private_key(tmp_path / "missing.key")
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(KeyFileError, match="is not a PEM public key"):
        check_public_key(tmp_path / "junk.pub")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "locked.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")))
    (tmp_path / "locked.key").chmod(0o600)
    with pytest.raises(KeyFileError, match="is encrypted with a password"):
        check_private_key(tmp_path / "locked.key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_private_key_others_may_read_is_refused(tmp_path, mode):
    """Adversarial finding: `rtguard sign` signed with a group/world-readable key."""
    private, _ = generate_keypair(tmp_path / "shared.key")
    private.chmod(mode)
    with pytest.raises(KeyFileError, match=f"readable or writable by others \\(mode {mode:o}\\): chmod 600 it"):
        check_private_key(private)
