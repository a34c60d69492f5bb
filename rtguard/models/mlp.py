"""The MLP flow classifier: preprocessing + dense layers, returning logits."""

from __future__ import annotations

import torch
from torch import nn

from rtguard.config import ModelConfig
from rtguard.data.schema import FeatureSchema
from rtguard.models.preprocessing import FlowPreprocessing


class FlowClassifier(nn.Module):
    def __init__(self, schema: FeatureSchema, config: ModelConfig):
        super().__init__()
        self.preprocess = FlowPreprocessing(schema)
        layers: list[nn.Module] = []
        width = self.preprocess.output_width
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, len(schema.classes)))
        self.body = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(self.preprocess(features))


class WithProbabilities(nn.Module):
    """What is exported: raw features in, class probabilities out."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(features), dim=1)
