"""The security evaluation on the tiny run: attacks stay inside the threat model, and the numbers mean what they say."""

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.config import dump_config, validate_config
from rtguard.data.prepare import Splits, prepare
from rtguard.data.schema import FeatureSchema
from rtguard.data.stage import load_frames
from rtguard.evaluate.attacks import BlackBoxBudget, hopskipjump, whitebox_rows
from rtguard.evaluate.predictors import Predictor, onnx_predictor, torch_predictor
from rtguard.evaluate.privacy import membership_inference
from rtguard.evaluate.robustness import noisy_rows, outcome, robustness_metrics
from rtguard.evaluate.threat_model import ThreatModel, threat_model
from rtguard.models import load_model
from rtguard.runfolder import RunFolder
from rtguard.train.loop import train_classifier

BUDGET = BlackBoxBudget(iterations=5, init_eval=10, max_eval=50, starts=32)


@pytest.fixture(scope="module")
def tiny(tiny_run):
    """The tiny run's reference, data and threat model, and its attack flows."""
    run = RunFolder(tiny_run[0])
    config = run.load_config()
    schema, splits = FeatureSchema.load(run.schema), Splits.load(run.splits)
    attacks = splits.y_test != schema.benign_index
    return SimpleNamespace(run=run, config=config, schema=schema, splits=splits, benign=schema.benign_index,
                           n_classes=len(schema.classes), model=load_model(schema, config.model, run.weights),
                           threat=threat_model(schema, "synthetic", None), x=splits.x_test[attacks][:60], y=splits.y_test[attacks][:60])


def session(tiny, name: str) -> Predictor:
    return onnx_predictor(name, tiny.run.variant(name) / "model.onnx", 1, tiny.config.runtime)


def recording(predictor: Predictor) -> tuple[Predictor, list[np.ndarray]]:
    """The predictor, keeping every batch it is asked about."""
    seen = []

    def predict(rows):
        seen.append(rows.copy())
        return predictor.predict(rows)

    return Predictor(predictor.name, predict, predictor.file_bytes, predictor.load_seconds), seen


def assert_valid(threat: ThreatModel, originals: np.ndarray, rows: np.ndarray) -> None:
    """Each row is a valid flow derived from some original: immutables and codes kept, bounds, counts integral."""
    keys = {row[~threat.mutable].tobytes() for row in originals}
    assert all(row[~threat.mutable].tobytes() in keys for row in rows)
    low = np.minimum(threat.lower, originals.min(axis=0))
    high = np.maximum(threat.upper, originals.max(axis=0))
    assert np.all(rows >= np.float32(low)) and np.all(rows <= np.float32(high))
    assert np.all(rows[:, threat.integral] == np.round(rows[:, threat.integral]))


def test_evasion_rate_counts_only_flows_detected_before_the_attack():
    before = np.array([0, 1, 2, 1, 1])  # benign is 0: the first flow was missed already
    after = np.array([0, 0, 2, 0, 1])
    truth = np.array([1, 1, 2, 1, 2])
    evasion, robust, size = outcome(before, after, truth, np.array([0.0, 0.5, 0.2, 0.7, 0.1]), benign=0)
    assert evasion == 2 / 4 and robust == 1 / 5 and size == pytest.approx(0.375)
    assert outcome(np.zeros(3, int), np.zeros(3, int), np.ones(3, int), np.zeros(3), benign=0) == (None, 0.0, None)


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(eps=st.floats(0, 3), start=st.integers(0, 40))
def test_whitebox_examples_respect_mask_bounds_and_types(tiny, eps, start):
    x = tiny.x[start : start + 20]
    for rows in (by_eps[eps] for by_eps in whitebox_rows(tiny.model, tiny.threat, x, tiny.benign, tiny.n_classes, [eps], 5).values()):
        assert_valid(tiny.threat, x, rows)
        assert np.all(tiny.threat.distance(x, rows) <= eps + 1e-5)


def test_a_zero_budget_changes_nothing_and_evades_nothing(tiny):
    crafted = whitebox_rows(tiny.model, tiny.threat, tiny.x, tiny.benign, tiny.n_classes, [0.0], 5)
    for predictor in (torch_predictor(lambda: tiny.model, tiny.run.weights, 1), session(tiny, "int8-dynamic")):
        before = predictor.predict(tiny.x).argmax(axis=1)
        for by_eps in crafted.values():
            assert np.array_equal(by_eps[0.0], tiny.x)
            rows = by_eps[0.0]
            assert outcome(before, predictor.predict(rows).argmax(axis=1), tiny.y, tiny.threat.distance(tiny.x, rows), tiny.benign)[0] == 0


def test_hopskipjump_only_queries_the_onnx_session(tiny):
    """No model, no gradients: the attack gets a predict function, and every row it sends is a valid flow."""
    target, seen = recording(session(tiny, "int8-static"))
    detected = tiny.x[target.predict(tiny.x).argmax(axis=1) != tiny.benign][:4]
    seen.clear()
    pool = tiny.splits.x_train[tiny.splits.y_train == tiny.benign][:32]
    result = hopskipjump(target.predict, tiny.threat, detected, pool, tiny.benign, tiny.n_classes, BUDGET, seed=0)

    queried = np.concatenate(seen)
    assert len(queried) == result.queries.sum() > 0
    assert_valid(tiny.threat, detected, queried)
    assert_valid(tiny.threat, detected, result.rows)
    scored = target.predict(result.rows).argmax(axis=1)
    assert np.array_equal(scored == tiny.benign, result.evades)
    assert np.all(result.distance[result.evades] > 0)  # a detected flow is never evaded at ε = 0


def test_every_row_a_variant_sees_is_a_valid_flow_and_fp32_twins_agree(tiny):
    """Transfer rows and black-box queries reach the ONNX sessions as valid raw flows; onnx-fp32 computes
    what the reference computes, so the transferred rows evade both alike."""
    robustness = validate_config({"evaluate": {"robustness": {
        "attack_flows": 40, "blackbox_flows": 3, "blackbox_iterations": 3, "blackbox_starts": 16, "noise_rows": 200,
        "membership_rows": 100}}}).evaluate.robustness
    spied = [recording(session(tiny, name)) for name in ("onnx-fp32", "int8-dynamic")]
    reference = torch_predictor(lambda: tiny.model, tiny.run.weights, 1)
    results = robustness_metrics([reference] + [p for p, _ in spied], tiny.model, tiny.threat, tiny.schema, tiny.splits, robustness)

    flows = np.concatenate([tiny.splits.x_train, tiny.splits.x_val, tiny.splits.x_selection])  # the noise and membership rows too
    for _, seen in spied:
        assert_valid(tiny.threat, flows, np.concatenate(seen))
    for attack in ("fgsm", "pgd"):
        assert results["onnx-fp32"]["evasion_rate"][attack] == results["torch-fp32"]["evasion_rate"][attack]
    assert set(results["int8-dynamic"]["evasion_rate"]) == {"fgsm", "pgd", "hopskipjump"}
    assert results["int8-dynamic"]["robustness"]["samples"]["hopskipjump"]["flows"] == 3


def test_the_same_seed_gives_the_same_numbers(tiny):
    robustness = validate_config({"evaluate": {"robustness": {
        "attack_flows": 30, "blackbox_flows": 3, "blackbox_iterations": 3, "blackbox_starts": 16, "noise_rows": 100,
        "membership_rows": 60}}}).evaluate.robustness
    runs = [robustness_metrics([session(tiny, "int8-dynamic")], tiny.model, tiny.threat, tiny.schema, tiny.splits, robustness)
            for _ in range(2)]
    for metrics in runs:
        for key in ("seconds", "total_seconds"):
            metrics["int8-dynamic"]["robustness"].pop(key)
    assert runs[0] == runs[1]


def test_a_bad_threat_model_fails_before_the_old_metrics_are_touched(tiny_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(tiny_run[0], folder)
    run = RunFolder(folder)
    config = run.load_config()
    bad = config.model_copy(update={"evaluate": config.evaluate.model_copy(update={
        "robustness": config.evaluate.robustness.model_copy(update={"mutable": ["src_bytes", "src_byte"]})})})
    run.config.write_text(dump_config(bad))
    before = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}

    result = CliRunner().invoke(app, ["evaluate", str(folder)])
    assert result.exit_code == 2
    assert "src_byte" in result.output and "its features:" in result.output
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == before


def test_every_variant_of_a_run_records_the_security_metrics(tiny_run):
    run, report = tiny_run
    benign = report["dataset"]["classes"].index(report["dataset"]["benign_class"])
    attack_flows = int((Splits.load(RunFolder(run).splits).y_selection != benign).sum())  # the attacks are drawn from there
    for variant in report["variants"]:
        metrics = variant["metrics"]
        for key in ("evasion_rate", "robust_accuracy", "mean_perturbation"):
            assert set(metrics[key]) == {"fgsm", "pgd", "hopskipjump"}
            for by_eps in metrics[key].values():
                assert list(by_eps) == ["0.25", "0.5", "1", "2"]
        assert all(0 <= rate <= 1 for by_eps in metrics["evasion_rate"].values() for rate in by_eps.values() if rate is not None)
        noise = metrics["noise_accuracy"]
        assert list(noise) == ["0.25", "0.5", "1", "2"] and all(0 <= accuracy <= 1 for accuracy in noise.values())
        assert 0 <= metrics["membership_auc"] <= 1 and 0 <= metrics["membership_tpr_at_low_fpr"] <= 1
        samples = metrics["robustness"]["samples"]
        assert samples["fgsm"]["flows"] == min(100, attack_flows) and samples["hopskipjump"]["flows"] == 6
        assert (samples["hopskipjump"]["queries_per_flow_max"] > 0) == (samples["hopskipjump"]["detected"] > 0)


@pytest.fixture(scope="module")
def weak_and_trained():
    """The tiny data with a deliberately weak reference (1 epoch) and a trained one (early stopping)."""
    config = validate_config({"data": {"n_flows": 3000, "seed": 7}, "model": {"hidden": [16]}, "train": {"batch_size": 256}})
    schema, splits, _ = prepare(load_frames(config.data), config.data)
    models = {epochs: train_classifier(schema, splits, config.model, config.train.model_copy(update={"epochs": epochs}),
                                       show_progress=False).model.eval() for epochs in (1, 30)}
    return schema, splits, models


def test_a_weak_model_is_easier_to_evade_than_a_trained_one(weak_and_trained):
    schema, splits, models = weak_and_trained
    threat, benign = threat_model(schema, "synthetic", None), schema.benign_index
    x, y = splits.x_test[splits.y_test != benign], splits.y_test[splits.y_test != benign]
    rates = {}
    for epochs, model in models.items():
        predict = _classes(model)
        pgd = whitebox_rows(model, threat, x, benign, len(schema.classes), [0.5, 1.0], 10)["pgd"]
        rates[epochs] = [outcome(predict(x), predict(rows), y, threat.distance(x, rows), benign)[0] for rows in pgd.values()]
    assert all(weak > trained for weak, trained in zip(rates[1], rates[30])), rates


def test_noise_costs_a_trained_model_more_as_it_grows(weak_and_trained):
    schema, splits, models = weak_and_trained
    threat, predict, rng = threat_model(schema, "synthetic", None), _classes(models[30]), np.random.default_rng(0)
    accuracy = [(predict(noisy_rows(threat, splits.x_test, sigma, rng)) == splits.y_test).mean() for sigma in (0.25, 1.0, 4.0)]
    assert accuracy[0] > accuracy[1] - 0.01 and accuracy[1] > accuracy[2], accuracy


def test_membership_inference_is_chance_on_flows_the_model_never_saw(weak_and_trained):
    schema, splits, models = weak_and_trained
    predict = _probabilities(models[30])
    half = len(splits.x_test) // 2
    unseen = membership_inference(predict, (splits.x_test[:half], splits.y_test[:half]),
                                  (splits.x_test[half:], splits.y_test[half:]), len(schema.classes), seed=0)
    assert 0.4 < unseen["auc"] < 0.6 and unseen["tpr_at_low_fpr"] < 0.1


def _probabilities(model):
    import torch

    def predict(rows):
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(rows)), dim=1).numpy()

    return predict


def _classes(model):
    probabilities = _probabilities(model)
    return lambda rows: probabilities(rows).argmax(axis=1)
