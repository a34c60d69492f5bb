"""Elliptic-curve key pairs for signing variants, and the checks that keep other keys out.

model-signing's key signer accepts the NIST curves of Sigstore's key specifications
only; anything else (RSA, Ed25519, secp256k1) is refused here with a message that
names the key type, before the library fails on it less clearly.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rtguard.integrity.errors import KeyFileError

CURVES = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}
SUPPORTED_CURVE_NAMES = {curve.name for curve in CURVES.values()}
MAX_KEY_BYTES = 64 * 1024


def generate_keypair(private_path: Path, curve: str = "p256", overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new private key (PEM, owner-only) and its public key beside it as `<name>.pub`."""
    private_path = Path(private_path)
    public_path = private_path.with_name(private_path.name + ".pub")
    if curve not in CURVES:
        raise KeyFileError(f"unknown curve {curve!r}: choose one of {', '.join(CURVES)}")
    if not overwrite and (private_path.exists() or public_path.exists()):
        raise KeyFileError(f"{private_path} or {public_path} already exists: choose another path or pass --force")
    key = ec.generate_private_key(CURVES[curve]())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.unlink(missing_ok=True)  # a fresh file gets the owner-only mode below
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def check_private_key(path: Path) -> None:
    """Refuse a private key rtguard cannot sign with, or one others may read (as ssh refuses such keys)."""
    _check_owner_only(Path(path))
    try:
        key = serialization.load_pem_private_key(_read_pem(path, "private"), password=None)
    except TypeError:
        raise KeyFileError(f"{path} is encrypted with a password: rtguard signs with unencrypted keys kept owner-only") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not a PEM private key: {exc}") from None
    _check_curve(path, key)


def check_public_key(path: Path) -> None:
    """Refuse a public key whose signatures rtguard does not accept."""
    try:
        key = serialization.load_pem_public_key(_read_pem(path, "public"))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not a PEM public key: {exc}") from None
    _check_curve(path, key)


def _check_owner_only(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise KeyFileError(f"private key not found: {path} (create a pair with `rtguard keygen`)") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"private key {path} is readable or writable by others (mode {stat.S_IMODE(mode):o}): "
                           "chmod 600 it, and treat it as leaked if others could read it")


def _read_pem(path: Path, kind: str) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_KEY_BYTES:
            raise KeyFileError(f"{path} is too large to be a {kind} key")
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{kind} key not found: {path} (create a pair with `rtguard keygen`)") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {kind} key {path}: {exc.strerror}") from None


def _check_curve(path: Path, key) -> None:
    curve = getattr(key, "curve", None)
    if curve is None:
        raise KeyFileError(
            f"{path} holds a key of type {_kind(key)}: rtguard signs with elliptic-curve keys "
            f"({', '.join(CURVES)}); create one with `rtguard keygen`"
        )
    if curve.name not in SUPPORTED_CURVE_NAMES:
        raise KeyFileError(f"{path} uses curve {curve.name}: model signing supports {', '.join(sorted(SUPPORTED_CURVE_NAMES))}")


def _kind(key) -> str:
    """'RSA', 'Ed25519', 'DSA'... from cryptography's class names."""
    return type(key).__name__.replace("PrivateKey", "").replace("PublicKey", "")
