"""The gate, the Pareto front and the choice, on hand-made metric sets with hand-checked answers."""

import pytest

from rtguard.errors import PolicyError
from rtguard.policy import Policy
from rtguard.select import (
    CHECKS,
    FAIL,
    NOT_MEASURED,
    NOT_REQUIRED,
    PASS,
    choose,
    clearly_faster,
    decision_view,
    evaluate_check,
    least_evadable,
    pareto_front,
    pareto_summary,
    same_within_noise,
    select,
    worst_change,
    worst_evasion,
)

BY_KEY = {check.key: check for check in CHECKS}

# check, threshold, the reference's metrics, metrics that pass, metrics that fail
CASES = [
    ("max_latency_p99_ms", 1.0, {}, {"latency_p99_ms": 1.0}, {"latency_p99_ms": 1.5}),
    ("min_throughput_per_s", 1000.0, {}, {"throughput_per_s": 2000.0}, {"throughput_per_s": 500.0}),
    ("min_detection_rate", 0.9, {}, {"detection_rate": 0.95}, {"detection_rate": 0.85}),
    ("min_macro_f1", 0.5, {}, {"macro_f1": 0.6}, {"macro_f1": 0.4}),
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
    ("max_batch_dependence", 0.0, {}, {"batch_dependence": 0.0}, {"batch_dependence": 0.4}),
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


QUALITY = ("detection_rate", "false_positive_rate", "macro_f1")


def _metrics(detection, fpr, p99, throughput, size, **extra):
    """Speed and size at the top level, quality under `selection` (what the gate reads), as evaluate writes them."""
    quality = {"detection_rate": detection, "false_positive_rate": fpr, "macro_f1": 0.9} | {k: v for k, v in extra.items() if k in QUALITY}
    return {"latency_p99_ms": p99, "throughput_per_s": throughput, "file_bytes": size, "batch_dependence": 0.0,
            **{k: v for k, v in extra.items() if k not in QUALITY}, "selection": quality}


def test_the_gate_reads_the_selection_split_never_the_test_split():
    metrics = _metrics(0.90, 0.05, 0.1, 1000, 100) | {"detection_rate": 0.10, "macro_f1": 0.10}  # test split: poor
    assert decision_view(metrics)["detection_rate"] == 0.90 and decision_view(metrics)["macro_f1"] == 0.9
    assert "detection_rate" not in decision_view({"latency_p99_ms": 1.0, "detection_rate": 0.9})  # no selection: not measured


def test_pareto_summary_turns_max_objectives_into_costs_and_skips_unmeasured_ones():
    by_name = {name: decision_view(metrics) for name, metrics in {
        "ref": _metrics(0.90, 0.05, 0.50, 1000, 100),
        "fast": _metrics(0.90, 0.05, 0.10, 2000, 100),             # dominates ref
        "small": _metrics(0.89, 0.05, 0.20, 1500, 30, evasion_rate={"pgd": {"0.1": 0.3}}),
    }.items()}
    summary = pareto_summary(by_name)
    assert "evasion_rate" in summary["not_measured"] and "evasion_rate" not in summary["objectives"]
    assert summary["front"] == ["fast", "small"]
    assert summary["dominated_by"] == {"ref": "fast"}


def _replicates(center, width=0.0, period=7, n=210):
    """Bootstrap replicates around `center`, up to `width` away; variants with another period disagree resample by resample."""
    return [center + width * ((i % period) - period // 2) / (period // 2) for i in range(n)]


def _decided(detection, throughput, size, spread=0.05, width=0.0, phase=0):
    """A candidate with bootstrap replicates and throughput rounds (round i ran beside every other candidate's round i)."""
    metrics = decision_view(_metrics(detection, 0.01, 0.1, throughput, size))
    period = 3 + 2 * (int(throughput) % 3)  # paired replicates that do not move in lockstep
    return metrics | {"bootstrap": {"detection_rate": _replicates(detection, width, period), "macro_f1": _replicates(0.9)},
                      "throughput_rounds": [throughput * (1 + spread * (-1) ** (i + phase)) for i in range(10)]}


def test_choose_takes_the_best_detection_and_breaks_ties_within_noise_by_throughput_then_size():
    clear = {"a": _decided(0.90, 1000, 100), "b": _decided(0.95, 900, 100)}
    assert choose(["a", "b"], clear, "detection_rate") == {"chosen": "b", "tied": ["b"], "tie_break": None}
    noisy = {"a": _decided(0.90, 1000, 100, width=0.1), "b": _decided(0.91, 500, 100, width=0.1), "c": _decided(0.70, 9000, 1)}
    assert choose(["a", "b", "c"], noisy, "detection_rate") == {"chosen": "a", "tied": ["a", "b"], "tie_break": "throughput per core"}
    same_speed = {"a": _decided(0.90, 1000, 100, width=0.1), "b": _decided(0.91, 1010, 50, width=0.1, phase=1)}  # 5 rounds each
    assert choose(["a", "b"], same_speed, "detection_rate") == {"chosen": "b", "tied": ["a", "b"], "tie_break": "file size"}
    assert choose([], clear, "detection_rate") == {"chosen": None, "tied": [], "tie_break": None}


def _attacked(metrics: dict, evaded: int, attacked: int) -> dict:
    """A candidate whose worst point is the black-box attack at ε 1: `evaded` of the `attacked` flows it detected."""
    return metrics | {"evasion_rate": {"pgd": {"1": 0.0}, "hopskipjump": {"0.5": 0.0, "1": evaded / attacked}},
                      "robustness": {"samples": {"pgd": {"detected": 500}, "hopskipjump": {"detected": attacked}}}}


def test_ties_go_to_the_hardest_to_evade_beyond_noise_before_speed():
    tied = {"fast": _attacked(_decided(0.90, 3000, 10, width=0.1), 21, 40), "robust": _attacked(_decided(0.91, 1000, 100, width=0.1), 0, 40)}
    assert choose(["fast", "robust"], tied, "detection_rate") == {
        "chosen": "robust", "tied": ["fast", "robust"], "tie_break": "worst-case evasion rate"}
    assert worst_evasion(tied["fast"]) == (21, 40) and worst_evasion(tied["robust"]) == (0, 40)  # of equal rates, the fewest flows
    # 1 of 40 against 0 of 40 is inside the sampling noise: both stay, and speed decides between them.
    tied["fast"] = _attacked(tied["fast"], 1, 40)
    assert least_evadable(["fast", "robust"], tied) == ["fast", "robust"]
    assert choose(["fast", "robust"], tied, "detection_rate")["tie_break"] == "throughput per core"
    # A candidate that was not attacked (robustness off) leaves the tier out rather than losing it.
    tied["fast"] = _decided(0.90, 3000, 10, width=0.1)
    assert least_evadable(["fast", "robust"], tied) == ["fast", "robust"]
    assert choose(["fast", "robust"], tied, "detection_rate")["chosen"] == "fast"


def test_the_verdict_names_the_evasion_counts_that_broke_a_tie():
    variants = _variants(**{
        "torch-fp32": _metrics(0.95, 0.01, 0.01, 9000, 100),
        "a": _metrics(0.95, 0.01, 0.01, 9000, 10),
        "b": _metrics(0.95, 0.01, 0.01, 1000, 100),
    })
    for variant, evaded in zip(variants, (0, 30, 2)):
        variant["metrics"] = _attacked(variant["metrics"], evaded, 40)
    selection = select(variants, Policy())
    assert selection["chosen"] == "b" and selection["tie_break"] == "worst-case evasion rate"
    assert "a 30 of 40" in selection["verdict"] and "b 2 of 40" in selection["verdict"]
    variants[1]["metrics"] = _attacked(variants[1]["metrics"], 1, 40)  # 1 and 2 of 40: within noise, speed decides
    selection = select(variants, Policy())
    assert selection["chosen"] == "a" and selection["tie_break"] == "throughput per core"
    assert "Hardest to evade, within noise of each other: a, b." in selection["verdict"]


def test_latencies_whose_rounds_overlap_are_a_tie_never_a_reason():
    fast, slow = decision_view(_metrics(0.9, 0.01, 0.050, 1000, 100)), decision_view(_metrics(0.9, 0.01, 0.052, 1000, 50))
    fast["latency_spread_ms"], slow["latency_spread_ms"] = {"p99": [0.045, 0.060]}, {"p99": [0.047, 0.058]}
    assert same_within_noise(fast, slow, "latency_p99_ms")
    assert choose(["fast", "slow"], {"fast": fast, "slow": slow}, "latency_p99_ms")["chosen"] == "slow"  # the smaller file
    slow["latency_spread_ms"] = {"p99": [0.07, 0.09]}
    assert not same_within_noise(fast, slow, "latency_p99_ms")


def test_a_loss_inside_the_bootstraps_noise_does_not_fail():
    check, reference = BY_KEY["max_macro_f1_loss"], {"macro_f1": 0.90}
    noisy = evaluate_check(check, 0.01, {"macro_f1": 0.88, "vs_reference": {"macro_f1": [-0.05, 0.01]}}, reference)
    assert noisy["status"] == PASS and "within noise" in noisy["detail"]
    real = evaluate_check(check, 0.01, {"macro_f1": 0.88, "vs_reference": {"macro_f1": [-0.03, -0.01]}}, reference)
    assert real["status"] == FAIL and "outside noise" in real["detail"]
    small = evaluate_check(check, 0.01, {"macro_f1": 0.895, "vs_reference": {"macro_f1": [-0.008, -0.002]}}, reference)
    assert small["status"] == PASS  # outside noise, but below the threshold


def _variants(**metrics_by_name):
    return [{"name": name, "artifact": None if name == "torch-fp32" else f"variants/{name}/model.onnx", "metrics": metrics}
            for name, metrics in metrics_by_name.items()]


def test_select_ships_the_best_detecting_passing_artifact_never_the_reference():
    variants = _variants(**{
        "torch-fp32": _metrics(0.99, 0.01, 0.01, 9000, 100),  # best, but not a deployable artifact
        "onnx-fp32": _metrics(0.90, 0.01, 0.08, 8000, 100),
        "int8": _metrics(0.95, 0.01, 0.05, 8000, 30, macro_f1=0.85),  # detects more, but lost 0.05 macro-F1
    })
    selection = select(variants, Policy())
    assert selection["chosen"] == "onnx-fp32" and selection["split"] == "selection"
    gated = {v["name"]: v for v in selection["variants"]}
    assert gated["int8"]["blocking"] == ["max_macro_f1_loss"] and not gated["torch-fp32"]["candidate"]
    assert selection["verdict"].startswith("Ship onnx-fp32") and "detection at the operating point (0.9000)" in selection["verdict"]


def test_a_floor_blocks_a_useless_detector_and_says_the_reference_is_as_poor():
    variants = _variants(**{"torch-fp32": _metrics(0.30, 0.01, 0.1, 1, 1, macro_f1=0.35),
                            "onnx-fp32": _metrics(0.30, 0.01, 0.1, 1, 1, macro_f1=0.35)})
    selection = select(variants, Policy())
    assert selection["chosen"] is None
    assert "The reference torch-fp32 is below the floor too" in selection["verdict"]
    assert "macro-F1 is 0.3500 (needs ≥ 0.5000)" in selection["verdict"]


def test_nothing_passes_when_a_required_metric_was_never_measured():
    variants = _variants(**{"torch-fp32": _metrics(0.9, 0.05, 0.1, 1, 1), "onnx-fp32": _metrics(0.9, 0.05, 0.1, 1, 1)})
    selection = select(variants, Policy(require_signature=True, max_latency_p99_ms=0.05))
    assert selection["chosen"] is None
    assert selection["verdict"] == ("Nothing to ship: no variant passes policy 'default'. onnx-fp32: "
                                    "p99 latency, batch 1 is 0.1 ms (needs ≤ 0.05 ms); not measured: signature verified.")


def test_a_policy_with_another_operating_point_than_the_variants_is_refused():
    point = {"threshold": 0.7, "set_by": "policy", "mode": "target_fpr", "target": 0.01}
    variants = _variants(**{"torch-fp32": _metrics(0.9, 0.01, 0.1, 1, 1), "onnx-fp32": _metrics(0.9, 0.01, 0.1, 1, 1, operating_point=point)})
    assert select(variants, Policy())["chosen"] == "onnx-fp32"
    with pytest.raises(PolicyError, match="target_fpr 0.02, but onnx-fp32 alerts at target_fpr 0.01"):
        select(variants, Policy(target_fpr=0.02))


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
    own = (run_copy / "selection.json").read_text()
    impossible = _policy(tmp_path, 'name = "impossible"\nmax_latency_p99_ms = 1e-9\n')
    result = _invoke("select", run_copy, "--policy", impossible, "--dry-run")
    assert result.exit_code == 3 and "nothing written" in result.output and not (run_copy / "selection.impossible.json").exists()
    result = _invoke("select", run_copy, "--policy", impossible)
    assert result.exit_code == 3, result.output
    assert "Nothing to ship" in result.output and "not measured" not in result.output
    beside = json.loads((run_copy / "selection.impossible.json").read_text())
    assert beside["chosen"] is None and (run_copy / "selection.json").read_text() == own, "the run's own choice stays"
    assert _invoke("select", run_copy).exit_code == 0
    assert _invoke("select", run_copy, "--policy", impossible, "--apply").exit_code == 3
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


def test_a_pair_is_gated_on_its_own_speed_and_its_variants_selection_quality():
    variants = _variants(**{
        "torch-fp32": _metrics(0.90, 0.05, 0.01, 9000, 100),
        "onnx-fp32": _metrics(0.90, 0.05, 0.08, 8000, 100) | {"backends": {"openvino": _pair(0.5, 9000, detection_rate=0.5)}},
    })
    selection = select(variants, Policy(max_latency_p99_ms=0.1, min_detection_rate=0.8))
    pair = selection["pairs"][0]
    # the backend's own quality numbers are reported, not gated: its outputs agree with the artifact's or it is a mismatch
    assert selection["chosen"] is None and pair["blocking"] == ["max_latency_p99_ms"]


def test_a_throughput_lead_counts_only_when_the_side_by_side_rounds_agree_on_it():
    steady = {"per_core": 1200.0, "rounds": [1200.0] * 10}
    behind = {"per_core": 1000.0, "rounds": [1000.0] * 10}
    assert clearly_faster(steady, behind) and not clearly_faster(behind, steady)
    split = {"per_core": 1050.0, "rounds": [1200.0, 900.0] * 5}  # ahead by 10% in half the rounds: noise
    assert not clearly_faster(split, behind)
    nine_of_ten = {"per_core": 1150.0, "rounds": [1150.0] * 9 + [990.0]}  # p = 0.011
    eight_of_ten = {"per_core": 1130.0, "rounds": [1150.0] * 8 + [990.0] * 2}  # p = 0.055: not sure enough
    assert not clearly_faster(eight_of_ten, behind)
    assert clearly_faster(nine_of_ten, behind)
    barely = {"per_core": 1050.0, "rounds": [1050.0] * 10}  # every round, but 5% is not worth a flip
    assert not clearly_faster(barely, behind)


def test_a_batch_dependent_variant_does_not_ship_under_the_default_policy():
    """Adversarial finding: int8-dynamic's per-batch activation scales let 8 crafted neighbour rows flip attack flows."""
    variants = _variants(**{
        "torch-fp32": _metrics(0.90, 0.01, 0.01, 9000, 100),
        "onnx-fp32": _metrics(0.90, 0.01, 0.08, 8000, 100),
        "int8-dynamic": _metrics(0.95, 0.01, 0.05, 9000, 30, batch_dependence=0.19),
    })
    selection = select(variants, Policy())
    gated = {v["name"]: v for v in selection["variants"]}
    assert selection["chosen"] == "onnx-fp32" and gated["int8-dynamic"]["blocking"] == ["max_batch_dependence"]
    assert select(variants, Policy(max_batch_dependence=None))["chosen"] == "int8-dynamic"
