"""Batch dependence: does a flow's verdict depend on the flows it is batched with?

A micro-batching server runs several clients' rows in one call. A variant whose arithmetic
looks at the whole batch (dynamic INT8 quantization computes activation scales per batch)
lets one client change another's verdicts: eight crafted neighbour rows at the training
maximum flipped most susceptible attack flows of int8-dynamic. So each variant scores the
selection rows an attacker would aim at (those whose attack score lies closest to the
variant's alert threshold) alone, then each inside a batch of adversarial neighbours (every
feature at its training maximum) and inside a batch of random neighbours from the training
range; a row whose class or alert differs in either batch counts as changed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rtguard.artifact import alerts, attack_scores
from rtguard.data.schema import FeatureSchema

NEIGHBOURS = 8  # rows added to each probed row: what a few other clients' requests bring to one run
PROBED_ROWS = 256  # the selection rows closest to the threshold are probed (each costs three calls)


def neighbour_rows(schema: FeatureSchema, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(every feature at its training maximum, uniform random rows in the training range), `count` rows each."""
    high = np.array([float(f.oov_code) if f.kind == "categorical" else f.maximum for f in schema.features], dtype=np.float32)
    low = np.array([0.0 if f.kind == "categorical" else f.minimum for f in schema.features], dtype=np.float32)
    rng = np.random.default_rng(seed)
    uniform = rng.uniform(low, high, size=(count, len(high))).astype(np.float32)
    categorical = [i for i, f in enumerate(schema.features) if f.kind == "categorical"]
    uniform[:, categorical] = np.floor(uniform[:, categorical])
    return np.tile(high, (count, 1)), uniform


def batch_dependence(verdicts: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, margin: np.ndarray,
                     schema: FeatureSchema, seed: int = 0) -> dict:
    """{"batch_dependence": share of probed rows whose verdict changed, "batch_dependence_detail": counts and setup}.

    `verdicts` gives one verdict per row (a row of values: class and alert, or the alert alone); `margin` says
    how far each row's score lies from the threshold, and the closest PROBED_ROWS are probed.
    """
    probed = rows[np.sort(np.argsort(margin, kind="stable")[:PROBED_ROWS])]
    extreme, uniform = neighbour_rows(schema, NEIGHBOURS, seed)
    changed = {"adversarial": 0, "random": 0}
    either = 0
    for row in probed:
        alone = verdicts(row[None])[:1]
        flipped = False
        for kind, neighbours in (("adversarial", extreme), ("random", uniform)):
            if not np.array_equal(verdicts(np.concatenate([row[None], neighbours]))[:1], alone):
                changed[kind] += 1
                flipped = True
        either += flipped
    n = len(probed)
    return {"batch_dependence": either / n if n else None,
            "batch_dependence_detail": {"rows": n, "changed": either, "changed_adversarial": changed["adversarial"],
                                        "changed_random": changed["random"], "neighbours": NEIGHBOURS,
                                        "probed": "the selection rows closest to the alert threshold"}}


def classifier_dependence(predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, probabilities: np.ndarray,
                          schema: FeatureSchema, threshold: float, seed: int = 0) -> dict:
    """batch_dependence of a classifier: its verdict is the most likely class and the alert at `threshold`;
    `probabilities` (its own on `rows`) rank the rows by their distance to the threshold."""
    def verdicts(batch: np.ndarray) -> np.ndarray:
        scored = predict(batch)
        return np.stack([scored.argmax(axis=1), alerts(scored, schema.benign_index, threshold)], axis=1)

    margin = np.abs(attack_scores(probabilities, schema.benign_index) - np.float32(threshold))
    return batch_dependence(verdicts, rows, margin, schema, seed)
