"""The anomaly task's view of a prepared data set: learn from benign flows, judge every flow.

The detectors see two classes, benign and anomaly, which is what schema.json says and
what the exported `probabilities` mean; the original attack classes (and, where the
source has them, attack types such as NSL-KDD's attack names) are kept beside the
splits, so evaluation can report detection per attack class and per type, including
the types the training file never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtguard.data.frames import LabelledFrames
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.runfolder import RunFolder

BENIGN, ANOMALY = "benign", "anomaly"
CLASSES = [BENIGN, ANOMALY]
LABELS_FILE = "attack_labels.npz"


def anomaly_labels_path(run: RunFolder) -> Path:
    """Where an anomaly run keeps the original attack classes and types of its validation and test rows."""
    return run.splits.parent / LABELS_FILE


@dataclass
class AttackLabels:
    """Per row of the validation and test splits: the original class, and the finest type known."""

    classes: list[str]  # the data set's classes, benign included
    types: list[str]  # the finest labels: attack names where known, else the classes
    types_in_training: list[str]  # types present in the training data (before benign-only filtering)
    val_class: np.ndarray  # codes into `classes`
    test_class: np.ndarray
    test_type: np.ndarray  # codes into `types`

    def save(self, path: Path) -> None:
        np.savez_compressed(path, val_class=self.val_class, test_class=self.test_class, test_type=self.test_type,
                            classes=np.array(self.classes), types=np.array(self.types),
                            types_in_training=np.array(self.types_in_training))

    @classmethod
    def load(cls, path: Path) -> AttackLabels:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(classes=arrays["classes"].tolist(), types=arrays["types"].tolist(),
                       types_in_training=arrays["types_in_training"].tolist(), val_class=arrays["val_class"],
                       test_class=arrays["test_class"], test_type=arrays["test_type"])

    def summary(self, rows_dropped: int) -> dict:
        return {"classes": self.classes, "types": self.types, "types_in_training": self.types_in_training,
                "attack_rows_dropped_from_training": rows_dropped}


def to_anomaly(frames: LabelledFrames, schema: FeatureSchema, splits: Splits) -> tuple[FeatureSchema, Splits, AttackLabels, int]:
    """Benign-only training rows, binary labels elsewhere; returns the number of training attack rows dropped."""
    benign = schema.benign_index
    keep = splits.y_train == benign
    binary = lambda labels: (labels != benign).astype(np.int64)  # noqa: E731
    anomaly_schema = FeatureSchema(features=schema.features, classes=list(CLASSES), benign_class=BENIGN)
    anomaly_splits = Splits(
        x_train=splits.x_train[keep], y_train=np.zeros(int(keep.sum()), dtype=np.int64),
        x_val=splits.x_val, y_val=binary(splits.y_val), x_selection=splits.x_selection, y_selection=binary(splits.y_selection),
        x_test=splits.x_test, y_test=binary(splits.y_test),
    )
    return anomaly_schema, anomaly_splits, _attack_labels(frames, schema, splits), int((~keep).sum())


def _attack_labels(frames: LabelledFrames, schema: FeatureSchema, splits: Splits) -> AttackLabels:
    """Types from the loader when it has them for a separate test file (rows keep their order), else the classes."""
    if frames.test_types is not None and frames.test is not None and len(frames.test_types) == len(splits.x_test):
        benign_type = _benign_type(frames)
        test_names = frames.test_types.where(frames.test_labels != frames.benign, benign_type).astype(str)
        training = set(frames.train_types.astype(str)) if frames.train_types is not None else set()
        types = sorted(set(test_names) | training, key=lambda name: (name != benign_type, name))
        lookup = {name: code for code, name in enumerate(types)}
        test_type = test_names.map(lookup).to_numpy(dtype=np.int64)
        in_training = [name for name in types if name in training]
    else:
        types, test_type = list(schema.classes), splits.y_test.copy()
        in_training = [name for code, name in enumerate(types) if (splits.y_train == code).any()]
    return AttackLabels(classes=list(schema.classes), types=types, types_in_training=in_training,
                        val_class=splits.y_val.copy(), test_class=splits.y_test.copy(), test_type=test_type)


def _benign_type(frames: LabelledFrames) -> str:
    benign_names = frames.test_types[frames.test_labels == frames.benign]
    return str(benign_names.iloc[0]) if len(benign_names) else frames.benign
