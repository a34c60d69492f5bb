"""Adversarial training: attacks inside the threat model, and a model that resists them better."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtguard.config import AdversarialConfig
from rtguard.evaluate.attacks import InSpace
from rtguard.train.adversarial import perturb
from rtguard.train.loop import train_classifier


def _attack(context, model, rows, labels, method="pgd", epsilon=0.5):
    threat = context.threat()
    points = torch.from_numpy(threat.to_space(rows).astype(np.float32))
    low, high = (torch.from_numpy(threat.to_space(b).astype(np.float32)) for b in threat.bounds(rows))
    movable = torch.from_numpy(threat.mutable)[None, :] & torch.from_numpy(labels != context.schema.benign_index)[:, None]
    settings = AdversarialConfig(method=method, epsilon=epsilon, pgd_steps=5)
    torch.manual_seed(0)
    attacked = perturb(InSpace(model, threat), points, low, high, movable, settings, context.schema.benign_index)
    return threat, points, low, high, movable, attacked


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_the_training_attack_moves_only_attack_flows_within_the_threat_model(tiny_context, method):
    splits = tiny_context.splits
    rows, labels = splits.x_train[:512], splits.y_train[:512]
    threat, points, low, high, movable, attacked = _attack(tiny_context, tiny_context.reference, rows, labels, method)
    moved = (attacked - points).abs()
    assert moved[~movable].max() == 0  # benign flows, immutable features and categoricals stay as they were
    assert moved.max() <= 0.5 + 1e-5 and moved[movable].max() > 0
    assert bool(((attacked >= low - 1e-5) & (attacked <= high + 1e-5)).all())


def _benign_share(model, threat, points, rows):
    with torch.no_grad():
        return float(torch.softmax(InSpace(model, threat)(points[rows]), dim=1)[:, 0].mean())


def test_the_training_attack_pushes_attack_flows_toward_benign(tiny_context):
    splits = tiny_context.splits
    rows, labels = splits.x_train[:512], splits.y_train[:512]
    threat, points, _, _, _, attacked = _attack(tiny_context, tiny_context.reference, rows, labels)
    attacks = torch.from_numpy(labels != tiny_context.schema.benign_index)
    assert tiny_context.schema.benign_index == 0
    assert _benign_share(tiny_context.reference, threat, attacked, attacks) > _benign_share(tiny_context.reference, threat, points, attacks)


def _evasion(context, model, epsilon: float) -> float:
    """Share of the detected test attack flows that PGD at `epsilon` turns benign (crafted on the model itself)."""
    splits, benign = context.splits, context.schema.benign_index
    attack_rows = splits.x_test[splits.y_test != benign][:400]
    labels = splits.y_test[splits.y_test != benign][:400]
    threat, points, _, _, _, attacked = _attack(context, model, attack_rows, labels, epsilon=epsilon)
    with torch.no_grad():
        space = InSpace(model.eval(), threat)
        detected = space(points).argmax(dim=1) != benign
        evaded = space(attacked).argmax(dim=1) == benign
    return float((evaded & detected).sum() / detected.sum())


def test_adversarial_training_lowers_the_evasion_rate(tiny_context, tiny_config):
    """White-box PGD against each model; summed over three budgets, since on 3,000 tiny flows one
    budget alone is noisy (hardened/plain was 0.63-0.67 summed, per budget 0.43-0.83, seeds 0 and 1)."""
    splits, schema = tiny_context.splits, tiny_context.schema
    settings = tiny_config.train.model_copy(update={"epochs": 4, "adversarial": AdversarialConfig(method="pgd", epsilon=1.0)})
    plain = train_classifier(schema, splits, tiny_config.model, settings.model_copy(update={"adversarial": AdversarialConfig()}), show_progress=False)
    hardened = train_classifier(schema, splits, tiny_config.model, settings, show_progress=False, threat=tiny_context.threat())
    assert hardened.record["settings"]["adversarial"]["method"] == "pgd"
    assert plain.record["settings"]["adversarial"]["method"] == "none"
    budgets = (0.5, 1.0, 2.0)
    assert sum(_evasion(tiny_context, hardened.model, e) for e in budgets) < 0.8 * sum(_evasion(tiny_context, plain.model, e) for e in budgets)


def test_the_adversarial_variant_records_its_attack_and_cost(tiny_run):
    import json

    folder, _ = tiny_run
    record = json.loads((folder / "variants" / "adversarial" / "variant.json").read_text())
    chosen = record["recipe"][0]["chosen"]
    assert record["recipe"][0]["pass"] == "adversarial-finetuning"
    assert chosen["method"] == "pgd" and chosen["epsilon"] == 0.5 and "src_bytes" in chosen["mutable"]
    assert record["cost"]["train_seconds"] > 0


def test_gradients_stay_finite_far_out_on_a_feature_that_is_not_log_scaled(tiny_context):
    """expm1 of a large linear-scale value overflows; the attack must not see its NaN gradient."""
    threat = tiny_context.threat()
    linear = int(np.flatnonzero(~threat.log_scale)[0])
    points = torch.zeros((2, len(threat.names)), requires_grad=True)
    with torch.no_grad():
        points[:, linear] = 1000.0
    InSpace(tiny_context.reference, threat)(points).sum().backward()
    assert torch.isfinite(points.grad).all()
