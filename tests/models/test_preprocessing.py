import math

import torch

from rtguard.data.schema import FeatureSchema, FeatureSpec
from rtguard.models.preprocessing import FlowPreprocessing

SCHEMA = FeatureSchema(
    features=[
        FeatureSpec("bytes", "continuous", 0, 1e6, log_scale=True, center=1.0, scale=2.0),
        FeatureSpec("proto", "categorical", 0, 2, vocabulary=["tcp", "udp"]),
        FeatureSpec("rate", "rate", 0, 1, center=0.5, scale=0.25),
    ],
    classes=["benign", "attack"],
    benign_class="benign",
)


def test_numeric_features_are_log_scaled_then_standardized():
    out = FlowPreprocessing(SCHEMA)(torch.tensor([[math.e - 1, 0.0, 0.75]]))
    # numerics first (bytes, rate), then the one-hot of proto (tcp, udp, oov)
    assert torch.allclose(out[0, :2], torch.tensor([(1.0 - 1.0) / 2.0, (0.75 - 0.5) / 0.25]))
    assert out.shape == (1, 2 + 3)


def test_invalid_categorical_codes_fall_into_the_oov_bucket():
    codes = torch.tensor([0.0, 1.0, 2.0, 7.0, -1.0, 0.9])  # 0.9 rounds to 1 (udp)
    rows = torch.stack([torch.zeros(6), codes, torch.zeros(6)], dim=1)
    one_hot = FlowPreprocessing(SCHEMA)(rows)[:, 2:]
    assert one_hot.argmax(dim=1).tolist() == [0, 1, 2, 2, 2, 1]
    assert torch.all(one_hot.sum(dim=1) == 1)


def test_negative_values_of_log_scaled_features_are_clamped():
    out = FlowPreprocessing(SCHEMA)(torch.tensor([[-5.0, 0.0, 0.5], [0.0, 0.0, 0.5]]))
    assert torch.equal(out[0], out[1])
