"""What a signature decides, not only which bytes it covers: run, variant name and release number.

A signature over a variant's bytes alone lets whoever writes the run folders choose among
signed variants: rename one, move it into another run, or bring back an older one. Each
signed variant therefore carries release.json, signed with its other files:

    {"run": "<run folder name>", "variant": "<variant folder name>", "release": <int>}

A load from a run folder (RUN/variants/NAME, where serve, score and export look) refuses a
variant whose release.json names another run or variant than that folder, and a server refuses a release older than the highest it has served
(rtguard.serve.releases). Release numbers come from a counter kept beside the private key
(KEY.release), so only the key holder issues them and each signing gets a larger one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rtguard.integrity.errors import SignatureError
from rtguard.integrity.files import read_regular
from rtguard.runfolder import write_text

RELEASE_NAME = "release.json"


@dataclass(frozen=True)
class Release:
    run: str | None  # None: a variant signed outside a run folder
    variant: str
    release: int


def run_of(variant: Path) -> str | None:
    """The run a variant folder belongs to (RUN/variants/NAME), or None outside a run."""
    variant = Path(variant)
    return variant.parent.parent.name if variant.parent.name == "variants" else None


def next_release(private_key: Path) -> int:
    """One above the last release number issued with this key (KEY.release, owner-only), recorded before it is used."""
    counter = Path(f"{private_key}.release")
    last = 0
    if counter.exists():
        text = read_regular(counter, 64).decode("ascii", errors="replace").strip()
        if not text.isdigit():
            raise SignatureError(f"{counter} holds {text[:20]!r}, not a release number: restore it (the last release issued)")
        last = int(text)
    partial = counter.with_name(f".{counter.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{last + 1}\n")
    os.replace(partial, counter)
    return last + 1


def write_release(variant: Path, release: int, run: str | None = None) -> None:
    """Bind the variant's run (`run`, else its run folder's name), name and release number into the folder, before it is signed."""
    variant = Path(variant)
    document = {"run": run or run_of(variant), "variant": variant.name, "release": release}
    write_text(variant / RELEASE_NAME, json.dumps(document, indent=2) + "\n")


def read_release(folder: Path, shown: Path) -> Release:
    """The release.json of a verified copy, checked against the folder `shown` it was loaded from."""
    path = Path(folder) / RELEASE_NAME
    if not path.exists():
        raise SignatureError(f"{shown} has no {RELEASE_NAME}: it was signed before signatures bound run, variant and release; "
                             f"sign it again with `rtguard sign`")
    try:
        document = json.loads(read_regular(path, 1 << 16))
        release = Release(document["run"], document["variant"], document["release"])
    except (ValueError, KeyError, TypeError):
        raise SignatureError(f"{shown}/{RELEASE_NAME} is not a release record (run, variant, release)") from None
    if not isinstance(release.release, int) or isinstance(release.release, bool) or release.release < 1:
        raise SignatureError(f"{shown}/{RELEASE_NAME}: release {release.release!r} is not a positive integer")
    shown = Path(shown)
    if run_of(shown) is None:  # a folder named on its own (a Triton version folder, a copy to inspect): the record travels as is
        return release
    if release.variant != shown.name:
        raise SignatureError(f"{shown} was signed as variant {release.variant!r}, not {shown.name!r}: "
                             "a signed variant loads only under the name it was signed with")
    if release.run != run_of(shown):
        raise SignatureError(f"{shown} was signed in run {release.run!r}, not {run_of(shown)!r}: "
                             "a signed variant loads only from the run it was signed in")
    return release
