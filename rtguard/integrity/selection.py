"""The run's decision, signed: selection.json names the variant that ships, so it is signed like the variants.

Unsigned, selection.json let whoever writes the run folder choose what `serve`, `score` and
`export` load (a variant that failed the ship policy, or, through "../", a signed folder of
another run). Signing a run therefore records the run's name and the release number in its
selection.json and signs it (selection.sig); every reader takes the choice only from a
verified selection of the same run, and only as a plain variant name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rtguard.errors import RtguardError
from rtguard.integrity.errors import SignatureError
from rtguard.integrity.files import read_regular
from rtguard.integrity.signing import MAX_SIGNED_FILE_BYTES, sign_file, verified_file
from rtguard.runfolder import write_text

SELECTION_NAME = "selection.json"
SELECTION_SIGNATURE = "selection.sig"
# A variant name: one path component of letters, digits and _ . + -, not starting with a dot.
VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")


def sign_selection(run: Path, private_key: Path, release: int, name: str | None = None) -> Path:
    """Bind the run's name (`name`, else its folder's) and the release into selection.json, then sign it into selection.sig."""
    path = Path(run) / SELECTION_NAME
    selection = _parse(read_regular(path, MAX_SIGNED_FILE_BYTES), path)
    write_text(path, json.dumps({**selection, "run": name or Path(run).name, "release": release}, indent=2) + "\n")
    return sign_file(path, private_key, Path(run) / SELECTION_SIGNATURE)


def read_selection(run: Path, public_key: Path | None) -> dict:
    """The run's selection.json: verified against its signature and this run's name when a public key is given."""
    run = Path(run)
    path = run / SELECTION_NAME
    if not path.exists():
        raise RtguardError(f"{run} has no {SELECTION_NAME} to choose a variant from: name the variant")
    if public_key is None:  # loading unsigned (signing.allow_unsigned): the warning is the loader's
        return _parse(read_regular(path, MAX_SIGNED_FILE_BYTES), path)
    selection = _parse(verified_file(path, public_key, run / SELECTION_SIGNATURE), path)
    if selection.get("run") != run.name:
        raise SignatureError(f"{path} was signed for run {selection.get('run')!r}, not {run.name!r}: "
                             "a signed decision applies only to the run it was signed in")
    return selection


def chosen_name(run: Path, public_key: Path | None) -> str:
    """The variant the run's (verified) selection chose, as a plain name inside the run, never a path."""
    chosen = read_selection(run, public_key).get("chosen")
    if chosen is None:
        raise RtguardError(f"no variant of {run} passed its ship policy ({SELECTION_NAME}): name the variant to use one anyway")
    if not isinstance(chosen, str) or not VARIANT_NAME.fullmatch(chosen):
        raise SignatureError(f"{Path(run) / SELECTION_NAME}: chosen {str(chosen)[:80]!r} is not a variant name "
                             "(letters, digits, _ . + -, no path)")
    return chosen


def _parse(data: bytes, path: Path) -> dict:
    try:
        selection = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RtguardError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(selection, dict):
        raise RtguardError(f"{path} is not a selection (a JSON object)")
    return selection
