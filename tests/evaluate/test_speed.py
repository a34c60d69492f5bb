"""The batch-size sweep takes turns like every other speed measurement (structure only, no timing)."""

import numpy as np

from rtguard.evaluate.predictors import Predictor
from rtguard.evaluate.speed import ROUNDS, measure_throughput


def test_sweep_visits_every_batch_and_predictor_in_every_round():
    calls = []

    def recorder(name):
        def predict(rows):
            calls.append((name, len(rows)))
            return rows
        return Predictor(name, predict, 0, 0.0)

    predictors = [recorder("a"), recorder("b")]
    rates = measure_throughput(predictors, np.ones((10, 3), dtype=np.float32), [1, 16, 64], seconds=0.0)
    warmup = [(p, b) for p in "ab" for b in (1, 16, 64)]
    turns = [(p, b) for r in range(ROUNDS) for b in (1, 16, 64) for p in ("ab" if r % 2 == 0 else "ba")]
    assert calls == warmup + turns  # seconds=0: one call per turn; the order of turns rotates each round
    assert set(rates) == {"a", "b"} and all(set(r) == {1, 16, 64} and min(rate.per_s for rate in r.values()) > 0 for r in rates.values())
    assert all(rate.low <= rate.per_s <= rate.high for r in rates.values() for rate in r.values())
