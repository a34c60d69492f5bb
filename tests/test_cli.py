"""The command line end to end on tiny data, and every bad input it must survive."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.config import DEFAULT_VARIANTS

FIXTURES = Path(__file__).parent / "fixtures"
REPORT_METRICS = {"accuracy", "macro_f1", "detection_rate", "false_positive_rate", "latency_p50_ms",
                  "latency_p99_ms", "throughput_per_s", "file_bytes", "agreement"}

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_report_json_contract(tiny_run):
    folder, _ = tiny_run
    report = json.loads((folder / "report.json").read_text())
    assert {"dataset", "machine", "versions", "variants"} <= report.keys()
    assert {"cpu", "flags", "cores"} <= report["machine"].keys()
    names = [v["name"] for v in report["variants"]]
    # The tiny reference (hidden [16]) is smaller than the default student: distilled-small fails, by design.
    assert names == ["torch-fp32", *(name for name in DEFAULT_VARIANTS if name != "distilled-small")]
    assert "larger than its teacher" in (folder / "variants" / "failed.json").read_text()
    assert [f["variant"] for f in report["failed_variants"]] == ["distilled-small"]
    assert any(note.startswith("distilled-small was not built") for note in report["findings"])
    for variant in report["variants"]:
        assert REPORT_METRICS <= variant["metrics"].keys(), variant["name"]
        assert 0 <= variant["metrics"]["agreement"] <= 1
        assert variant["metrics"]["latency_calls"] == 20
    assert report["findings"] and (folder / "report.md").read_text().startswith("# rtguard report")


def test_stage_commands_rerun_on_a_run_folder(tiny_run, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_run[0], folder)
    for stage in ("train", "optimize", "evaluate", "report"):
        result = invoke(stage, folder, *(["--quiet"] if stage in ("train", "evaluate") else []))
        assert result.exit_code == 0, result.output
    assert "int8-static" in result.output


def test_retraining_removes_what_described_the_old_weights(tiny_run, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_run[0], folder)
    assert invoke("train", folder, "--quiet").exit_code == 0
    assert not (folder / "variants").exists() and not (folder / "report.json").exists()
    result = invoke("evaluate", folder)
    assert result.exit_code == 2 and "rtguard optimize" in result.output


def test_run_end_to_end_on_nsl_kdd_fixture(tmp_path, tiny_toml):
    out = tmp_path / "kdd"
    data = tmp_path / "nsl-kdd"
    data.mkdir()
    shutil.copy(FIXTURES / "nsl_kdd" / "train-sample.txt", data / "KDDTrain+.txt")
    shutil.copy(FIXTURES / "nsl_kdd" / "test-sample.txt", data / "KDDTest+.txt")
    result = invoke("run", "-c", tiny_toml, "--dataset", "nsl-kdd", "--data", data, "--labels", "binary", "--out", out, "-q",
                    "--policy", _no_floors(tmp_path))  # a model of a few dozen rows is no detector: only the mechanics are tested
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["classes"] == ["normal", "attack"]


def _no_floors(folder: Path) -> Path:
    """A policy without the absolute quality floors, for runs on a handful of rows."""
    path = folder / "no-floors.toml"
    path.write_text("min_detection_rate = 0\nmin_macro_f1 = 0\n")
    return path


def test_existing_out_folder_is_not_overwritten_without_force(tiny_run, tiny_toml):
    folder, _ = tiny_run
    result = invoke("run", "-c", tiny_toml, "--out", folder, "-q")
    assert result.exit_code == 2 and "--force" in result.output


def _assert_clean_failure(result, out: Path, message: str):
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists(), "a failed run must not leave a run folder"
    assert not list(out.parent.glob(f".{out.name}.partial-*")), "temporary build folder left behind"


def test_missing_data_path(tmp_path, tiny_toml):
    out = tmp_path / "r"
    result = invoke("run", "-c", tiny_toml, "--dataset", "nsl-kdd", "--data", tmp_path / "nowhere", "--out", out)
    _assert_clean_failure(result, out, "nowhere")


def test_dataset_without_path(tmp_path, tiny_toml):
    out = tmp_path / "r"
    _assert_clean_failure(invoke("run", "-c", tiny_toml, "--dataset", "csv", "--out", out), out, "needs a path")


def test_unknown_config_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[model]\nhiden = [8]\n")
    out = tmp_path / "r"
    _assert_clean_failure(invoke("run", "-c", config, "--out", out), out, "model.hiden")


def test_csv_with_bad_row_fails_naming_file_and_line(tmp_path, tiny_toml):
    data = tmp_path / "flows.csv"
    data.write_text("a,b,Label\n1,2,BENIGN\n3,4\n")
    out = tmp_path / "r"
    result = invoke("run", "-c", tiny_toml, "--dataset", "csv", "--data", data, "--out", out)
    _assert_clean_failure(result, out, "line 3")


def test_csv_with_missing_label_column(tmp_path, tiny_toml):
    data = tmp_path / "flows.csv"
    data.write_text("a,b,Class\n1,2,BENIGN\n3,4,DoS\n")
    out = tmp_path / "r"
    _assert_clean_failure(invoke("run", "-c", tiny_toml, "--dataset", "csv", "--data", data, "--out", out), out, "Label")


def test_parity_failure_aborts_the_run_without_a_run_folder(tmp_path, tiny_toml, monkeypatch):
    import rtguard.optimize.build as build

    def broken_parity(*args, **kwargs):
        from rtguard.errors import ParityError

        raise ParityError("ONNX export differs from PyTorch (simulated)")

    monkeypatch.setattr(build, "check_parity", broken_parity)
    out = tmp_path / "r"
    _assert_clean_failure(invoke("run", "-c", tiny_toml, "--out", out, "-q"), out, "differs from PyTorch")


def test_help_teaches_every_command():
    result = invoke("--help")
    for command in ("run", "train", "optimize", "evaluate", "report"):
        assert command in result.output
    assert "--dataset" in invoke("run", "--help").output


def test_skip_bad_rows_continues_and_counts(tmp_path, tiny_toml):
    rows = ["a,b,Label"] + [f"{i},{i % 7},{'BENIGN' if i % 3 else 'DoS'}" for i in range(60)]
    rows.insert(5, "1,2")  # one field short
    data = tmp_path / "flows.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "r"
    result = invoke("run", "-c", tiny_toml, "--dataset", "csv", "--data", data, "--skip-bad-rows", "--out", out, "-q",
                    "--policy", _no_floors(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "data.json").read_text())["loader_counts"] == {"bad_rows_skipped": 1}


RTGUARD = Path(sys.executable).with_name("rtguard")  # the installed command, as an operator runs it


def _rtguard(*args, columns: int) -> subprocess.Popen:
    """`rtguard ARGS` in a process of its own, output on pipes (no terminal), the terminal width as COLUMNS says."""
    return subprocess.Popen([str(RTGUARD), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": str(columns)})


@pytest.mark.parametrize(("columns", "extra"), [(40, 0), (40, 200), (200, 90)])  # extra: characters added to pytest's path
def test_errors_are_one_whole_line_whatever_the_terminal_width_and_the_path_length(tmp_path, columns, extra):
    folder = tmp_path / ("d" * extra) if extra else tmp_path  # a name of up to 255 characters makes every path that much longer
    folder.mkdir(exist_ok=True)
    config = folder / "bad [model].toml"
    config.write_text("[model]\nhiden = [8]\n[train]\nepochs = 'many'\n")
    flows = folder / "flows.csv"
    flows.write_text("a,b,Label\n1,2,BENIGN\n3,4\n")
    cases = {  # arguments -> what the one line must hold, whole
        ("hybrid", folder / "nope", folder / "nada"): [f"error: {folder / 'nope' / 'config.toml'} is missing"],
        ("run", "-c", config, "--out", folder / "r"): [f"error: invalid configuration in {config}: model.hiden: ",
                                                        "; train.epochs: "],
        ("run", "--dataset", "csv", "--data", flows, "--out", folder / "r", "-q"): [f"error: {flows}, line 3: expected 3 fields, found 2; "],
        ("score", folder / "nope", flows): [f"error: {folder / 'nope'} has no selection.json"],
    }
    processes = {args: _rtguard(*args, columns=columns) for args in cases}  # side by side: each pays for its imports
    for args, process in processes.items():
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stderr
        lines = stderr.splitlines()
        assert len(lines) == 1 and all(part in lines[0] for part in cases[args]), (args, lines)


def test_help_keeps_brackets_full_option_names_and_examples_at_80_columns():
    run_help, train_help, score_help = (_rtguard(command, "--help", columns=80).communicate(timeout=120)[0]
                                        for command in ("run", "train", "score"))
    assert "calibrated false-positive rate ([task] and [anomaly] tables)" in " ".join(run_help.split())
    assert "--skip-bad-rows / --fail-on-bad-rows" in run_help and "…" not in run_help
    assert "rtguard run --dataset nsl-kdd --data ../shared/data/nsl-kdd --labels binary\n" in run_help  # an example, unwrapped
    assert "are in the [train] table" in " ".join(train_help.split())
    assert "--max-line-bytes" in score_help and "4 lines were read but every flow among them was skipped" in " ".join(score_help.split())
