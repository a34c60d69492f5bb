"""Score flow archives on Spark: a DataFrame of flows in, the same DataFrame with verdict columns out.

For months of flows in Parquet or CSV on shared storage, where `rtguard score`'s one
process is too few. Each executor's Python worker loads the variant through the same
verified, validated load as `rtguard serve` and `rtguard score` (signature, schema,
model checks, smoke test), once per worker and variant, then scores its partitions in
Arrow batches (`mapInPandas`); the driver runs the same load first, so a bad signature
fails the job before any task starts. Verdicts are those of `rtguard score`: the same
encoding (schema.json's vocabularies; a value training never saw takes the
out-of-vocabulary code), the runtime's input guard, and the artifact's own alert
threshold (rtguard.artifact.alerts). Columns appended:

    rtguard_class         the most likely class
    rtguard_alert         attack score >= threshold; true for a row of NaN/infinity the
                          guard refuses (suspicious, never dropped), null for a row not scored
    rtguard_attack_score  1 - P(benign)
    rtguard_scores        every class's probability, in schema.json's class order
    rtguard_error         why a row was not scored (null when it was)

Cluster use:

    spark-submit --master yarn --files keys/rtguard.key.pub \\
        --conf spark.executorEnv.PYSPARK_PYTHON=/opt/rtguard/.venv/bin/python score_archive.py

    # score_archive.py
    from pyspark.sql import SparkSession
    import rtguard.spark
    spark = SparkSession.builder.getOrCreate()
    flows = spark.read.parquet("hdfs:///flows/2026-11/")
    verdicts = rtguard.spark.score(flows, "/shared/runs/nightly", public_key="rtguard.key.pub")
    verdicts.write.parquet("hdfs:///verdicts/2026-11/")

The run folder must be on storage every executor can read at the same path (NFS, a
mounted bucket): executors verify the variant's files themselves rather than trust
bytes the driver shipped. The public key travels with the job (`--files`): an
executor that cannot find it at the given path looks it up with SparkFiles. The
DataFrame's columns are the model's feature names (schema.json); other columns pass
through. `rtguard score RUN PATH --engine spark` runs the same on a local Spark.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

OUTPUT_COLUMNS = ("rtguard_class", "rtguard_alert", "rtguard_attack_score", "rtguard_scores", "rtguard_error")
_SESSIONS: dict[tuple, object] = {}  # per Python worker: (variant folder, key, settings) -> a loaded GuardedSession


@dataclass(frozen=True)
class _Job:
    """What an executor needs to load and score: plain values, pickled into each task."""

    variant_dir: str
    public_key: str | None
    allow_unsigned: bool
    runtime: dict
    threshold: float | None  # None: the artifact's own operating point, else serve.alert_threshold's default
    fallback_threshold: float
    batch_rows: int
    columns: dict | None = None  # feature name -> the frame's column holding it


def score(df, run: str | Path, variant: str | None = None, public_key: str | Path | None = None, allow_unsigned: bool = False,
          runtime: dict | None = None, alert_threshold: float | None = None, batch_rows: int = 1024):
    """`df` with the verdict columns appended; `variant` defaults to the one the run's signed selection chose."""
    from pyspark.sql.types import ArrayType, BooleanType, DoubleType, StringType, StructField, StructType

    from rtguard.config import RuntimeConfig, ServeConfig

    variant_dir = _variant_dir(Path(run), variant, public_key)
    settings = RuntimeConfig(**({"threads": 1} | (runtime or {})))
    job = _Job(str(variant_dir), None if public_key is None else str(public_key), allow_unsigned, settings.model_dump(mode="json"),
               alert_threshold, ServeConfig().alert_threshold, batch_rows)
    schema = _session(job).schema  # the driver loads first: a variant that fails verification fails here, not in every task
    missing = [name for name in schema.names if name not in df.columns]
    if missing:
        from rtguard.errors import DataError

        raise DataError(f"the DataFrame lacks the model's features {missing}; its columns are {df.columns}")
    taken = [name for name in OUTPUT_COLUMNS if name in df.columns]
    if taken:
        from rtguard.errors import DataError

        raise DataError(f"the DataFrame already has columns {taken}, which scoring appends")
    # mapInPandas resolves columns by name, and a dotted name (Zeek's id.resp_p) reads as a struct field: the
    # columns travel under plain positional names and get theirs back after.
    names = list(df.columns)
    plain = df.toDF(*(f"c{index}" for index in range(len(names))))
    job = replace(job, columns={name: f"c{names.index(name)}" for name in schema.names})
    out = StructType([*(replace_name(field, f"c{index}") for index, field in enumerate(df.schema.fields)),
                      StructField("rtguard_class", StringType()), StructField("rtguard_alert", BooleanType()),
                      StructField("rtguard_attack_score", DoubleType()), StructField("rtguard_scores", ArrayType(DoubleType())),
                      StructField("rtguard_error", StringType())])
    return plain.mapInPandas(lambda frames: _score_frames(frames, job), schema=out).toDF(*names, *OUTPUT_COLUMNS)


def replace_name(field, name: str):
    from pyspark.sql.types import StructField

    return StructField(name, field.dataType, field.nullable, field.metadata)


def _variant_dir(run: Path, variant: str | None, public_key) -> Path:
    from rtguard.errors import RtguardError
    from rtguard.integrity import chosen_name
    from rtguard.runfolder import RunFolder

    folder = RunFolder(run).variant(variant or chosen_name(run, None if public_key is None else Path(public_key)))
    if not folder.is_dir():
        raise RtguardError(f"no variant folder {folder}")
    return folder.resolve()


def _session(job: _Job):
    """The worker's loaded session for this job (loaded once per worker process, verified as serve loads)."""
    key = (job.variant_dir, job.public_key, job.allow_unsigned, json.dumps(job.runtime, sort_keys=True))
    session = _SESSIONS.get(key)
    if session is None:
        from rtguard.config import RuntimeConfig
        from rtguard.runtime import Trust, load_session

        session = load_session(Path(job.variant_dir), Trust(_key_path(job.public_key), job.allow_unsigned), RuntimeConfig(**job.runtime))
        _SESSIONS[key] = session
    return session


def _key_path(public_key: str | None) -> Path | None:
    """The key as given; on an executor where that path is absent, the copy `spark-submit --files` shipped."""
    if public_key is None or os.path.exists(public_key):
        return None if public_key is None else Path(public_key)
    try:
        from pyspark import SparkFiles

        shipped = SparkFiles.get(Path(public_key).name)
    except Exception:  # no SparkContext on this process: the path as given, so the load names it
        return Path(public_key)
    return Path(shipped) if os.path.exists(shipped) else Path(public_key)


def _score_frames(frames, job: _Job):
    session = _session(job)
    encoder = FrameEncoder(session.schema, job.columns)
    from rtguard.serve.records import alert_threshold

    threshold = job.threshold if job.threshold is not None else alert_threshold(session.alert_threshold, job.fallback_threshold)
    for frame in frames:
        for start in range(0, len(frame), job.batch_rows):
            yield _score_frame(frame.iloc[start:start + job.batch_rows].reset_index(drop=True), session, encoder, threshold)


def _score_frame(frame, session, encoder: FrameEncoder, threshold: float):
    from rtguard.artifact import alerts, attack_scores
    from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, InputRejected

    n, schema = len(frame), session.schema
    rows, errors = encoder.encode(frame)
    alert: list = [None] * n
    classes: list = [None] * n
    attack: list = [None] * n
    scores: list = [None] * n
    good = [index for index in range(n) if errors[index] is None]
    checked_rows, checked = _checked(session, rows[good], good, errors, alert, INPUT_NAME, InputRejected)
    if checked:
        try:
            probabilities = session.run_checked_outputs(checked_rows, [OUTPUT_NAME])[0]
        except Exception as exc:  # a deadline or a failing kernel: this batch is reported, the job goes on
            for index in checked:
                errors[index] = f"not scored: {exc}"
        else:
            flags = alerts(probabilities, schema.benign_index, threshold).tolist()
            best = probabilities.argmax(axis=1).tolist()
            attack_values = attack_scores(probabilities, schema.benign_index).tolist()
            for position, index in enumerate(checked):
                alert[index], classes[index] = flags[position], schema.classes[best[position]]
                attack[index] = attack_values[position]
            for position, values in enumerate(probabilities.tolist()):
                scores[checked[position]] = values
    out = frame.copy()
    out["rtguard_class"], out["rtguard_alert"], out["rtguard_attack_score"] = classes, alert, attack
    out["rtguard_scores"], out["rtguard_error"] = scores, errors
    return out


def _checked(session, rows: np.ndarray, indices: list[int], errors: list, alert: list, input_name, rejected):
    """The rows the runtime's guard lets through; a refused row gets its reason, and alerts when it holds NaN/infinity."""
    if not indices:
        return rows, []
    try:
        return session.check({input_name: rows})[0], indices
    except rejected:
        pass
    kept_rows, kept = [], []
    for row, index in zip(rows, indices):
        try:
            kept_rows.append(session.check({input_name: row[None]})[0])
            kept.append(index)
        except rejected as exc:
            errors[index] = str(exc).replace("the first is row 0, ", "")
            if not np.isfinite(row).all():
                alert[index] = True  # suspicious: never a silent drop of what may be an attack
    return (np.concatenate(kept_rows) if kept_rows else rows[:0]), kept


class FrameEncoder:
    """A pandas frame of named flow records to float32 rows, with RecordEncoder's rules, column by column.

    Numbers: ints and floats (strings that parse as numbers, as a CSV without a schema gives
    them); categoricals: strings (stripped, as the CSV reader strips) or ints; anything else,
    or a missing value, is that row's error and the row is not scored.
    """

    def __init__(self, schema, columns: dict | None = None):
        self.schema = schema
        self.columns = columns or {name: name for name in schema.names}
        self.codes = [({value: code for code, value in enumerate(f.vocabulary)}, f.oov_code) if f.kind == "categorical" else None
                      for f in schema.features]

    def encode(self, frame) -> tuple[np.ndarray, list[str | None]]:
        n = len(frame)
        rows = np.zeros((n, len(self.schema.features)), dtype=np.float32)
        errors: list[str | None] = [None] * n
        with np.errstate(over="ignore"):
            for index, (feature, codes) in enumerate(zip(self.schema.features, self.codes)):
                values = frame[self.columns[feature.name]].tolist()
                column = np.zeros(n, dtype=np.float64)
                for row, value in enumerate(values):
                    code, problem = (_category(value, codes) if codes is not None else _number(value))
                    if problem is None:
                        column[row] = code
                    elif errors[row] is None:
                        errors[row] = f"feature {feature.name!r}: {problem}"
                rows[:, index] = column
        return rows, errors


def _number(value) -> tuple[float, str | None]:
    if value is None:
        return 0.0, "missing"
    if isinstance(value, bool):
        return 0.0, "takes a number, not bool"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), None
    if isinstance(value, str):
        try:
            return float(value), None
        except ValueError:
            return 0.0, f"{value.strip()[:40]!r} is not a number"
    return 0.0, f"takes a number, not {type(value).__name__}"


def _category(value, codes) -> tuple[float, str | None]:
    vocabulary, oov = codes
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0, "missing"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = str(int(value))
    if not isinstance(value, str):
        return 0.0, f"takes a string, not {type(value).__name__}"
    return float(vocabulary.get(value.strip(), oov)), None


def score_path(variant_dir: Path, source: str, target: str, format: str | None, public_key: Path | None, allow_unsigned: bool,
               runtime: dict | None = None, alerts_only: bool = False, master: str = "local[*]") -> str:
    """`rtguard score RUN PATH --engine spark`: read PATH (CSV with a header, JSON lines or Parquet; a file or a folder),
    score it on a local Spark (`master`), write the verdict rows as JSON lines under `target` (a folder, Spark's part
    files), and say what was done in one line."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from rtguard.errors import DataError

    if source == "-" or target is None:
        raise DataError("--engine spark reads a file or folder and writes a folder: give INPUT as a path and -o FOLDER")
    kind = format or _format_of(source)
    if kind not in ("csv", "jsonl", "parquet"):
        raise DataError(f"--engine spark reads csv, jsonl or parquet, not {kind!r} (sensor logs: --engine stream)")
    os.environ.setdefault("PYSPARK_PYTHON", _python())
    spark = SparkSession.builder.master(master).appName("rtguard score").config("spark.ui.enabled", "false").getOrCreate()
    try:
        reader = spark.read
        df = (reader.option("header", True).csv(source) if kind == "csv" else reader.json(source) if kind == "jsonl"
              else reader.parquet(source))
        run, variant = Path(variant_dir).parent.parent, Path(variant_dir).name
        scored = score(df, run, variant, public_key, allow_unsigned, runtime).cache()
        totals = scored.agg(F.count(F.lit(1)).alias("rows"), F.sum(F.col("rtguard_alert").cast("int")).alias("alerts"),
                            F.sum(F.col("rtguard_error").isNotNull().cast("int")).alias("errors")).first()
        (scored.where(F.col("rtguard_alert")) if alerts_only else scored).write.mode("error").json(target)
    finally:
        spark.stop()
    return (f"{totals['rows']} flows read, {totals['rows'] - totals['errors']} scored, {totals['errors']} not scored "
            f"(rtguard_error says why), {totals['alerts'] or 0} alerts; verdicts in {target}/ (Spark {master})")


def _format_of(source: str) -> str:
    name = source.rstrip("/").lower()
    for suffix, kind in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return kind
    return "parquet" if Path(source).is_dir() else "csv"


def _python() -> str:
    import sys

    return sys.executable
