"""Checkpoints: hashed when written, verified before resuming, and resuming continues exactly."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from rtguard.config import validate_config
from rtguard.train import train_run
from rtguard.train.checkpoints import CheckpointError, sha256


def _set_epochs(run, epochs: int) -> None:
    config = run.load_config().model_dump(mode="json", exclude_none=True)
    config["train"]["epochs"] = epochs
    run.save_config(validate_config(config))


def test_every_checkpoint_is_hashed_and_recorded(make_run):
    run = make_run()
    record = train_run(run, show_progress=False)
    manifest = json.loads((run.checkpoints / "checkpoints.json").read_text())
    assert [entry["epoch"] for entry in manifest["written"]] == [1, 2]
    assert record["checkpoints"] == manifest["written"]
    latest = run.checkpoints / manifest["latest"]["file"]
    assert sha256(latest) == manifest["latest"]["sha256"]
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["checkpoints.json", latest.name]


def test_resume_continues_as_if_never_interrupted(make_run):
    straight = make_run("straight", epochs=4)
    train_run(straight, show_progress=False)
    interrupted = make_run("interrupted", epochs=2)
    train_run(interrupted, show_progress=False)
    _set_epochs(interrupted, 4)
    record = train_run(interrupted, show_progress=False, resume=True)
    assert record["settings"]["resumed"] and record["epochs_run"] == 4
    expected, resumed = load_file(str(straight.weights)), load_file(str(interrupted.weights))
    for key, value in expected.items():
        assert (resumed[key].float() - value.float()).abs().max() < 1e-5, key


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_resume_refuses_a_damaged_checkpoint(make_run, damage):
    run = make_run()
    train_run(run, show_progress=False)
    weights_before = run.weights.read_bytes()
    latest = run.checkpoints / json.loads((run.checkpoints / "checkpoints.json").read_text())["latest"]["file"]
    raw = bytearray(latest.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF
    else:
        raw = raw[: len(raw) // 2]
    latest.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="does not match the sha256 recorded when it was written.*refusing to resume"):
        train_run(run, show_progress=False, resume=True)
    assert run.weights.read_bytes() == weights_before


def test_resume_without_checkpoints_is_a_clear_error(make_run):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        train_run(make_run(), show_progress=False, resume=True)
