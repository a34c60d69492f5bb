"""A small residual CNN (ResNet-style, after the seed article's ResNet-18 examples).

It exists so that pruning and quantization meet convolutions, batch-norm folding and
residual adds, not only dense layers. Flows enter as a 1-D sequence of preprocessed
features (Conv1d); images (the 8x8 digits) as a square picture (Conv2d).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rtguard.config import ModelConfig
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError
from rtguard.models.preprocessing import FlowPreprocessing


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn plus a shortcut (1x1 conv-bn when the shape changes), then relu."""

    def __init__(self, conv: type, norm: type, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1, self.bn1, self.relu1 = conv(c_in, c_out, 3, stride=stride, padding=1, bias=False), norm(c_out), nn.ReLU()
        self.conv2, self.bn2 = conv(c_out, c_out, 3, padding=1, bias=False), norm(c_out)
        reshaped = stride != 1 or c_in != c_out
        self.shortcut = nn.Sequential(conv(c_in, c_out, 1, stride=stride, bias=False), norm(c_out)) if reshaped else nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class CnnBody(nn.Module):
    """Stem, one residual block per stage (stages after the first halve the length), linear head."""

    def __init__(self, width: int, channels: list[int], n_classes: int, image: bool, dropout: float):
        super().__init__()
        if image:
            side = math.isqrt(width)
            if side * side != width:
                raise ConfigError(f"model.cnn_input = \"image\" needs a square number of preprocessed features; this data has {width}")
            conv, norm, self.shape = nn.Conv2d, nn.BatchNorm2d, (1, side, side)
        else:
            conv, norm, self.shape = nn.Conv1d, nn.BatchNorm1d, (1, width)
        self.stem = nn.Sequential(conv(1, channels[0], 3, padding=1, bias=False), norm(channels[0]), nn.ReLU())
        stages, c_in = [], channels[0]
        for index, c_out in enumerate(channels):
            stages.append(ResidualBlock(conv, norm, c_in, c_out, stride=1 if index == 0 else 2))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        with torch.no_grad():
            flat = self.stages(self.stem(torch.zeros(1, *self.shape))).numel()
        # Flatten, not global pooling: a feature's position is its identity in a flow record.
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x.unflatten(1, self.shape))))


class ResidualCNN(nn.Module):
    """In-graph preprocessing, then the residual CNN body; returns logits."""

    def __init__(self, schema: FeatureSchema, config: ModelConfig):
        super().__init__()
        self.preprocess = FlowPreprocessing(schema)
        self.body = CnnBody(self.preprocess.output_width, config.channels, len(schema.classes),
                            config.cnn_input == "image", config.dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.body(self.preprocess(features))
