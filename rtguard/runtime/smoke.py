"""The smoke test every load ends with: verify, score, serve, reload and export alike.

A model can pass every static check and still be unusable: a graph that asks for gigabytes
per call, or answers NaN at the edge of its training range. Running three rows (the
training range's low edge, high edge and middle) before anyone relies on the model turns
that into a one-line refusal at load time instead of a failure on the first real flow.
"""

from __future__ import annotations

import numpy as np

from rtguard.errors import RtguardError
from rtguard.runtime.errors import ModelRejected
from rtguard.runtime.session import INPUT_NAME


def smoke_test(session) -> None:
    """Raise ModelRejected unless the session answers edge and middle rows with probabilities."""
    features = session.schema.features
    low = [0.0 if f.kind == "categorical" else f.minimum for f in features]
    high = [float(f.oov_code) if f.kind == "categorical" else f.maximum for f in features]
    middle = [float(f.oov_code // 2) if f.kind == "categorical" else (f.minimum + f.maximum) / 2 for f in features]
    probe = np.array([low, high, middle], dtype=np.float32)
    try:
        for row in probe:  # each edge alone (what one flow can make a call cost), then the three as one batch
            session.run({INPUT_NAME: row[None]})
        probabilities = session.run({INPUT_NAME: probe})
    except ModelRejected:
        raise
    except RtguardError as exc:
        raise ModelRejected(f"{session.name} failed the smoke test on rows at the edges of its training range: {exc}") from None
    expected = (len(probe), len(session.schema.classes))
    if probabilities.shape != expected or not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0) \
            or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-2):
        raise ModelRejected(f"{session.name} failed the smoke test: rows at the edges of the training range did not "
                            f"give {expected[0]} x {expected[1]} probabilities summing to 1")
