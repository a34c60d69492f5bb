"""rtguard.spark.score in Spark's local mode gives the verdicts `rtguard score` gives for the same flows."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark==4.3.0)")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a Java runtime (none on PATH, JAVA_HOME unset)", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent.parent / "sensors"))
from sensorfiles import handmade_run, zeek_rows, zeek_tsv  # noqa: E402

from rtguard.config import DataConfig, RuntimeConfig  # noqa: E402
from rtguard.data.prepare import prepare  # noqa: E402
from rtguard.data.sensors import load_sensor_frames  # noqa: E402
from rtguard.integrity import generate_keypair  # noqa: E402
from rtguard.runtime import Trust, load_session  # noqa: E402
from rtguard.stream.lines import LineBatches  # noqa: E402
from rtguard.stream.scoring import StreamScorer  # noqa: E402

N_FLOWS = 3000


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[1]").appName("rtguard-test").config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2").config("spark.driver.memory", "512m").getOrCreate())
    yield session
    session.stop()


def test_spark_verdicts_are_rtguard_scores(spark, tmp_path):
    rows = zeek_rows(N_FLOWS)
    log = tmp_path / "conn.log"
    log.write_text(zeek_tsv(rows))
    frames = load_sensor_frames(DataConfig(dataset="zeek", path=log))
    schema, _, _ = prepare(frames, DataConfig(dataset="zeek", path=log))
    private, public = generate_keypair(tmp_path / "keys" / "rtguard.key")
    handmade_run(tmp_path / "run", schema, sign_with=private)

    frame = frames.train.copy()
    frame.insert(0, "uid", [row["uid"] for row in rows])
    frame.loc[7, "duration"] = float("nan")  # the guard imputes it or refuses it; either way the row keeps a verdict
    df = spark.createDataFrame(frame).repartition(3)
    import rtguard.spark

    scored = rtguard.spark.score(df, tmp_path / "run", "handmade", public_key=public).toPandas().set_index("uid")

    with load_session(tmp_path / "run" / "variants" / "handmade", Trust(public), RuntimeConfig(threads=1)) as session:
        out, reports = io.BytesIO(), []
        fd = os.open(log, os.O_RDONLY)
        try:
            summary = StreamScorer(session, "zeek", 0.5, out, reports.append, 65536, "uid").score(LineBatches(fd, 65536, 256, 0.0))
        finally:
            os.close(fd)
    assert summary.scored == N_FLOWS and not reports
    expected = {line["id"]: line for line in map(json.loads, out.getvalue().splitlines())}
    assert len(scored) == N_FLOWS
    for uid, verdict in scored.iterrows():
        if uid == rows[7]["uid"]:
            # imputed and scored, or refused and alerted as suspicious (the runtime guard's rule): never without a verdict
            assert verdict["rtguard_alert"] if not _null(verdict["rtguard_error"]) else not _null(verdict["rtguard_class"])
            continue
        assert _null(verdict["rtguard_error"])
        assert verdict["rtguard_alert"] == expected[uid]["alert"] and verdict["rtguard_class"] == expected[uid]["class"]
        assert list(verdict["rtguard_scores"]) == list(expected[uid]["scores"].values())


def _null(value) -> bool:
    """A Spark null as toPandas gives it (None, or NaN in an object column under pandas 3)."""
    return value is None or (isinstance(value, float) and value != value)
