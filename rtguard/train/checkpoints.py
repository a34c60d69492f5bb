"""Training checkpoints: safetensors files whose sha256 is recorded when written and checked before use.

A checkpoint holds everything an interrupted run needs to continue exactly where it stopped:
the weights, the best weights so far, AdamW's moments, the shuffling generator and the epoch
history. It is never a pickle (loading one must not run code), and `--resume` refuses a file
whose bytes differ from those recorded when it was written: modified, truncated or swapped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from rtguard.runfolder import write_json
from rtguard.train.speed import TrainingError

MANIFEST = "checkpoints.json"


class CheckpointError(TrainingError):
    """A checkpoint is missing, does not match its recorded hash, or cannot be read."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(folder: Path, epoch: int, tensors: dict[str, torch.Tensor], state: dict) -> dict:
    """Write epoch-NNNN.safetensors atomically, record its hash, drop the previous file; return its entry."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epoch:04d}.safetensors"
    tmp = folder / f".{name}.tmp"
    save_file({key: value.detach().cpu().contiguous() for key, value in tensors.items()}, str(tmp),
              metadata={"rtguard": json.dumps(state)})
    os.replace(tmp, folder / name)
    entry = {"file": name, "epoch": epoch, "bytes": (folder / name).stat().st_size, "sha256": sha256(folder / name)}
    written = read_manifest(folder)["written"] if (folder / MANIFEST).exists() else []
    for old in written:  # only the latest is needed to resume; every hash stays on record
        if old["file"] != name:
            (folder / old["file"]).unlink(missing_ok=True)
    write_json(folder / MANIFEST, {"latest": entry, "written": [*written, entry]})
    return entry


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["latest"]["file"], manifest["latest"]["sha256"]
        return manifest
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: there is no checkpoint to resume from (train without --resume)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is malformed ({exc}): refusing to resume") from None


def load_latest(folder: Path) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(tensors, state, manifest entry) of the latest checkpoint, after its bytes match the recorded sha256."""
    entry = read_manifest(folder)["latest"]
    path = folder / Path(entry["file"]).name
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: refusing to resume (train without --resume)")
    found = sha256(path)
    if found != entry["sha256"]:
        raise CheckpointError(f"{path} does not match the sha256 recorded when it was written (expected {entry['sha256'][:16]}…, "
                              f"found {found[:16]}…, {path.stat().st_size} of {entry['bytes']} bytes): it was modified or "
                              "truncated; refusing to resume (train without --resume)")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as handle:
            state = json.loads(handle.metadata()["rtguard"])
    except (SafetensorError, OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    return tensors, state, entry
