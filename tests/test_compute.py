"""The shared mechanics of running a model (rtguard/compute.py): chunked inference and the thread default."""

from __future__ import annotations

import os

import numpy as np
import torch

from rtguard.compute import default_threads, in_chunks


def test_rows_run_in_chunks_and_are_joined_in_order():
    rows = np.arange(10, dtype=np.float32).reshape(5, 2)
    sizes = []

    def double(part: np.ndarray) -> np.ndarray:
        sizes.append(len(part))
        return part * 2

    assert np.array_equal(in_chunks(double, rows, size=2), rows * 2)
    assert sizes == [2, 2, 1]


def test_a_tuple_result_is_joined_element_by_element():
    rows = np.arange(7, dtype=np.float32)
    scores, alerts = in_chunks(lambda part: (part + 1, part > 3), rows, size=3)
    assert np.array_equal(scores, rows + 1) and np.array_equal(alerts, rows > 3)


def test_no_rows_is_one_call_on_the_empty_slice_keeping_the_shape():
    result = in_chunks(lambda part: np.zeros((len(part), 3), dtype=np.float32), np.empty((0, 4), dtype=np.float32))
    assert result.shape == (0, 3)


def test_torch_callers_join_with_torch_cat():
    rows = np.ones((5, 2), dtype=np.float32)
    joined = in_chunks(lambda part: torch.from_numpy(part).sum(dim=1), rows, size=2, join=torch.cat)
    assert isinstance(joined, torch.Tensor) and joined.tolist() == [2.0] * 5


def test_the_thread_default_is_the_setting_else_every_core():
    assert default_threads(3) == 3
    assert default_threads(None) == default_threads(0) == (os.cpu_count() or 1) >= 1
