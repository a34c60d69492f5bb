"""FeatureSchema: what the model expects as input, saved as schema.json.

The schema carries everything the in-graph preprocessing needs (log scaling,
standardization, vocabularies) and what later stages need to reason about inputs
(kinds, observed ranges, which class is benign).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from rtguard.errors import DataError

Kind = Literal["continuous", "rate", "count", "categorical"]
SCHEMA_VERSION = 1


@dataclass
class FeatureSpec:
    name: str
    kind: Kind
    minimum: float = 0.0  # observed on training data, raw units (codes for categoricals)
    maximum: float = 0.0
    log_scale: bool = False  # log1p before standardization (heavy-tailed, non-negative)
    center: float = 0.0  # standardization after the optional log
    scale: float = 1.0
    vocabulary: list[str] = field(default_factory=list)  # categoricals; code len(vocabulary) = out of vocabulary
    # The training median that replaced NaN/inf in training (data.non_finite = "impute"), so scoring imputes
    # exactly as training did; None: non-finite values are refused (data.non_finite = "reject", or an older schema).
    fill: float | None = None

    @property
    def oov_code(self) -> int:
        return len(self.vocabulary)


@dataclass
class FeatureSchema:
    features: list[FeatureSpec]
    classes: list[str]
    benign_class: str

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def benign_index(self) -> int:
        return self.classes.index(self.benign_class)

    def to_json(self) -> str:
        body = {"version": SCHEMA_VERSION, **asdict(self)}
        return json.dumps(body, indent=2)

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        try:
            raw = json.loads(text)
            if raw.pop("version") != SCHEMA_VERSION:
                raise DataError(f"unsupported schema version (expected {SCHEMA_VERSION})")
            features = [FeatureSpec(**f) for f in raw.pop("features")]
            schema = cls(features=features, **raw)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"schema.json is malformed: {exc}") from None
        if schema.benign_class not in schema.classes:
            raise DataError(f"schema.json: benign class {schema.benign_class!r} is not among {schema.classes}")
        return schema

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> FeatureSchema:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
