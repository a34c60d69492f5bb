"""Anomaly detectors trained on benign flows: a dense autoencoder, and a KitNET-style ensemble.

Both score a flow by how badly they reconstruct it (preprocessing inside, like the
classifiers). `forward` returns two-class "logits" ±½ log score, so the detectors go
through the classifiers' parity-checked export unchanged: softmax turns them into
[1/(1+s), s/(1+s)], whose ratio is the score itself (rtguard/optimize/anomaly_head.py
recovers it and adds the calibrated threshold to the graph).

KitNET (Mirsky et al., "Kitsune", NDSS 2018): features are clustered by correlation
into small groups, each group gets its own small autoencoder, and an output
autoencoder judges the vector of the groups' reconstruction errors, so a flow odd in
one group stands out instead of being averaged away over all features.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from rtguard.config import AnomalyConfig
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.models.preprocessing import FlowPreprocessing

# log score is clamped to this range: softmax of [0, ±80] stays finite in float32 (e^-80 > 1e-38).
LOG_SCORE_LIMIT = 80.0
EPSILON = 1e-6  # scores below it are perfect reconstructions; float16 (the FP16 variant) still holds it
# KitNET's group errors are compared on a log scale. Below a thousandth of the (scaled) range an
# error is rounding noise: without this floor, log() magnifies the last bits in which PyTorch and ONNX
# Runtime differ into a different score.
ERROR_FLOOR = 1e-3
MIN_SPAN = 1e-3  # a feature constant on benign training flows is scaled by this, so any change shows


def score_logits(score: torch.Tensor) -> torch.Tensor:
    """[-½ log score, ½ log score] per row: softmax makes it [1/(1+s), s/(1+s)], what the classifiers' export produces.

    Symmetric rather than [0, log score]: a literal zero would share the preprocessing's constant 0
    in the exported graph, which the FP16 pass must keep float32 on one side and halve on the other.
    """
    half = 0.5 * torch.log(score.clamp(min=EPSILON)).clamp(-LOG_SCORE_LIMIT, LOG_SCORE_LIMIT)
    return torch.stack([-half, half], dim=1)


def dense_autoencoder(width: int, hidden: list[int], bounded: bool = False) -> nn.Sequential:
    """Encoder through `hidden` (the last is the bottleneck), decoder mirroring it; a linear output, or
    a sigmoid one (`bounded`) for inputs scaled to [0, 1], which can never reconstruct a value outside it."""
    widths = [width, *hidden, *reversed(hidden[:-1]), width]
    layers: list[nn.Module] = []
    for index, (inputs, outputs) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(inputs, outputs))
        if index < len(widths) - 2:
            layers.append(nn.ReLU())
    if bounded:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Score: mean squared reconstruction error over the preprocessed features (one-hot codes included)."""

    def __init__(self, schema: FeatureSchema, hidden: list[int]):
        super().__init__()
        self.preprocess = FlowPreprocessing(schema)
        self.body = dense_autoencoder(self.preprocess.output_width, hidden)

    def loss(self, features: torch.Tensor) -> torch.Tensor:
        return self.score(features).mean()

    def score(self, features: torch.Tensor) -> torch.Tensor:
        points = self.preprocess(features)
        return (self.body(points) - points).pow(2).mean(dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return score_logits(self.score(features))


class KitNet(nn.Module):
    """An autoencoder per correlated feature group, and an output autoencoder over the groups' log errors.

    As in KitNET, every autoencoder sees its inputs min-max scaled to [0, 1] on benign training
    flows and has a sigmoid output: a value outside the benign range cannot be reconstructed, so
    its error grows with its distance from normal traffic instead of being learned away.
    """

    def __init__(self, schema: FeatureSchema, groups: list[list[int]], compression: float):
        super().__init__()
        self.preprocess = FlowPreprocessing(schema)
        width = self.preprocess.output_width
        self.register_buffer("feature_group", _group_of(groups, width))
        self.indices = [torch.tensor(group, dtype=torch.long) for group in groups]  # constants of the graph
        self.ensemble = nn.ModuleList(dense_autoencoder(len(g), [_hidden(len(g), compression)], bounded=True) for g in groups)
        self.output = dense_autoencoder(len(groups), [_hidden(len(groups), compression)], bounded=True)
        # Min-max scaling of the features and of the groups' log errors, measured on benign training flows.
        self.register_buffer("feature_low", torch.zeros(width))
        self.register_buffer("feature_span", torch.ones(width))
        self.register_buffer("error_low", torch.zeros(len(groups)))
        self.register_buffer("error_span", torch.ones(len(groups)))

    def group_errors(self, features: torch.Tensor) -> torch.Tensor:
        """Mean squared error of each group's autoencoder, [rows, groups]."""
        points = (self.preprocess(features) - self.feature_low) / self.feature_span
        errors = []
        for index, autoencoder in zip(self.indices, self.ensemble):
            part = points.index_select(1, index)
            errors.append((autoencoder(part) - part).pow(2).mean(dim=1))
        return torch.stack(errors, dim=1)

    def output_input(self, features: torch.Tensor) -> torch.Tensor:
        return (torch.log(self.group_errors(features) + ERROR_FLOOR) - self.error_low) / self.error_span

    def score(self, features: torch.Tensor) -> torch.Tensor:
        errors = self.output_input(features)
        return (self.output(errors) - errors).pow(2).mean(dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return score_logits(self.score(features))


def _hidden(width: int, compression: float) -> int:
    return max(1, math.ceil(width * compression))


def _group_of(groups: list[list[int]], width: int) -> torch.Tensor:
    group_of = torch.full((width,), -1, dtype=torch.long)
    for number, group in enumerate(groups):
        group_of[group] = number
    if (group_of < 0).any():
        raise RtguardError("KitNET feature groups must cover every preprocessed feature")
    return group_of


def correlated_groups(points: np.ndarray, max_size: int) -> list[list[int]]:
    """KitNET's feature mapper: agglomerative clustering on correlation distance, clusters split until small enough.

    Constant columns (a one-hot code never seen in benign training) correlate with nothing;
    they are clustered like the others, at the largest distance.
    """
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import squareform

    width = points.shape[1]
    if width <= max_size:
        return [list(range(width))]
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.nan_to_num(np.corrcoef(points, rowvar=False), nan=0.0)
    distance = np.clip(1.0 - np.abs(correlation), 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    root = to_tree(linkage(squareform(distance, checks=False), method="average"))
    groups, pending = [], [root]
    while pending:
        node = pending.pop()
        if node.get_count() <= max_size:
            groups.append(sorted(node.pre_order()))
        else:
            pending += [node.get_right(), node.get_left()]
    return sorted(groups)


def build_detector(schema: FeatureSchema, config: AnomalyConfig, groups: list[list[int]] | None = None) -> nn.Module:
    if config.detector == "kitnet":
        if groups is None:
            raise RtguardError("a KitNET ensemble needs its feature groups (rtguard.models.autoencoder.correlated_groups)")
        return KitNet(schema, groups, config.group_compression)
    return Autoencoder(schema, config.hidden)


def load_detector(schema: FeatureSchema, config: AnomalyConfig, path: Path) -> nn.Module:
    """Rebuild the reference detector from schema, config and (KitNET) the groups stored with its weights."""
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise RtguardError(f"no weights at {path}: run `rtguard train` first") from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise RtguardError(f"cannot load weights from {path}: {exc}") from None
    groups = None
    if config.detector == "kitnet":
        group_of = tensors.get("feature_group")
        if group_of is None:
            raise RtguardError(f"{path} holds no KitNET feature groups: was it trained with anomaly.detector = \"kitnet\"?")
        groups = [torch.nonzero(group_of == number).flatten().tolist() for number in range(int(group_of.max()) + 1)]
    model = build_detector(schema, config, groups)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise RtguardError(f"cannot load weights from {path}: {exc}") from None
    return model.eval()
