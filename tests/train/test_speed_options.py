"""Speed options change how a step runs, not what it computes."""

from __future__ import annotations

import pytest
import torch

from rtguard.config import validate_config
from rtguard.data.prepare import prepare
from rtguard.data.stage import load_frames
from rtguard.train.loop import Shard, train_classifier
from rtguard.train.speed import TrainingError

SMALL = {"data": {"n_flows": 2000, "seed": 3}, "model": {"hidden": [16], "dropout": 0.0}, "train": {"epochs": 2, "batch_size": 128}}


def small_config(**train):
    return validate_config({**SMALL, "train": {**SMALL["train"], **train}})


@pytest.fixture(scope="module")
def data():
    config = small_config()
    schema, splits, _ = prepare(load_frames(config.data), config.data)
    return schema, splits


def _train(data, shard: Shard = Shard(), **train):
    schema, splits = data
    config = small_config(**train)
    return train_classifier(schema, splits, config.model, config.train, show_progress=False, shard=shard)


def test_accumulation_keeps_the_effective_batch(data):
    plain, accumulated = _train(data), _train(data, accumulation_steps=4)
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[key], value, atol=1e-5, rtol=1e-4)
    assert accumulated.record["settings"]["accumulation_steps"] == 4


def test_bf16_autocast_trains_and_is_recorded(data):
    result = _train(data, precision="bf16")
    assert result.record["settings"]["precision"] == "bf16"
    assert result.record["validation"]["accuracy"] > 0.5
    assert next(result.model.parameters()).dtype == torch.float32  # weights stay fp32


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs on CUDA")
def test_fp16_on_a_cpu_is_a_clear_error(data):
    with pytest.raises(TrainingError, match="fp16.*needs a CUDA device"):
        _train(data, precision="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_requested_without_one_is_a_clear_error(data):
    with pytest.raises(TrainingError, match="no CUDA device"):
        _train(data, device="cuda")


def test_more_ranks_than_rows_per_batch_is_a_clear_error(data):
    with pytest.raises(TrainingError, match="4 processes x 2 micro-batches need at least 8 rows per batch, but batch_size is 4"):
        _train(data, shard=Shard(rank=0, world=4), batch_size=4, accumulation_steps=2)


def test_time_to_target_is_recorded(data):
    record = _train(data, epochs=3).record
    reached = record["time_to_target"]
    best = max(entry["val_macro_f1"] for entry in record["history"])
    assert reached["target"] == pytest.approx(0.99 * best)
    assert 0 < reached["seconds"] <= record["wall_time_s"]
    assert record["history"][reached["epoch"] - 1]["val_macro_f1"] >= reached["target"]
    unreachable = _train(data, epochs=1, target_macro_f1=1.0).record["time_to_target"]
    assert unreachable["seconds"] is None and unreachable["target"] == 1.0
