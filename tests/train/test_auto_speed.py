"""--auto-speed: measured candidates, recorded with the choice, never slower than fp32 eager as measured."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.config import validate_config


def _configure(run, **auto_speed) -> None:
    config = run.load_config().model_dump(mode="json", exclude_none=True)
    config["train"]["auto_speed"] = auto_speed
    run.save_config(validate_config(config))


def test_auto_speed_records_measurements_and_a_choice_no_slower_than_fp32_eager(make_run):
    run = make_run()
    _configure(run, steps=3, compile=False)  # compiling costs tens of seconds per candidate on a CPU
    result = CliRunner().invoke(app, ["train", str(run.root), "--auto-speed", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "auto speed chose" in result.output
    record = json.loads(run.train_record.read_text())
    choice = record["auto_speed"]
    baseline, *others = choice["candidates"]
    assert (baseline["precision"], baseline["compile"]) == ("fp32", False)
    assert any(c["precision"] == "bf16" for c in others)
    chosen = next(c for c in choice["candidates"] if all(c[k] == v for k, v in choice["chosen"].items()))
    assert chosen["projected_s"] <= baseline["projected_s"] and chosen["keeps_quality"]
    assert all(len(c["round_rates"]) == 3 for c in choice["candidates"] if "error" not in c)  # timed in rounds, in turns
    assert {k: record["settings"][k] for k in choice["chosen"]} == choice["chosen"]


def test_auto_speed_with_several_processes_is_refused(make_run):
    result = CliRunner().invoke(app, ["train", str(make_run().root), "--auto-speed", "--nproc", "2"])
    assert result.exit_code == 2 and "--auto-speed measures one process" in result.output
