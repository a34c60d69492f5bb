"""The gate, the Pareto front and the choice, on hand-made metric sets with hand-checked answers."""

import pytest

from rtguard.errors import PolicyError
from rtguard.policy import Policy
from rtguard.select import (
    CHECKS, FAIL, NOT_MEASURED, NOT_REQUIRED, PASS, choose, evaluate_check, pareto_front, pareto_summary, select,
    worst_change,
)

BY_KEY = {check.key: check for check in CHECKS}

# check, threshold, the reference's metrics, metrics that pass, metrics that fail
CASES = [
    ("max_latency_p99_ms", 1.0, {}, {"latency_p99_ms": 1.0}, {"latency_p99_ms": 1.5}),
    ("min_throughput_per_s", 1000.0, {}, {"throughput_per_s": 2000.0}, {"throughput_per_s": 500.0}),
    ("min_detection_rate", 0.9, {}, {"detection_rate": 0.95}, {"detection_rate": 0.85}),
    ("max_false_positive_rate", 0.05, {}, {"false_positive_rate": 0.01}, {"false_positive_rate": 0.06}),
    ("max_macro_f1_loss", 0.01, {"macro_f1": 0.90}, {"macro_f1": 0.895}, {"macro_f1": 0.88}),
    ("max_evasion_rate_increase", 0.02, {"evasion_rate": {"pgd": {"0.1": 0.20}}},
     {"evasion_rate": {"pgd": {"0.1": 0.21}}}, {"evasion_rate": {"pgd": {"0.1": 0.25}}}),
    ("max_noise_accuracy_loss", 0.02, {"noise_accuracy": {"0.1": 0.90}}, {"noise_accuracy": {"0.1": 0.89}},
     {"noise_accuracy": {"0.1": 0.85}}),
    ("max_membership_auc_increase", 0.02, {"membership_auc": 0.50}, {"membership_auc": 0.51}, {"membership_auc": 0.55}),
    ("max_file_bytes", 1000, {}, {"file_bytes": 999}, {"file_bytes": 1001}),
    ("max_peak_memory_bytes", 1000, {}, {"peak_memory_bytes": 1000}, {"peak_memory_bytes": 4096}),
    ("max_train_seconds", 60.0, {}, {"train_seconds": 30.0}, {"train_seconds": 90.0}),
    ("require_signature", True, {}, {"signature_verified": True}, {"signature_verified": False}),
    ("execution_provider", "CPUExecutionProvider", {}, {"execution_provider": "CPUExecutionProvider"},
     {"execution_provider": "CUDAExecutionProvider"}),
]


def test_every_check_has_a_case():
    assert [case[0] for case in CASES] == [check.key for check in CHECKS]


@pytest.mark.parametrize("key, threshold, reference, passing, failing", CASES, ids=[c[0] for c in CASES])
def test_each_check_passes_fails_and_is_not_measured(key, threshold, reference, passing, failing):
    check = BY_KEY[key]
    assert evaluate_check(check, threshold, {**reference, **passing}, reference)["status"] == PASS
    assert evaluate_check(check, threshold, {**reference, **failing}, reference)["status"] == FAIL
    assert evaluate_check(check, threshold, {}, reference)["status"] == NOT_MEASURED


@pytest.mark.parametrize("key, threshold, reference, passing, failing", CASES, ids=[c[0] for c in CASES])
def test_a_check_the_policy_leaves_out_is_not_required_but_shows_its_value(key, threshold, reference, passing, failing):
    off = False if key == "require_signature" else None
    result = evaluate_check(BY_KEY[key], off, {**reference, **failing}, reference)
    assert result["status"] == NOT_REQUIRED and result["value"] is not None


def test_a_comparison_with_a_reference_that_did_not_measure_is_not_measured():
    result = evaluate_check(BY_KEY["max_membership_auc_increase"], 0.02, {"membership_auc": 0.5}, {})
    assert result["status"] == NOT_MEASURED


def test_worst_change_takes_the_worst_point_both_measured():
    reference = {"pgd": {"0.1": 0.10, "0.2": 0.30}, "hsj": {"0.1": 0.5}}
    variant = {"pgd": {"0.1": 0.15, "0.2": 0.31, "0.3": 0.99}}  # 0.3 and hsj: not measured by both, so not compared
    value, detail = worst_change(variant, reference, 1)
    assert value == pytest.approx(0.05) and detail == "0.1500 vs 0.1000 at pgd/0.1"
    loss, _ = worst_change({"0.1": 0.80, "0.3": 0.60}, {"0.1": 0.90, "0.3": 0.65}, -1)
    assert loss == pytest.approx(0.10)
    assert worst_change({"fgsm": {"0.1": 0.2}}, reference, 1) == (None, None)


@pytest.mark.parametrize("costs, front", [
    ({"a": (1, 1), "b": (2, 2)}, ["a"]),
    ({"a": (1, 2), "b": (2, 1)}, ["a", "b"]),
    ({"a": (1, 1), "b": (1, 1)}, ["a", "b"]),          # equal points dominate nothing
    ({"a": (1, 3), "b": (2, 2), "c": (3, 1), "d": (3, 3)}, ["a", "b", "c"]),
    ({"a": (1, 2, 3), "b": (1, 2, 4), "c": (0, 5, 5)}, ["a", "c"]),
])
def test_pareto_front_on_hand_checked_cases(costs, front):
    assert pareto_front(costs) == front


def _metrics(detection, fpr, p99, throughput, size, **extra):
    return {"detection_rate": detection, "false_positive_rate": fpr, "latency_p99_ms": p99,
            "throughput_per_s": throughput, "file_bytes": size, "macro_f1": 0.9, **extra}


def test_pareto_summary_turns_max_objectives_into_costs_and_skips_unmeasured_ones():
    by_name = {
        "ref": _metrics(0.90, 0.05, 0.50, 1000, 100),
        "fast": _metrics(0.90, 0.05, 0.10, 2000, 100),             # dominates ref
        "small": _metrics(0.89, 0.05, 0.20, 1500, 30, evasion_rate={"pgd": {"0.1": 0.3}}),
    }
    summary = pareto_summary(by_name)
    assert "evasion_rate" in summary["not_measured"] and "evasion_rate" not in summary["objectives"]
    assert summary["front"] == ["fast", "small"]
    assert summary["dominated_by"] == {"ref": "fast"}


def test_choose_prefers_the_policy_objective_and_breaks_ties_in_order():
    by_name = {"a": _metrics(0.90, 0.05, 0.10, 1000, 100), "b": _metrics(0.95, 0.05, 0.10, 900, 100),
               "c": _metrics(0.80, 0.01, 0.30, 5000, 10)}
    objectives = pareto_summary(by_name)["objectives"]
    assert choose(["a", "b", "c"], by_name, objectives, "latency_p99_ms") == "b"  # tie on p99, b detects more
    assert choose(["a", "b", "c"], by_name, objectives, "throughput_per_s") == "c"
    assert choose(["a", "b"], by_name, objectives, "file_bytes") == "b"
    assert choose([], by_name, objectives, "latency_p99_ms") is None


def _variants(**metrics_by_name):
    return [{"name": name, "artifact": None if name == "torch-fp32" else f"variants/{name}/model.onnx", "metrics": metrics}
            for name, metrics in metrics_by_name.items()]


def test_select_ships_the_fastest_passing_artifact_never_the_reference():
    variants = _variants(**{
        "torch-fp32": _metrics(0.90, 0.05, 0.01, 9000, 100),  # fastest, but not a deployable artifact
        "onnx-fp32": _metrics(0.90, 0.05, 0.08, 8000, 100),
        "int8": _metrics(0.90, 0.05, 0.05, 8000, 30, macro_f1=0.85),  # faster, but lost 0.05 macro-F1
    })
    selection = select(variants, Policy())
    assert selection["chosen"] == "onnx-fp32"
    gated = {v["name"]: v for v in selection["variants"]}
    assert gated["int8"]["blocking"] == ["max_macro_f1_loss"] and not gated["torch-fp32"]["candidate"]
    assert selection["verdict"].startswith("Ship onnx-fp32") and "0.08 ms" in selection["verdict"]


def test_nothing_passes_when_a_required_metric_was_never_measured():
    variants = _variants(**{"torch-fp32": _metrics(0.9, 0.05, 0.1, 1, 1), "onnx-fp32": _metrics(0.9, 0.05, 0.1, 1, 1)})
    selection = select(variants, Policy(require_signature=True, max_latency_p99_ms=0.05))
    assert selection["chosen"] is None
    assert selection["verdict"] == ("Nothing to ship: no variant passes policy 'default'. onnx-fp32: "
                                    "p99 latency, batch 1 is 0.1 ms (needs ≤ 0.05 ms); not measured: signature verified.")


def test_a_policy_reference_that_is_not_in_the_run_is_an_error():
    with pytest.raises(PolicyError, match="'onnx-fp32' is not a variant of this run: torch-fp32"):
        select(_variants(**{"torch-fp32": _metrics(0.9, 0.05, 0.1, 1, 1)}), Policy(reference="onnx-fp32"))


# The command line: exit status 0 when a variant ships, 3 when none passes, 2 for bad input.

def _invoke(*args):
    from typer.testing import CliRunner

    from rtguard.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(tiny_run[0], folder)
    return folder


def _policy(tmp_path, text, name="policy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_select_exit_codes_and_what_it_writes(run_copy, tmp_path):
    import json

    assert _invoke("select", run_copy).exit_code == 0
    result = _invoke("select", run_copy, "--policy", _policy(tmp_path, 'name = "impossible"\nmax_latency_p99_ms = 1e-9\n'))
    assert result.exit_code == 3, result.output
    assert "Nothing to ship" in result.output and "not measured" not in result.output
    selection = json.loads((run_copy / "selection.json").read_text())
    assert selection["chosen"] is None and selection["policy"]["name"] == "impossible"
    assert "Nothing to ship" in (run_copy / "report.html").read_text()
    assert _invoke("select", run_copy).exit_code == 3, "without --policy the run's own policy.toml applies"


def test_select_bad_input_exits_2_and_changes_nothing(run_copy, tmp_path):
    before = [(run_copy / name).read_text() for name in ("selection.json", "policy.toml")]
    for policy, message in ((_policy(tmp_path, "max_latency = 1\n", "typo.toml"), "max_latency"), (tmp_path / "nowhere.toml", "not found"),
                            (_policy(tmp_path, 'reference = "nope"\n', "nope.toml"), "'nope' is not a variant")):
        result = _invoke("select", run_copy, "--policy", policy)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert [(run_copy / name).read_text() for name in ("selection.json", "policy.toml")] == before
    assert _invoke("select", tmp_path / "not-a-run").exit_code == 2
    assert not (tmp_path / "not-a-run").exists()


def test_run_keeps_everything_and_exits_3_when_nothing_passes(tmp_path, tiny_toml):
    out = tmp_path / "r"
    result = _invoke("run", "-c", tiny_toml, "--policy", _policy(tmp_path, "max_latency_p99_ms = 1e-9\n"), "--out", out, "-q")
    assert result.exit_code == 3, result.output
    assert all((out / name).is_file() for name in ("report.html", "report.md", "report.json", "selection.json", "policy.toml"))
    assert _invoke("run", "-c", tiny_toml, "--policy", tmp_path / "missing.toml", "--out", tmp_path / "r2").exit_code == 2
    assert not (tmp_path / "r2").exists()


def _pair(p99, throughput, status="measured", **extra):
    return {"backend": "?", "status": status, "latency_p50_ms": p99 / 2, "latency_p99_ms": p99, "throughput_per_s": throughput,
            "throughput_batch": 1024, **extra}


def test_the_gate_picks_a_variant_backend_pair_and_skips_pairs_that_cannot_run_or_differ():
    fp32 = _metrics(0.90, 0.05, 0.08, 8000, 100)
    variants = _variants(**{
        "torch-fp32": _metrics(0.90, 0.05, 0.01, 9000, 100),
        "onnx-fp32": fp32 | {"backends": {"onnxruntime": _pair(0.08, 8000), "openvino": _pair(0.05, 9000),
                                          "tensorrt": {"backend": "tensorrt", "status": "unavailable", "reason": "no GPU"}}},
        "int8": fp32 | {"backends": {"onnxruntime": _pair(0.06, 8000),
                                     "openvino": _pair(0.01, 20000, "mismatch", reason="classifies 3% of rows differently")}},
    })
    selection = select(variants, Policy())
    assert (selection["chosen"], selection["backend"]) == ("onnx-fp32", "openvino")
    assert selection["verdict"].startswith("Ship onnx-fp32 on openvino") and "best of the 3 passing (variant, backend) pair(s)" in selection["verdict"]
    pairs = {p["name"]: p for p in selection["pairs"]}
    assert pairs["int8@openvino"]["blocking"] == ["backend"] and not pairs["onnx-fp32@tensorrt"]["passed"]
    assert pairs["onnx-fp32@openvino"]["passed"] and pairs["int8@onnxruntime"]["passed"]
    strict = select(variants, Policy(max_latency_p99_ms=0.001))
    assert strict["chosen"] is None and "int8 on openvino: classifies 3% of rows differently" in strict["verdict"]
    assert "onnx-fp32 on tensorrt: no GPU" in strict["verdict"]


def test_a_pair_is_gated_on_its_own_speed_and_quality_not_its_variants():
    variants = _variants(**{
        "torch-fp32": _metrics(0.90, 0.05, 0.01, 9000, 100),
        "onnx-fp32": _metrics(0.90, 0.05, 0.08, 8000, 100) | {"backends": {"openvino": _pair(0.5, 9000, detection_rate=0.5)}},
    })
    selection = select(variants, Policy(max_latency_p99_ms=0.1, min_detection_rate=0.8))
    pair = selection["pairs"][0]
    assert selection["chosen"] is None and set(pair["blocking"]) == {"max_latency_p99_ms", "min_detection_rate"}
