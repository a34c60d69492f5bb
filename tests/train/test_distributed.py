"""Real data-parallel training: two processes through torchrun, gloo on this CPU."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rtguard.config import validate_config
from rtguard.train import train_run
from rtguard.train.distributed import launch
from rtguard.train.speed import TrainingError

CRASHING_RANK = Path(__file__).with_name("crashing_rank.py")


def test_two_processes_reach_the_one_process_result(make_run):
    one, two = make_run("one"), make_run("two")
    single = train_run(one, show_progress=False)
    started = time.perf_counter()
    parallel = launch(two, nproc=2)
    assert time.perf_counter() - started < 60
    assert parallel["settings"]["processes"] == 2 and single["settings"]["processes"] == 1
    assert parallel["samples_per_s"] > 0 and parallel["train_rows"] == single["train_rows"]
    expected, got = load_file(str(one.weights)), load_file(str(two.weights))
    for key, value in expected.items():
        assert (got[key].float() - value.float()).abs().max() < 1e-4, key
    assert parallel["validation"]["macro_f1"] == pytest.approx(single["validation"]["macro_f1"], abs=1e-3)
    manifest = (two.checkpoints / "checkpoints.json").read_text()  # rank 0 alone wrote checkpoints
    assert '"epoch": 2' in manifest


def test_a_crashed_rank_stops_the_run_with_a_clear_error(make_run):
    run = make_run()
    config = run.load_config().model_dump(mode="json", exclude_none=True)
    config["train"]["distributed"]["timeout_s"] = 30
    run.save_config(validate_config(config))
    started = time.perf_counter()
    with pytest.raises(TrainingError, match="distributed training failed.*rank 1 crashed on purpose"):
        launch(run, nproc=2, worker=[str(CRASHING_RANK), str(run.root)])
    assert time.perf_counter() - started < 60
    assert not run.weights.exists()
