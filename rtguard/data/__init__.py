"""Data sets: each loader returns LabelledFrames; `prepare` turns them into a schema and splits.

The data stage (load_frames, prepare_run_data) lives in rtguard.data.stage and is not re-exported here:
the serving path imports rtguard.data.schema, which runs this file, and the stage reaches loaders
that need training-only libraries (scikit-learn's digits). Import it from rtguard.data.stage.
"""

from rtguard.data.anomaly import anomaly_labels_path
from rtguard.data.frames import LabelledFrames
from rtguard.data.prepare import prepare

__all__ = ["LabelledFrames", "anomaly_labels_path", "prepare"]
