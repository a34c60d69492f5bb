"""Detectors: the score behind the exported logits, KitNET's feature groups, weights that round-trip."""

from __future__ import annotations

import numpy as np
import torch

from rtguard.config import AnomalyConfig
from rtguard.data.schema import FeatureSchema, FeatureSpec
from rtguard.models import save_weights
from rtguard.models.autoencoder import Autoencoder, build_detector, correlated_groups, load_detector, score_logits

SCHEMA = FeatureSchema(
    features=[FeatureSpec(name=f"f{i}", kind="continuous", center=0.0, scale=1.0) for i in range(6)]
    + [FeatureSpec(name="proto", kind="categorical", maximum=2.0, vocabulary=["tcp", "udp"])],
    classes=["benign", "anomaly"], benign_class="benign",
)


def test_softmax_of_the_logits_gives_the_score_as_odds():
    scores = torch.tensor([1e-6, 0.3, 1.0, 7.0, 1e4])
    probabilities = torch.softmax(score_logits(scores), dim=1)
    assert torch.allclose(probabilities[:, 1] / probabilities[:, 0], scores, rtol=1e-5)


def test_groups_cover_every_feature_once_and_respect_the_size_limit():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(500, 4))
    points = np.concatenate([base, base + 0.01 * rng.normal(size=(500, 4)), rng.normal(size=(500, 9)), np.zeros((500, 2))], axis=1)
    groups = correlated_groups(points, max_size=3)
    assert sorted(i for g in groups for i in g) == list(range(points.shape[1]))
    assert all(1 <= len(g) <= 3 for g in groups)
    # a feature and its near copy are grouped together
    assert all(any({i, i + 4} <= set(g) for g in groups) for i in range(4))


def test_kitnet_weights_round_trip_with_their_groups(tmp_path):
    config = AnomalyConfig(detector="kitnet", max_group_size=3)
    torch.manual_seed(0)
    model = build_detector(SCHEMA, config, [[0, 1, 2], [3, 4], [5, 6, 7, 8]])
    save_weights(model, tmp_path / "model.safetensors")
    loaded = load_detector(SCHEMA, config, tmp_path / "model.safetensors")
    rows = torch.tensor(np.random.default_rng(1).normal(size=(16, 7)), dtype=torch.float32)
    rows[:, 6] = 1.0
    assert torch.equal(model.eval().score(rows), loaded.score(rows))


def test_the_autoencoder_scores_its_reconstruction_error():
    model = Autoencoder(SCHEMA, [4, 2]).eval()
    rows = torch.zeros(3, 7)
    points = model.preprocess(rows)
    assert torch.allclose(model.score(rows), (model.body(points) - points).pow(2).mean(dim=1))
