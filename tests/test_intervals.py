"""The proportion intervals the gate uses to tell evasion rates apart on a few dozen attacked flows."""

from __future__ import annotations

import pytest

from rtguard.intervals import proportion_difference_interval, wilson


def test_wilson_is_not_a_point_at_zero_and_matches_the_published_values():
    low, high = wilson(0, 40)
    assert low == 0.0 and high == pytest.approx(0.0876, abs=1e-4)  # 0 of 40 is not "certainly 0"
    assert wilson(21, 40) == pytest.approx((0.3750, 0.6706), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_difference_interval_holds_zero_inside_noise_and_excludes_it_beyond():
    # Newcombe (1998), table II, example (a): 56/70 - 48/80 -> [0.0524, 0.3339] by the hybrid score method.
    assert proportion_difference_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-3)
    low, high = proportion_difference_interval(0, 40, 1, 40)
    assert low < 0 < high
    assert proportion_difference_interval(10, 499, 24, 500)[1] < 0
