"""The Python API for notebooks: a run's chosen detector as a predictor over a pandas DataFrame of raw flows.

    import rtguard
    detector = rtguard.open_run("runs/nightly", public_key="keys/rtguard.key.pub")
    verdicts = detector.predict(flows)        # flows: one row per flow, categoricals as strings

`open_run` loads the variant the run's selection.json chose (or the one named) through the
same verified load as `rtguard serve` and `rtguard score` (rtguard.runtime.load_session:
signature, model checks, hardened session, smoke test), encodes records as /score does
(rtguard.serve.records.RecordEncoder: a categorical value training never saw takes the
out-of-vocabulary code and is named), and alerts at the artifact's own operating point
(`session.alert_threshold`, else serve.alert_threshold of `config`), so a flow gets the same
verdict here as from the server and the stream. Never imports torch or the training code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rtguard.artifact import SCORE_OUTPUTS
from rtguard.compute import in_chunks
from rtguard.config import RunConfig, load_config
from rtguard.data.schema import FeatureSchema
from rtguard.errors import DataError, RtguardError
from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, GuardedSession, InputRejected, Trust, load_session
from rtguard.serve.errors import BadRequest
from rtguard.serve.records import RecordEncoder, alert_threshold, verdicts

__all__ = ["Detector", "open_run"]


def open_run(run: str | Path, public_key: str | Path | None = None, *, variant: str | None = None,
             config: str | Path | RunConfig | None = None, allow_unsigned: bool = False) -> Detector:
    """The run's chosen variant (selection.json's `chosen`), or `variant`, verified and loaded as a Detector.

    public_key: the KEY.pub the variant's (and the selection's) signature must verify against.
    Without one the load is refused unless allow_unsigned=True (development only; logged as insecure).
    config: a TOML path or RunConfig whose runtime (limits, threads, out-of-range rule) and
    serve.alert_threshold (used only when the artifact states no threshold of its own) apply;
    the run's own config.toml is not read for this, as in `rtguard serve`.
    Raises the runtime's errors (ModelRejected, SignatureError, ...) when the variant fails verification.
    """
    run = Path(run)
    settings = config if isinstance(config, RunConfig) else load_config(Path(config) if config is not None else None)
    trust = Trust(Path(public_key) if public_key is not None else None, allow_unsigned)
    if variant is None:
        from rtguard.integrity import chosen_name  # the verified selection: only a signed decision of this run chooses

        variant = chosen_name(run, trust.public_key)
    folder = run / "variants" / variant
    if Path(variant).name != variant or not folder.is_dir():
        raise RtguardError(f"no variant {variant!r} in {run / 'variants'}")
    session = load_session(folder, trust, settings.runtime)
    return Detector(session, run, variant, alert_threshold(session.alert_threshold, settings.serve.alert_threshold),
                    settings.runtime.max_batch)


class Detector:
    """One verified variant: predict() over DataFrames of raw flows. Close it (or use `with`) to free the session."""

    def __init__(self, session: GuardedSession, run: Path, variant: str, threshold: float, max_batch: int):
        self.session, self.run, self.variant = session, run, variant
        self.alert_threshold = threshold  # on 1 - P(benign): the operating point the artifact was calibrated to
        self._max_batch = max_batch
        self._encoder = RecordEncoder(session.schema, max_records=max_batch)
        outputs = {o.name for o in session.session.get_outputs()} if session.session is not None else set()
        self._extra = [name for name in SCORE_OUTPUTS if name in outputs]

    @property
    def schema(self) -> FeatureSchema:
        return self.session.schema

    @property
    def features(self) -> list[str]:
        """The columns a flow needs, in the model's order."""
        return self.schema.names

    @property
    def classes(self) -> list[str]:
        return list(self.schema.classes)

    def predict_proba(self, flows: pd.DataFrame) -> np.ndarray:
        """Class probabilities, float32 [flows, classes] in `classes` order (NaN for a suspicious flow, see predict)."""
        return self._score(flows)[0]

    def predict(self, flows: pd.DataFrame) -> pd.DataFrame:
        """One row per flow, on the input's index: `class`, `alert`, a `score_<class>` column per class,
        the artifact's extra scores (`attack_score` or `anomaly_score`), `out_of_vocabulary` (the
        categorical features whose value training never saw, a list, empty when none), `imputed` and
        `clipped` (the input guard replaced a NaN/infinity by the training median, or moved a value
        into the training range) and `suspicious`: as `rtguard score` does, a flow holding NaN or
        infinity where training imputed none is not scored but alerted, with the reason here
        (its class is None and its scores NaN); None for every scored flow."""
        probabilities, extra, unknown, imputed, clipped, suspicious = self._score(flows)
        scored = np.array([reason is None for reason in suspicious], dtype=bool)
        results = verdicts(probabilities[scored], self.schema, self.alert_threshold,
                           [fields for fields, keep in zip(unknown, scored) if keep])
        classes, alert = np.full(len(scored), None, dtype=object), np.ones(len(scored), dtype=bool)
        classes[scored] = [result["class"] for result in results]
        alert[scored] = [result["alert"] for result in results]
        index = flows.index
        return pd.DataFrame({
            "class": pd.Series(classes, index=index, dtype=object),  # object, so a suspicious flow's class stays None
            "alert": alert,
            **{f"score_{name}": probabilities[:, index] for index, name in enumerate(self.schema.classes)},
            **extra,
            "out_of_vocabulary": unknown,
            "imputed": imputed,
            "clipped": clipped,
            "suspicious": pd.Series(suspicious, index=index, dtype=object),
        }, index=index)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Detector(run={str(self.run)!r}, variant={self.variant!r}, {len(self.features)} features -> "
                f"{self.classes}, alert_threshold={self.alert_threshold:.6g})")

    def _score(self, flows: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray], list[list[str]], np.ndarray, np.ndarray, list]:
        """Probabilities, extra scores, out-of-vocabulary features, imputed and clipped flags, and the suspicious flows' reasons."""
        rows, unknown = self._rows(flows)
        probabilities, *scores, imputed, clipped, suspicious = in_chunks(self._run, rows, self._max_batch)
        return probabilities, dict(zip(self._extra, scores)), unknown, imputed, clipped, suspicious.tolist()

    def _run(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """One chunk: probabilities, each extra score, the imputed and clipped flags and the suspicious reasons per row.

        When the guard refuses the chunk, its rows are checked one by one, as `rtguard score` does:
        a row refused for NaN/infinity training never imputed is suspicious (alerted, not scored);
        any other refusal raises InputRejected naming the flow.
        """
        n_rows = len(rows)
        probabilities = np.full((n_rows, len(self.schema.classes)), np.nan, dtype=np.float32)
        scores = [np.full(n_rows, np.nan, dtype=np.float32) for _ in self._extra]
        flags = {"imputed": np.zeros(n_rows, dtype=bool), "clipped": np.zeros(n_rows, dtype=bool)}
        suspicious = np.full(n_rows, None, dtype=object)
        if not n_rows:  # nothing to check or run: the shapes a chunk would have had
            return (probabilities, *scores, flags["imputed"], flags["clipped"], suspicious)
        try:
            checked, _, touched = self.session.inspect({INPUT_NAME: rows})
            kept = np.arange(n_rows)
        except InputRejected:
            checked, kept, touched = self._one_by_one(rows, suspicious)
        for kind, rows_touched in touched.items():
            if kind in flags:
                flags[kind][kept] = rows_touched
        if len(kept):
            answer, *extra = self.session.run_checked_outputs(checked, [OUTPUT_NAME, *self._extra])
            probabilities[kept] = answer
            for column, values in zip(scores, extra):
                column[kept] = values.reshape(len(kept))
        return (probabilities, *scores, flags["imputed"], flags["clipped"], suspicious)

    def _one_by_one(self, rows: np.ndarray, suspicious: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        good, kept, flags = [], [], []
        for position, row in enumerate(rows):
            try:
                checked, _, touched = self.session.inspect({INPUT_NAME: row[None]})
            except InputRejected as exc:
                reason = str(exc).replace("the first is row 0, ", "")
                if np.isfinite(row).all():
                    raise InputRejected(f"a flow was refused: {reason}") from None
                suspicious[position] = reason
                continue
            good.append(checked)
            kept.append(position)
            flags.append(touched)
        touched = {kind: np.array([kind in flag for flag in flags], dtype=bool) for kind in {k for flag in flags for k in flag}}
        checked = np.concatenate(good) if good else rows[:0]
        return checked, np.array(kept, dtype=int), touched

    def _rows(self, flows: pd.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
        """Encoded float32 rows; columns beyond the features are ignored, missing ones are all named."""
        if not isinstance(flows, pd.DataFrame):
            raise TypeError(f"predict takes a pandas DataFrame of flows (one column per feature), not {type(flows).__name__}")
        missing = [name for name in self.features if name not in flows.columns]
        if missing:
            raise DataError(f"the flows lack {len(missing)} feature column(s): {', '.join(map(repr, missing))} "
                            f"(the model takes {self.features})")
        rows = np.empty((len(flows), len(self.features)), dtype=np.float32)
        unknown = []
        for position, record in enumerate(flows[self.features].to_dict("records")):
            try:
                unknown.append(self._encoder.encode(record, rows[position]))
            except BadRequest as exc:
                raise DataError(f"flow {flows.index[position]!r}: {exc}") from None
        return rows, unknown
