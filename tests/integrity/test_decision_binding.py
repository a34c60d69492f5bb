"""Attacks around the signature, as a writer of the run folder (not the key holder) would try them:
each is refused with its own one-line reason."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from rtguard.config import RuntimeConfig
from rtguard.integrity import (
    SELECTION_SIGNATURE,
    SignatureError,
    UnsafeFileError,
    chosen_name,
    next_release,
    read_selection,
    sign_all,
    sign_variant,
    verify_variant,
)
from rtguard.runtime import Trust, load_session

CAP = 64 << 20


def test_release_numbers_only_grow_with_each_signing(keys, tmp_path):
    key = tmp_path / "k.key"
    shutil.copyfile(keys[0], key)
    key.chmod(0o600)
    assert [next_release(key) for _ in range(3)] == [1, 2, 3]
    assert (tmp_path / "k.key.release").read_text() == "3\n" and (tmp_path / "k.key.release").stat().st_mode & 0o077 == 0


def test_a_signed_variant_loads_only_under_its_name_and_in_its_run(run_copy, keys):
    sign_all(run_copy, keys[0])
    variants = run_copy / "variants"
    renamed = shutil.copytree(variants / "int8-static", variants / "onnx-fp32-again")
    with pytest.raises(SignatureError, match="was signed as variant 'int8-static', not 'onnx-fp32-again': a signed variant loads only"):
        load_session(renamed, Trust(keys[1]), RuntimeConfig())
    moved = shutil.copytree(run_copy, run_copy.parent / "elsewhere")
    with pytest.raises(SignatureError, match="was signed in run 'run', not 'elsewhere': a signed variant loads only from the run"):
        load_session(moved / "variants" / "int8-static", Trust(keys[1]), RuntimeConfig())


def test_the_decision_is_signed_and_chosen_is_a_name_never_a_path(run_copy, keys):
    sign_all(run_copy, keys[0])
    assert (run_copy / SELECTION_SIGNATURE).is_file()
    chosen = chosen_name(run_copy, keys[1])
    assert read_selection(run_copy, keys[1])["run"] == "run" and (run_copy / "variants" / chosen).is_dir()
    selection = json.loads((run_copy / "selection.json").read_text())
    # Editing the decision (a variant that failed the policy, or a path out of the run) breaks its signature.
    for edited in ("int8-dynamic", "../../elsewhere/variants/onnx-fp32"):
        (run_copy / "selection.json").write_text(json.dumps({**selection, "chosen": edited}, indent=2) + "\n")
        with pytest.raises(SignatureError, match="selection.json does not verify against .*: selection.json was modified since it was signed"):
            chosen_name(run_copy, keys[1])
    # Even a signed decision is only a name: a path is refused before any folder is opened.
    (run_copy / "selection.json").write_text(json.dumps({"chosen": "../../elsewhere/variants/onnx-fp32"}))
    sign_all(run_copy, keys[0])
    with pytest.raises(SignatureError, match=r"chosen '\.\./\.\./elsewhere/variants/onnx-fp32' is not a variant name"):
        chosen_name(run_copy, keys[1])
    # A signed decision copied into another run is that other run's no more.
    moved = shutil.copytree(run_copy, run_copy.parent / "other-run")
    with pytest.raises(SignatureError, match="was signed for run 'run', not 'other-run'"):
        chosen_name(moved, keys[1])
    (run_copy / SELECTION_SIGNATURE).unlink()
    with pytest.raises(SignatureError, match="selection.json is not signed"):
        chosen_name(run_copy, keys[1])


@pytest.mark.parametrize("name", [".git", ".github", ".gitignore"])
def test_a_variant_holding_what_model_signing_ignores_is_refused_not_ignored(variant, keys, name):
    """Adversarial finding: an unsigned .git/ inside a variant was skipped while verify said "every file matches"."""
    sign_all(variant, keys[0])
    extra = variant / name
    if name == ".gitignore":
        extra.write_text("*\n")
    else:
        extra.mkdir()
        (extra / "config").write_text("[core]\n")
    message = f"holds {name}, which model signing leaves out of every signature: rtguard signs and loads only folders whose every file is signed"
    with pytest.raises(UnsafeFileError, match=message):
        verify_variant(variant, keys[1], CAP)
    with pytest.raises(UnsafeFileError, match=message):
        sign_variant(variant, keys[0])


def test_a_fifo_in_an_unsigned_variant_is_refused_without_waiting_for_a_writer(variant):
    """Adversarial finding: a FIFO at schema.json (unsigned mode) hung score, serve and every later reload."""
    (variant / "schema.json").unlink()
    os.mkfifo(variant / "schema.json")
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the load waited on the FIFO"))
    signal.alarm(20)
    try:
        with pytest.raises(UnsafeFileError, match="schema.json is not a regular file"):
            load_session(variant, Trust(allow_unsigned=True), RuntimeConfig())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_verified_load_knows_its_signed_release(variant, keys):
    sign_all(variant, keys[0])
    with load_session(variant, Trust(keys[1]), RuntimeConfig()) as session:
        assert session.release == json.loads((variant / "release.json").read_text())["release"]


def test_a_folder_named_on_its_own_keeps_its_record_but_no_name_binding(variant, keys, tmp_path):
    """A Triton version folder ("1") holds a verified variant: `rtguard verify` still works on it."""
    sign_all(variant, keys[0])
    version = shutil.copytree(variant, tmp_path / "triton" / "rtguard" / "1")
    with load_session(version, Trust(keys[1]), RuntimeConfig()) as session:
        assert session.release == json.loads((version / "release.json").read_text())["release"]
