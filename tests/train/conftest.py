"""Small prepared run folders for the training tests (data stage only: each test trains its own way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtguard.config import validate_config
from rtguard.data.stage import prepare_run_data
from rtguard.runfolder import RunFolder

# dropout 0: data-parallel ranks draw different dropout masks, so only without it do 1 and 2 processes compare exactly
SMALL = {"data": {"n_flows": 2000, "seed": 3}, "model": {"hidden": [16], "dropout": 0.0},
         "train": {"epochs": 2, "batch_size": 128, "patience": 10}}


def small_config(**train):
    return validate_config({**SMALL, "train": {**SMALL["train"], **train}})


@pytest.fixture
def make_run(tmp_path: Path):
    """make_run(name, **train settings): a run folder with data prepared and nothing trained."""

    def make(name: str = "run", **train) -> RunFolder:
        run = RunFolder(tmp_path / name)
        run.root.mkdir()
        prepare_run_data(run, small_config(**train))
        return run

    return make
