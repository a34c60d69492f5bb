"""The data stage: read (or generate) the configured data set, fit the schema, write the splits."""

from __future__ import annotations

from dataclasses import asdict

from rtguard.config import DataConfig, RunConfig
from rtguard.data.anomaly import anomaly_labels_path, to_anomaly
from rtguard.data.frames import LabelledFrames
from rtguard.data.prepare import prepare
from rtguard.errors import DataError
from rtguard.runfolder import RunFolder, write_json


def load_frames(config: DataConfig) -> LabelledFrames:
    """Read (or generate) the configured data set; loaders are imported only when used."""
    if config.dataset == "synthetic":
        from rtguard.data.synthetic import generate

        return generate(n_flows=config.n_flows, seed=config.seed)
    if config.dataset == "digits":
        from rtguard.data.digits import load_digits_frames

        return load_digits_frames()
    if config.path is None:
        raise DataError(f"dataset {config.dataset!r} needs a path (--data PATH)")
    if config.dataset in ("zeek", "suricata", "cicflowmeter"):
        from rtguard.data.sensors import load_sensor_frames

        return load_sensor_frames(config)
    if config.dataset == "nsl-kdd":
        from rtguard.data.nsl_kdd import load_nsl_kdd

        return load_nsl_kdd(config.path, skip_bad_rows=config.skip_bad_rows)
    from rtguard.data.csv_flows import load_csv_flows

    return load_csv_flows(config)


def prepare_run_data(run: RunFolder, config: RunConfig) -> dict:
    """The data stage: read the data set, fit the schema, then write config, schema, splits, data.json.

    Nothing is written unless the whole data set was read and validated.
    """
    frames = load_frames(config.data)
    schema, splits, summary = prepare(frames, config.data)
    record = asdict(summary)
    if config.task.kind == "anomaly":  # benign-only training; the attack classes kept beside the splits
        schema, splits, attacks, dropped = to_anomaly(frames, schema, splits)
        record["anomaly"] = attacks.summary(dropped)
        record["rows"]["train"] = int(len(splits.x_train))
    run.invalidate_after("data")
    run.save_config(config)
    run.splits.parent.mkdir(parents=True, exist_ok=True)
    splits.save(run.splits)
    if config.task.kind == "anomaly":
        attacks.save(anomaly_labels_path(run))
    schema.save(run.schema)
    write_json(run.data_summary, record)
    return record
