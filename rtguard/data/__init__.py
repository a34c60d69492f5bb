"""Data sets: each loader returns LabelledFrames (data/frames.py); data/prepare.py turns them into a schema and splits.

Only the FeatureSchema is re-exported: the serving path imports rtguard.data.schema, which runs this
file, and needs neither pandas (frames, prepare, the loaders) nor the training libraries some loaders
reach. Import the rest from its module: the data stage (load_frames, prepare_run_data) from
rtguard.data.stage, LabelledFrames from rtguard.data.frames, prepare and Splits from
rtguard.data.prepare, anomaly_labels_path from rtguard.data.anomaly.
"""

from rtguard.data.schema import FeatureSchema

__all__ = ["FeatureSchema"]
