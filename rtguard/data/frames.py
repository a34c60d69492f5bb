"""What every loader returns: raw feature tables and string labels, before encoding."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class LabelledFrames:
    """Raw flows as read from the source.

    Features keep their original values (categoricals as strings, numerics possibly
    NaN/inf); labels are class names already mapped to the classes the model learns
    (for example NSL-KDD attack names mapped to DoS/Probe/R2L/U2R). `classes` fixes
    the class order; `benign` names the benign class, which must be one of them.
    """

    train: pd.DataFrame
    train_labels: pd.Series
    test: pd.DataFrame | None
    test_labels: pd.Series | None
    categorical: list[str]
    classes: list[str]
    benign: str
    source: str
    # Feature kinds a loader knows better than inference (name -> "continuous" | "rate" | "count").
    kinds: dict[str, str] = field(default_factory=dict)
    # What the loader had to skip or fix, reported in the data summary.
    counts: dict[str, int] = field(default_factory=dict)
    # Finer labels than the classes where the source has them (NSL-KDD attack names), aligned with
    # train and test: the anomaly task reports detection per type, training-only vs test-only.
    train_types: pd.Series | None = None
    test_types: pd.Series | None = None
