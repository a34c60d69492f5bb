"""NSL-KDD: the KDDTrain+ / KDDTest+ text files, with every attack name grouped into its family.

Each file has no header and 43 fields: the 41 KDD features, the label (`normal` or
an attack name) and a difficulty score, which is dropped because it is not a
property of the traffic. The test file holds attack names that never occur in
training (mscan, apache2, ...); they map to their family like the others.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rtguard.data.csv_reading import read_table
from rtguard.data.frames import LabelledFrames
from rtguard.errors import DataError

FEATURES = [
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
]
COLUMNS = [*FEATURES, "label", "difficulty"]
CATEGORICAL = ["protocol_type", "service", "flag"]
# The *_rate columns are fractions in [0, 1]; every other numeric feature is an integer
# (seconds, bytes, connections, logins). The 0/1 flags (land, logged_in, is_host_login,
# is_guest_login, root_shell) are counts too: integral, and their observed range is [0, 1].
KINDS = {name: "rate" if name.endswith("_rate") else "count" for name in FEATURES if name not in CATEGORICAL}

BENIGN = "normal"
FAMILIES = {
    "DoS": ("apache2", "back", "land", "neptune", "pod", "smurf", "teardrop",
            "mailbomb", "processtable", "udpstorm", "worm"),
    "Probe": ("ipsweep", "nmap", "portsweep", "satan", "mscan", "saint"),
    "R2L": ("ftp_write", "guess_passwd", "imap", "multihop", "phf", "spy", "warezclient",
            "warezmaster", "xlock", "xsnoop", "snmpguess", "snmpgetattack", "httptunnel",
            "sendmail", "named"),
    "U2R": ("buffer_overflow", "loadmodule", "perl", "rootkit", "ps", "sqlattack", "xterm"),
}
CLASSES = [BENIGN, *FAMILIES]
CLASS_OF = {BENIGN: BENIGN} | {attack: family for family, attacks in FAMILIES.items() for attack in attacks}

# Accepted file names, preferred first: the full training set over its 20 % subset.
TRAIN_FILES = ("KDDTrain+.txt", "KDDTrain+.csv", "KDDTrain+_20Percent.txt", "KDDTrain+_20Percent.csv")
TEST_FILES = ("KDDTest+.txt", "KDDTest+.csv")


def load_nsl_kdd(path: Path, skip_bad_rows: bool = False) -> LabelledFrames:
    """Read the training and test files from the folder `path`."""
    folder = Path(path)
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(f"nsl-kdd: {folder} {problem}; point the data path at the folder holding {_expected()}")
    train_file, test_file = _first_present(folder, TRAIN_FILES), _first_present(folder, TEST_FILES)
    if train_file is None or test_file is None:
        present = sorted(p.name for p in folder.iterdir())[:20]
        raise DataError(f"nsl-kdd: {folder} lacks {_expected()}; it holds {present}")
    train, train_labels, train_types, train_counts = _read(train_file, skip_bad_rows)
    test, test_labels, test_types, test_counts = _read(test_file, skip_bad_rows)
    return LabelledFrames(
        train=train, train_labels=train_labels, test=test, test_labels=test_labels,
        categorical=list(CATEGORICAL), classes=list(CLASSES), benign=BENIGN,
        source=f"NSL-KDD {train_file} + {test_file.name}", kinds=dict(KINDS),
        counts={key: train_counts.get(key, 0) + test_counts.get(key, 0) for key in train_counts | test_counts},
        train_types=train_types, test_types=test_types,
    )


def _expected() -> str:
    return f"a training file ({' or '.join(TRAIN_FILES)}) and a test file ({' or '.join(TEST_FILES)})"


def _first_present(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _read(path: Path, skip_bad_rows: bool) -> tuple[pd.DataFrame, pd.Series, pd.Series, dict[str, int]]:
    """Features, family labels, attack names (`normal` for benign) and the reader's counts."""
    frame, counts = read_table(path, names=COLUMNS, text_columns=[*CATEGORICAL, "label"], skip_bad_rows=skip_bad_rows)
    names = frame["label"].str.strip()
    labels = names.map(CLASS_OF)
    unknown = labels.isna()
    if unknown.any():
        first = unknown.idxmax()
        raise DataError(
            f"{path}, line {first}: unknown attack name {names[first]!r} "
            f"(unknown names in the file: {sorted(names[unknown].astype(str).unique())[:10]}); "
            "NSL-KDD labels are 'normal' or one of the attack names this loader maps to DoS/Probe/R2L/U2R"
        )
    features = frame[FEATURES].reset_index(drop=True)
    return features, labels.reset_index(drop=True).rename("label"), names.reset_index(drop=True).rename("type"), counts
