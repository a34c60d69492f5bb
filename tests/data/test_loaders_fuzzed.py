"""Random bytes into the data-set loaders: a frame comes back, or a DataError says what is wrong; never anything else."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtguard.config import DataConfig
from rtguard.data.csv_flows import load_csv_flows
from rtguard.data.nsl_kdd import COLUMNS, load_nsl_kdd
from rtguard.errors import DataError

# The bytes CSV parsers disagree on (quotes, carriage returns, NUL, stray encodings) beside plausible values.
PIECES = [b",", b'"', b"\r", b"\n", b"\r\n", b"\n\n", b" ", b"\x00", b"\xff", b"\x96", b"\xef\xbb\xbf", b"1", b"-2.5e3",
          b"Infinity", b"NaN", b"nan", b"1e999", b"BENIGN", b"DoS", b"normal", b"neptune", b"tcp", b"Label", b"a", b"b", b'""']
FIELDS = st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=3)), max_size=3).map(b"".join)
# Rows of three fields mostly, so that the bytes get past the field count to the parsers behind it.
ROWS = st.lists(st.lists(FIELDS, min_size=2, max_size=4).map(b",".join), max_size=8).map(b"\n".join)
BODIES = st.one_of(ROWS, st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join))
FUZZED = settings(derandomize=True, database=None, max_examples=200, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])


def _loads_or_names_the_problem(load) -> None:
    try:
        load()
    except DataError as exc:
        assert str(exc).strip(), "a DataError must say what is wrong"


@FUZZED
@given(body=BODIES, header=st.sampled_from([b"", b"a,b,Label\n", b'"a","b",Label\r\n', b"a,a,Label\n"]))
def test_a_flow_csv_of_random_bytes(tmp_path: Path, body: bytes, header: bytes):
    path = tmp_path / "flows.csv"
    path.write_bytes(header + body)
    for skip in (False, True):
        _loads_or_names_the_problem(lambda: load_csv_flows(DataConfig(dataset="csv", path=path, skip_bad_rows=skip)))


@FUZZED
@given(body=BODIES, good_rows=st.integers(0, 2))
def test_nsl_kdd_files_of_random_bytes(tmp_path: Path, body: bytes, good_rows: int):
    row = b",".join([b"0", b"tcp", b"http", b"SF", *[b"1"] * (len(COLUMNS) - 6), b"normal", b"21"]) + b"\n"
    for name in ("KDDTrain+.txt", "KDDTest+.txt"):
        (tmp_path / name).write_bytes(row * good_rows + body)
    _loads_or_names_the_problem(lambda: load_nsl_kdd(tmp_path))
