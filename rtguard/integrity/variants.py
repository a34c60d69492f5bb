"""Variants as signable units: each carries the run's schema, so one signature binds both."""

from __future__ import annotations

from pathlib import Path

from rtguard.integrity.errors import SignatureError
from rtguard.integrity.keys import check_private_key
from rtguard.integrity.release import next_release
from rtguard.integrity.selection import SELECTION_NAME, sign_selection
from rtguard.integrity.signing import sign_variant
from rtguard.runfolder import write_text


def variant_folders(folder: Path) -> list[Path]:
    """The folder itself when it is a variant, else the built variants of the run it is."""
    folder = Path(folder)
    if (folder / "model.onnx").is_file():
        return [folder]
    variants = sorted(path for path in (folder / "variants").glob("*") if (path / "model.onnx").is_file())
    if not variants:
        raise SignatureError(f"{folder} is neither a variant folder (with model.onnx) nor a run folder with built variants")
    return variants


def bind_schema(variant: Path) -> None:
    """Copy the run's schema.json into a variant of that run: the input contract travels with the model."""
    run_schema = variant.parent.parent / "schema.json"
    if variant.parent.name == "variants" and run_schema.is_file():
        write_text(variant / "schema.json", run_schema.read_text(encoding="utf-8"))
    elif not (variant / "schema.json").is_file():
        raise SignatureError(f"{variant} has no schema.json and is not inside a run folder: copy the run's schema.json into it")


def sign_all(folder: Path, private_key: Path, release: int | None = None, run: str | None = None) -> list[Path]:
    """Sign a variant, or every variant of a run and its selection.json, under one release number; returns the signatures' paths.

    `run` is the run's name when the folder is not yet where it will live (a run being built).
    """
    variants = variant_folders(folder)
    check_private_key(private_key)
    release = release if release is not None else next_release(private_key)
    signatures = []
    for variant in variants:
        bind_schema(variant)
        signatures.append(sign_variant(variant, private_key, release=release, run=run))
    if variants != [Path(folder)] and (Path(folder) / SELECTION_NAME).is_file():
        signatures.append(sign_selection(Path(folder), private_key, release, run))
    return signatures
