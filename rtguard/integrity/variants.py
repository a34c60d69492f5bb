"""Variants as signable units: each carries the run's schema, so one signature binds both."""

from __future__ import annotations

from pathlib import Path

from rtguard.integrity.errors import SignatureError
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


def sign_all(folder: Path, private_key: Path) -> list[Path]:
    """Sign a variant, or every variant of a run; returns the signatures' paths."""
    signatures = []
    for variant in variant_folders(folder):
        bind_schema(variant)
        signatures.append(sign_variant(variant, private_key))
    return signatures
