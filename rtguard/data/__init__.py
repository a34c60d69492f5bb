"""Data sets: each loader returns LabelledFrames; `prepare` turns them into a schema and splits (the stage: data/stage.py)."""

from rtguard.data.anomaly import anomaly_labels_path
from rtguard.data.frames import LabelledFrames
from rtguard.data.prepare import prepare
from rtguard.data.stage import load_frames, prepare_run_data

__all__ = ["LabelledFrames", "anomaly_labels_path", "load_frames", "prepare", "prepare_run_data"]
