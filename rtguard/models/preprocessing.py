"""Preprocessing as a torch module, so it is exported inside the ONNX graph.

The artifact then takes raw feature values (categoricals as integer codes) and the
model served is exactly the model evaluated: no separate scaler to drift out of sync.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rtguard.data.schema import FeatureSchema


class FlowPreprocessing(nn.Module):
    """log1p on heavy-tailed features, standardization, one-hot categorical codes.

    Categorical codes that are negative, fractional garbage or beyond the vocabulary
    fall into the out-of-vocabulary bucket instead of indexing out of range.
    """

    def __init__(self, schema: FeatureSchema):
        super().__init__()
        numeric = [f for f in schema.features if f.kind != "categorical"]
        as_tensor = lambda values, dtype=torch.float32: torch.tensor(values, dtype=dtype)  # noqa: E731
        self.register_buffer("numeric_index", as_tensor([schema.features.index(f) for f in numeric], torch.long))
        self.register_buffer("log_mask", as_tensor([f.log_scale for f in numeric], torch.bool))
        self.register_buffer("center", as_tensor([f.center for f in numeric]))
        self.register_buffer("scale", as_tensor([f.scale for f in numeric]))
        # (column, out-of-vocabulary code) per categorical feature; plain ints keep the graph static.
        self.categorical = [(i, f.oov_code) for i, f in enumerate(schema.features) if f.kind == "categorical"]
        self.output_width = len(numeric) + sum(oov + 1 for _, oov in self.categorical)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        numeric = features.index_select(1, self.numeric_index)
        numeric = torch.where(self.log_mask, torch.log1p(numeric.clamp(min=0)), numeric)
        parts = [(numeric - self.center) / self.scale]
        for column, oov in self.categorical:
            code = features[:, column : column + 1].round()
            code = torch.where((code >= 0) & (code < oov), code, torch.full_like(code, oov))
            buckets = torch.arange(oov + 1, dtype=features.dtype, device=features.device)
            parts.append((code == buckets).to(features.dtype))
        return torch.cat(parts, dim=1)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """forward on numpy rows, without gradients: float32 in, float32 out."""
        with torch.no_grad():
            return self(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))).numpy()


def preprocessed_rows(schema: FeatureSchema, rows: np.ndarray) -> np.ndarray:
    """What the in-graph preprocessing computes for raw rows, as float32: the features a tree model is fitted on."""
    return FlowPreprocessing(schema).rows(rows)
