"""Sign a variant folder with OpenSSF model signing and verify it, fully offline.

The signature covers every file of the folder (model.onnx, external data, schema.json,
variant.json, metrics.json), so a report's claims are bound to the exact bytes they
describe. It sits in the folder as `model.sig`, a path the signature itself leaves out,
so the folder stays one unit to copy and deploy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rtguard.integrity.errors import SignatureError
from rtguard.integrity.files import UNSIGNED_NAMES, private_copy, read_regular, regular_files
from rtguard.integrity.keys import check_private_key, check_public_key
from rtguard.integrity.release import next_release, write_release

SIGNATURE_NAME = "model.sig"
SIGNED_FILES = ("model.onnx", "schema.json", "variant.json", "metrics.json")
MAX_SIGNATURE_BYTES = 4 * 1024 * 1024
MAX_SIGNED_FILE_BYTES = 16 * 1024 * 1024  # a single signed file: a run's selection.json


def sign_variant(folder: Path, private_key: Path, signature: Path | None = None, release: int | None = None,
                 run: str | None = None) -> Path:
    """Sign every file in `folder`, release.json (run, name, release number) included; returns the signature's path."""
    folder = _existing_folder(folder)
    check_private_key(private_key)
    missing = [name for name in SIGNED_FILES if not (folder / name).is_file()]
    if missing:
        raise SignatureError(
            f"{folder} lacks {', '.join(missing)}: a signature must bind the model to its schema, recipe and "
            "measured metrics, so sign after `rtguard evaluate`"
        )
    signature = Path(signature) if signature else folder / SIGNATURE_NAME
    partial = _partial(signature)
    partial.unlink(missing_ok=True)
    left_out = _inside(folder, signature, partial)
    list(regular_files(folder, skip=frozenset(left_out)))  # refuse links and special files before signing
    write_release(folder, release if release is not None else next_release(private_key), run)
    _sign(folder, private_key, partial, left_out)
    os.replace(partial, signature)
    return signature


def sign_file(path: Path, private_key: Path, signature: Path) -> Path:
    """Sign one regular file (a run's selection.json) into `signature`, outside the file's own bytes."""
    check_private_key(private_key)
    read_regular(Path(path), MAX_SIGNED_FILE_BYTES)  # refuse links, special files, oversized files
    partial = _partial(Path(signature))
    partial.unlink(missing_ok=True)
    _sign(Path(path), private_key, partial, [])
    os.replace(partial, signature)
    return Path(signature)


def verified_file(path: Path, public_key: Path, signature: Path) -> bytes:
    """The bytes of one file, verified against its signature: a private copy is read, verified and returned."""
    path, signature = Path(path), Path(signature)
    check_public_key(public_key)
    if not signature.is_file():
        raise SignatureError(f"{path} is not signed ({signature} not found): sign the run with `rtguard sign RUN --key KEY`")
    data = read_regular(path, MAX_SIGNED_FILE_BYTES)
    signature_bytes = read_regular(signature, MAX_SIGNATURE_BYTES)
    scratch = Path(tempfile.mkdtemp(prefix="rtguard-verified-"))  # mode 0700
    try:
        copy, copied_signature = scratch / path.name, scratch / SIGNATURE_NAME
        copy.write_bytes(data)
        copied_signature.write_bytes(signature_bytes)
        _verify(copy, public_key, copied_signature, shown=path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return data


def _sign(path: Path, private_key: Path, partial: Path, left_out: list[str]) -> None:
    from model_signing import hashing, signing  # heavy (sigstore); only when signing

    hashing_config = hashing.Config().set_ignored_paths(paths=left_out)
    signer = signing.Config().use_elliptic_key_signer(private_key=private_key).set_hashing_config(hashing_config)
    signer.sign(path, partial)


@contextmanager
def verified_copy(folder: Path, public_key: Path, max_bytes: int, signature: Path | None = None) -> Iterator[Path]:
    """A private copy of `folder` whose every file the signature covers, for as long as the block runs.

    Verifying a copy only this process can write, and loading that same copy, leaves
    no moment where the folder could change between the check and the load.
    """
    folder = _existing_folder(folder)
    check_public_key(public_key)
    signature = Path(signature) if signature else folder / SIGNATURE_NAME
    if not signature.is_file():
        raise SignatureError(f"{folder} is not signed ({signature} not found): sign it with `rtguard sign {folder} --key KEY`")
    signature_bytes = read_regular(signature, MAX_SIGNATURE_BYTES)
    own_names = frozenset(_inside(folder, signature, _partial(signature)))
    with private_copy(folder, max_bytes, skip=own_names) as copy:
        copied_signature = copy.parent / SIGNATURE_NAME
        copied_signature.write_bytes(signature_bytes)
        _verify(copy, public_key, copied_signature, shown=folder)
        left_out = _ignored_paths(copied_signature) - own_names - UNSIGNED_NAMES
        if left_out:
            raise SignatureError(
                f"{folder}: its signature leaves out {', '.join(sorted(left_out))}; rtguard loads only folders signed in full"
            )
        yield copy


def verify_variant(folder: Path, public_key: Path, max_bytes: int, signature: Path | None = None) -> None:
    """Raise SignatureError unless `folder` matches its signature made with the key of `public_key`."""
    with verified_copy(folder, public_key, max_bytes, signature):
        pass


def _verify(copy: Path, public_key: Path, signature: Path, shown: Path) -> None:
    from model_signing import verifying  # heavy (sigstore); only when verifying

    try:
        verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(copy, signature)
    except Exception as exc:
        # The library checks the signed statement first: a "Signature mismatch" means
        # the statement is authentic and the files are what differs from it.
        reason = _differences(copy, signature) if str(exc).startswith("Signature mismatch") else _reason(exc)
        raise SignatureError(f"{shown} does not verify against {public_key}: {reason}") from None


def _reason(exc: Exception) -> str:
    if "Key mismatch" in str(exc):
        return "it was signed with a different key"
    if type(exc).__name__ == "InvalidSignature":
        return "the signature is not valid for this key (the signature or its payload was altered)"
    return f"the signature file is unreadable or malformed ({type(exc).__name__}: {exc or 'no detail'})"


def _differences(copy: Path, signature: Path) -> str:
    """Which files were added, removed or modified since signing, in words."""
    if copy.is_file():
        return f"{copy.name} was modified since it was signed"
    predicate = _statement(signature)["predicate"]
    if predicate["serialization"] != {**predicate["serialization"], "method": "files", "hash_type": "sha256"}:
        return "the files differ from the signed manifest"  # not a manifest of whole-file SHA-256s, as rtguard writes
    signed = {item["name"]: item["digest"] for item in predicate["resources"]}
    present = {str(relative): hashlib.sha256((copy / relative).read_bytes()).hexdigest() for relative in regular_files(copy)}
    changes = [f"{name} was modified" for name in sorted(signed.keys() & present.keys()) if signed[name] != present[name]]
    changes += [f"{name} is missing" for name in sorted(signed.keys() - present.keys())]
    changes += [f"{name} was added" for name in sorted(present.keys() - signed.keys())]
    return "; ".join(changes) or "the files differ from the signed manifest"


def _statement(signature: Path) -> dict:
    """The in-toto statement a signature bundle carries (its DSSE payload)."""
    bundle = json.loads(signature.read_bytes())
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def _ignored_paths(signature: Path) -> set[str]:
    """Paths the (already verified) signed statement says were left out of the signature."""
    return set(_statement(signature)["predicate"]["serialization"].get("ignore_paths", []))


def _partial(signature: Path) -> Path:
    """Where a signature is written before it is renamed into place."""
    return signature.with_name(f".{signature.name}.partial")


def _inside(folder: Path, *paths: Path) -> list[str]:
    """The given paths relative to `folder`, for those inside it."""
    root = folder.resolve()
    return [str(path.resolve().relative_to(root)) for path in paths if path.resolve().is_relative_to(root)]


def _existing_folder(folder: Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise SignatureError(f"{folder} is not a folder: pass a variant folder such as runs/<run>/variants/<variant>")
    return folder
