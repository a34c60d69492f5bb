"""Verified load: the one entry point a serving process opens a variant through.

A variant is loaded only when its folder verifies against a configured public key,
and what is loaded is the verified private copy (rtguard.integrity.verified_copy).
Loading without a signature takes an explicit switch and logs a warning every time.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rtguard.artifact import ALERT_THRESHOLD_KEY
from rtguard.config import RuntimeConfig, SigningConfig
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError, DataError, RtguardError
from rtguard.integrity import verified_copy
from rtguard.integrity.files import read_regular
from rtguard.integrity.release import read_release
from rtguard.runtime.deadline import Watchdog
from rtguard.runtime.errors import ModelRejected
from rtguard.runtime.guarded import GuardedSession
from rtguard.runtime.session import create_session, session_settings
from rtguard.runtime.smoke import smoke_test

log = logging.getLogger("rtguard.runtime")


@dataclass(frozen=True)
class Trust:
    """Whose signature a load requires, or the explicit, logged choice to require none."""

    public_key: Path | None = None
    allow_unsigned: bool = False
    signature: Path | None = None  # default: <variant>/model.sig

    @classmethod
    def from_config(cls, signing: SigningConfig) -> Trust:
        return cls(signing.public_key, signing.allow_unsigned)


def load_session(variant_dir: Path, trust: Trust, settings: RuntimeConfig) -> GuardedSession:
    """Verify, validate, load and smoke-test in this process: what verify, score, serve and reload all run."""
    with trusted_folder(variant_dir, trust, settings.max_model_mib) as folder:
        session = load_folder(folder, Path(variant_dir).name, settings)
        session.release = signed_release(folder, variant_dir, trust)
        session.batch_dependence = measured_batch_dependence(folder)
    return session


def measured_batch_dependence(folder: Path) -> float | None:
    """The variant's measured batch dependence (metrics.json, signed with it), or None when it was never measured."""
    path = folder / "metrics.json"
    if not os.path.lexists(path):
        return None
    try:
        value = json.loads(read_regular(path, 64 << 20)).get("batch_dependence")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def signed_release(folder: Path, variant_dir: Path, trust: Trust) -> int | None:
    """The release number a verified copy was signed with (None when loaded unsigned)."""
    return read_release(folder, Path(variant_dir)).release if trust.public_key is not None else None


@contextmanager
def trusted_folder(variant_dir: Path, trust: Trust, max_model_mib: int) -> Iterator[Path]:
    """The folder to read the variant from: its verified private copy, or itself when explicitly unsigned.

    Errors raised inside the block name the folder the user gave, not the private copy.
    """
    folder = Path(variant_dir)
    if trust.public_key is not None:
        with verified_copy(folder, trust.public_key, max_model_mib << 20, trust.signature) as copy:
            read_release(copy, folder)  # signed for this run and this name, or refused
            try:
                yield copy
            except RtguardError as exc:
                raise type(exc)(str(exc).replace(str(copy), str(folder))) from None
        return
    if not trust.allow_unsigned:
        raise ConfigError(
            f"refusing to load {folder}: no public key to verify it with (set signing.public_key; "
            "signing.allow_unsigned = true skips verification, for development only)"
        )
    log.warning("INSECURE: loading %s WITHOUT signature verification (signing.allow_unsigned): "
                "whoever can write that folder decides what this detector does", folder)
    yield folder


def load_folder(folder: Path, name: str, settings: RuntimeConfig) -> GuardedSession:
    """A smoke-tested GuardedSession from a folder already trusted (trusted_folder)."""
    schema = read_schema(folder / "schema.json")
    session = create_session(folder / "model.onnx", settings)
    features, classes = session.get_inputs()[0].shape[1], session.get_outputs()[0].shape[-1]
    if features != len(schema.features) or (isinstance(classes, int) and classes != len(schema.classes)):
        raise ModelRejected(
            f"{folder}: the model takes {features} features and gives {classes} classes, but schema.json "
            f"lists {len(schema.features)} features and {len(schema.classes)} classes"
        )
    threshold = stated_threshold(folder, session.get_modelmeta().custom_metadata_map)
    guarded = GuardedSession(Watchdog(session, settings.deadline_ms / 1000, name), schema, settings, name,
                             record=session_settings(settings), session=session, alert_threshold=threshold)
    try:
        smoke_test(guarded)
    except RtguardError:
        guarded.close()
        raise
    return guarded


def stated_threshold(folder: Path, metadata: Mapping[str, str]) -> float | None:
    """The alert threshold a model's metadata states (rtguard.artifact), or None; a value that is no finite number is refused."""
    text = metadata.get(ALERT_THRESHOLD_KEY)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ModelRejected(f"{folder}: the model's metadata {ALERT_THRESHOLD_KEY} = {text[:40]!r} is not a finite number")
    return value


def read_schema(path: Path) -> FeatureSchema:
    """A variant's schema.json (the input contract signing binds to the model), or ModelRejected."""
    if not os.path.lexists(path):
        raise ModelRejected(f"{path} is missing: `rtguard sign` copies the run's schema into the variant before signing")
    try:
        return FeatureSchema.from_json(read_regular(path, 16 << 20).decode("utf-8"))
    except (DataError, UnicodeDecodeError) as exc:
        raise ModelRejected(f"{path} is not a usable schema: {exc}") from None
