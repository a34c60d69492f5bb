import numpy as np

from rtguard.evaluate.quality import confusion_matrix, quality_metrics

CLASSES = ["benign", "dos", "scan"]


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_detection_rate_counts_any_attack_class_as_detected():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 2, 2, 1, 0, 2])  # dos predicted as scan still counts as detected
    m = quality_metrics(y_true, y_pred, CLASSES, benign=0)
    assert m["detection_rate"] == 3 / 4
    assert m["false_positive_rate"] == 1 / 4
    assert m["accuracy"] == 5 / 8
    assert m["per_class_recall"] == {"benign": 0.75, "dos": 0.5, "scan": 0.5}


def test_macro_f1_ignores_classes_absent_from_the_split():
    y = np.array([0, 0, 1, 1])
    m = quality_metrics(y, y, CLASSES, benign=0)
    assert m["macro_f1"] == 1.0
    assert "scan" not in m["per_class_recall"]
