"""The served model and its hot reload: verify, validate, smoke-test, then swap in one assignment.

Clients address one stable name (serve.model_name); behind it stands one signed variant
on one backend at a time (the pair selection.json chose, unless serve.backend or a
reload's "backend" parameter names one), numbered by a version that grows with each load. A reload prepares the
candidate on a side thread while the current model keeps answering; only a candidate that
verified, validated, passed the smoke test and keeps the input contract is swapped in.
Requests already decoded finish on the model they started with (each model has its own
batcher), so a swap fails no request. A rejected candidate changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtguard.backends import SERVING_BACKENDS
from rtguard.backends.serving import load_backend_session
from rtguard.config import RunConfig
from rtguard.errors import RtguardError
from rtguard.integrity.selection import VARIANT_NAME, chosen_name, read_selection
from rtguard.runfolder import RunFolder
from rtguard.runtime import INPUT_NAME, GuardedSession, ModelRejected, Trust
from rtguard.serve.batching import MicroBatcher
from rtguard.serve.errors import BadRequest, NotFound
from rtguard.serve.metrics import Metrics
from rtguard.serve.protocol import Contract
from rtguard.serve.records import RecordEncoder
from rtguard.serve.releases import ReleaseLedger

log = logging.getLogger("rtguard.serve")
TRITON_PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino"}


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    run: Path
    variant: str
    backend: str
    session: GuardedSession
    batcher: MicroBatcher
    contract: Contract
    records: RecordEncoder

    async def score(self, rows: np.ndarray, deadline: float, metrics: Metrics) -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
        """Probabilities for raw rows: checked on their own, then run in a batch; with what was repaired
        (counted in the metrics too) and which rows each repair touched, to tell the client."""
        checked, repaired, touched = self.session.inspect({INPUT_NAME: rows})
        for kind, count in repaired.items():
            metrics.repaired.labels(kind).inc(count)
        return await self.batcher.submit(checked, deadline), repaired, touched


class Repository:
    """The run folders beside the served one, and the one model served from them."""

    def __init__(self, run_dir: Path, variant: str | None, trust: Trust, config: RunConfig, metrics: Metrics,
                 ledger: ReleaseLedger | None = None, allow_rollback: bool = False):
        self.root = Path(run_dir).parent
        self.trust, self.config, self.metrics = trust, config, metrics
        self.ledger = ledger or ReleaseLedger(None)
        self._lock = asyncio.Lock()
        if variant is None:
            variant, chosen = decision(Path(run_dir), trust)
        else:
            chosen = None
        backend = config.serve.backend or chosen or "onnxruntime"
        self.current = self._prepare(Path(run_dir), _plain(variant, "variant"), backend, "1", serving=None, allow_rollback=allow_rollback)
        self._publish(self.current)
    def get(self, name: str, version: str | None = None) -> ServedModel:
        model = self.current
        if name != model.name:
            raise NotFound(f"unknown model {name!r}: this server serves {model.name!r}")
        if version is not None and version != model.version:
            raise NotFound(f"model {name!r} version {version!r} is not served; the current version is {model.version}")
        return model

    async def reload(self, name: str, parameters: dict) -> ServedModel:
        """Load the variant the parameters name (default: the served one again) and swap it in."""
        self.get(name)
        async with self._lock:
            run_dir, variant, backend = self._resolve(parameters)
            version = str(int(self.current.version) + 1)
            try:
                candidate = await asyncio.to_thread(self._prepare, run_dir, variant, backend, version, self.current,
                                                    parameters.get("allow_rollback", False))
            except RtguardError as exc:
                self.metrics.loads.labels("rejected").inc()
                log.warning("reload rejected; still serving version %s", self.current.version,
                            extra={"fields": {"run": run_dir.name, "variant": variant, "backend": backend, "reason": str(exc)}})
                raise
            self.current = candidate
            self._publish(candidate)
            return candidate

    def _resolve(self, parameters: dict) -> tuple[Path, str, str]:
        """Run, variant and backend to load: those named, else the run's selection (a new run), else the served ones."""
        unknown = sorted(set(parameters) - {"run", "variant", "backend", "allow_rollback"})
        if unknown:
            raise BadRequest(f"unknown load parameters {unknown}: rtguard loads a signed variant named by 'run' and 'variant', "
                             "on the backend named by 'backend' ('allow_rollback': true loads an older release)")
        for key in ("run", "variant"):
            if key in parameters:
                _plain(parameters[key], key)
        if "backend" in parameters and parameters["backend"] not in SERVING_BACKENDS:
            raise BadRequest(f"parameter 'backend' must be one of {', '.join(SERVING_BACKENDS)}")
        if not isinstance(parameters.get("allow_rollback", False), bool):
            raise BadRequest("parameter 'allow_rollback' must be true or false")
        if "run" in parameters:
            run_dir = self.root / parameters["run"]
            chosen = None
            variant = parameters.get("variant")
            if variant is None:
                variant, chosen = decision(run_dir, self.trust)
            return run_dir, variant, parameters.get("backend") or self.config.serve.backend or chosen or "onnxruntime"
        return self.current.run, parameters.get("variant", self.current.variant), parameters.get("backend", self.current.backend)

    def _prepare(self, run_dir: Path, variant: str, backend: str, version: str, serving: ServedModel | None,
                 allow_rollback: bool = False) -> ServedModel:
        """Verify, load and smoke-test the variant on its backend (one load path), check its contract and release: everything before a swap."""
        folder = RunFolder(run_dir).variant(variant)
        if not folder.is_dir():
            raise BadRequest(f"no variant {variant!r} in {run_dir}")
        session = load_backend_session(folder, self.trust, self.config.runtime, backend)
        try:
            if serving is not None:
                _same_contract(serving.session, session)
            self.ledger.admit(self.config.serve.model_name, session.release, f"{run_dir.name}/{variant}", allow_rollback)
        except RtguardError:
            session.close()
            raise
        serve = self.config.serve
        coalesce = serve.batching and session.batch_dependence == 0
        if serve.batching and not coalesce:  # one client's rows must never change another's verdict
            log.warning("not coalescing requests: the variant's verdicts depend on the rows batched with it", extra={"fields": {
                "variant": variant, "batch_dependence": "not measured" if session.batch_dependence is None else session.batch_dependence}})
        batcher = MicroBatcher(session.run_checked, coalesce=coalesce, window_s=serve.batch_window_ms / 1000,
                               max_rows=serve.max_batch_rows, observe=self.metrics.observe_batch)
        contract = Contract(len(session.schema.features), len(session.schema.classes), self.config.runtime.max_batch,
                            TRITON_PLATFORMS[backend])
        return ServedModel(serve.model_name, version, run_dir, variant, backend, session, batcher, contract,
                           RecordEncoder(session.schema, self.config.runtime.max_batch))

    def _publish(self, model: ServedModel) -> None:
        self.metrics.serving(model.name, model.version, model.run.name, model.variant)
        log.info("serving", extra={"fields": {"model": model.name, "version": model.version, "run": str(model.run),
                                              "variant": model.variant, "backend": model.backend}})


def decision(run_dir: Path, trust: Trust) -> tuple[str, str | None]:
    """The variant and backend the run's signed selection chose (rtguard.integrity.selection); refused unless it verifies."""
    try:
        selection = read_selection(run_dir, trust.public_key)
        variant = chosen_name(run_dir, trust.public_key)
    except RtguardError as exc:
        raise BadRequest(str(exc)) from None
    backend = selection.get("backend")
    return variant, backend if backend in SERVING_BACKENDS else None


def _plain(name: object, what: str) -> str:
    """A run or variant name is one folder name, never a path."""
    if not (isinstance(name, str) and VARIANT_NAME.fullmatch(name)):
        raise BadRequest(f"{what} {str(name)[:80]!r} must be the name of a folder in the repository (letters, digits, _ . + -), not a path")
    return name


def _same_contract(current: GuardedSession, candidate: GuardedSession) -> None:
    old, new = current.schema, candidate.schema
    if old.names != new.names or old.classes != new.classes:
        raise ModelRejected(
            f"{candidate.name} takes features {new.names} and gives classes {new.classes}, unlike the served model "
            f"({old.names} -> {old.classes}): a hot reload keeps the contract clients rely on; start a new server for a new one"
        )
