"""NSL-KDD loader: the fixture in the real format, the real files when present, and bad inputs."""

import shutil
from pathlib import Path

import pytest

from rtguard.config import DataConfig
from rtguard.data.nsl_kdd import CATEGORICAL, CLASSES, FAMILIES, FEATURES, load_nsl_kdd
from rtguard.data.prepare import prepare
from rtguard.errors import DataError

# Hand-written rows in the real format, named so they are never mistaken for the real files;
# copy_fixture lays them out under the names the loader looks for.
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "nsl_kdd"
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nsl-kdd"


def copy_fixture(tmp_path: Path, train_name: str = "KDDTrain+.txt") -> Path:
    shutil.copy(SAMPLES / "train-sample.txt", tmp_path / train_name)
    shutil.copy(SAMPLES / "test-sample.txt", tmp_path / "KDDTest+.txt")
    return tmp_path


def test_fixture_loads_as_five_classes(tmp_path):
    frames = load_nsl_kdd(copy_fixture(tmp_path))
    assert frames.train.shape == (42, 41) and frames.test.shape == (43, 41)
    assert list(frames.train.columns) == FEATURES  # label and difficulty are not features
    assert frames.classes == ["normal", "DoS", "Probe", "R2L", "U2R"] and frames.benign == "normal"
    assert frames.categorical == ["protocol_type", "service", "flag"]
    assert frames.train_labels.value_counts().to_dict() == {"normal": 12, "DoS": 10, "Probe": 8, "R2L": 7, "U2R": 5}
    assert frames.test_labels.value_counts().to_dict() == {"normal": 12, "DoS": 10, "R2L": 10, "Probe": 7, "U2R": 4}
    assert set(frames.kinds) == set(FEATURES) - set(CATEGORICAL)
    assert frames.kinds["serror_rate"] == "rate" and frames.kinds["src_bytes"] == "count"
    assert frames.counts == {}


def test_attack_names_only_in_the_test_file_map_to_their_family(tmp_path):
    raw = (SAMPLES / "test-sample.txt").read_text().splitlines()
    frames = load_nsl_kdd(copy_fixture(tmp_path))
    by_name = {line.split(",")[41]: frames.test_labels[i] for i, line in enumerate(raw)}
    assert by_name["mscan"] == "Probe" and by_name["apache2"] == "DoS"
    assert by_name["snmpguess"] == "R2L" and by_name["sqlattack"] == "U2R"


def test_every_family_name_is_a_class():
    assert CLASSES == ["normal", *FAMILIES]
    names = [name for attacks in FAMILIES.values() for name in attacks]
    assert len(names) == len(set(names)) == 39


@pytest.mark.parametrize("labels", ["multiclass", "binary"])
def test_prepare_accepts_the_fixture(labels, tmp_path):
    folder = copy_fixture(tmp_path)
    frames = load_nsl_kdd(folder)
    schema, splits, summary = prepare(frames, DataConfig(dataset="nsl-kdd", path=folder, labels=labels))
    assert schema.names == FEATURES
    assert splits.x_train.shape[1] == splits.x_test.shape[1] == 41
    assert splits.x_test.shape[0] == 43
    assert len(schema.classes) == (5 if labels == "multiclass" else 2)


def test_prefers_the_full_training_file(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "KDDTrain+_20Percent.txt").write_text((SAMPLES / "train-sample.txt").read_text().splitlines(keepends=True)[0])
    frames = load_nsl_kdd(folder)
    assert len(frames.train) == 42 and "KDDTrain+.txt" in frames.source


def test_accepts_the_20_percent_subset_and_csv_names(tmp_path):
    folder = copy_fixture(tmp_path, train_name="KDDTrain+_20Percent.csv")
    assert len(load_nsl_kdd(folder).train) == 42


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="absent does not exist"):
        load_nsl_kdd(tmp_path / "absent")
    with pytest.raises(DataError, match=r"KDDTest\+\.txt is not a folder"):
        load_nsl_kdd(copy_fixture(tmp_path) / "KDDTest+.txt")


def test_folder_without_the_files_lists_what_it_expects(tmp_path):
    (tmp_path / "KDDTest+.txt").write_text("")
    with pytest.raises(DataError, match=r"KDDTrain\+\.txt or .*KDDTrain\+_20Percent\.txt.*KDDTest\+\.txt'\]"):
        load_nsl_kdd(tmp_path)


def test_wrong_field_count_names_file_and_line(tmp_path):
    folder = copy_fixture(tmp_path)
    lines = (folder / "KDDTrain+.txt").read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace(",0,", ",0,0,", 1)
    lines[9] = lines[9].split(",", 1)[1]
    (folder / "KDDTrain+.txt").write_text("".join(lines))
    with pytest.raises(DataError, match=r"KDDTrain\+\.txt, line 5: expected 43 fields, found 44 \(2 such rows"):
        load_nsl_kdd(folder)
    frames = load_nsl_kdd(folder, skip_bad_rows=True)
    assert len(frames.train) == 40 and frames.counts == {"bad_rows_skipped": 2}


def test_unknown_attack_name_is_named_with_its_file_and_line(tmp_path):
    folder = copy_fixture(tmp_path)
    lines = (folder / "KDDTest+.txt").read_text().splitlines(keepends=True)
    fields = lines[2].split(",")
    fields[41] = "zeroday"
    lines[2] = ",".join(fields)
    (folder / "KDDTest+.txt").write_text("".join(lines))
    with pytest.raises(DataError, match=r"KDDTest\+\.txt, line 3: unknown attack name 'zeroday'"):
        load_nsl_kdd(folder)


@pytest.mark.skipif(not REAL.is_dir(), reason="the NSL-KDD files are not in ../shared/data/nsl-kdd")
def test_real_files_map_every_label_and_prepare():
    frames = load_nsl_kdd(REAL)
    assert len(frames.train) in (25_192, 125_973) and len(frames.test) == 22_544
    assert frames.counts == {}
    assert set(frames.train_labels) <= set(CLASSES) and set(frames.test_labels) == set(CLASSES)
    assert frames.train_labels.value_counts()["U2R"] >= 2
    schema, splits, summary = prepare(frames, DataConfig(dataset="nsl-kdd", path=REAL))
    assert schema.classes == CLASSES and splits.x_test.shape == (22_544, 41)
