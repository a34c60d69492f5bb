"""Read a folder only through regular files: no symlinks, no hardlinks, a size cap.

A link inside a signed folder would let bytes that were never signed (or a secret
such as /etc/shadow, read as weights) stand in for a signed file; a hardlink can be
rewritten through its other name. Each file is opened with O_NOFOLLOW and checked
through the opened descriptor, so the bytes checked are the bytes read.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from rtguard.integrity.errors import UnsafeFileError

# Paths model-signing leaves out of every signature (its default). A folder holding one is
# refused, by signing and by loading alike: "every file matches" must mean every file.
UNSIGNED_NAMES = frozenset({".git", ".gitattributes", ".github", ".gitignore"})


def regular_files(folder: Path, skip: frozenset[str] = frozenset()) -> Iterator[PurePosixPath]:
    """Relative paths of the files under `folder` (less `skip`, the signature's own names).

    Any symlink, special file or path model signing would leave out (.git) is an error
    rather than something to skip: a signed folder that holds one has been tampered with
    or was never fit to sign.
    """
    folder = Path(folder)
    unsigned = sorted(name for name in UNSIGNED_NAMES - skip if os.path.lexists(folder / name))
    if unsigned:
        raise UnsafeFileError(f"{folder} holds {', '.join(unsigned)}, which model signing leaves out of every signature: "
                              "rtguard signs and loads only folders whose every file is signed; remove it")
    return _walk(folder, PurePosixPath(), skip)


def _walk(root: Path, relative: PurePosixPath, skip: frozenset[str]) -> Iterator[PurePosixPath]:
    for entry in sorted(os.scandir(root / relative), key=lambda e: e.name):
        if entry.name in skip:
            continue
        if entry.is_symlink():
            raise UnsafeFileError(f"{entry.path} is a symbolic link: signed folders hold regular files only")
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, relative / entry.name, frozenset())
        elif not entry.is_file(follow_symlinks=False):
            raise UnsafeFileError(f"{entry.path} is not a regular file")
        else:
            yield relative / entry.name


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of one regular, singly-linked file of at most `max_bytes`.

    Checked before it is opened (a device or FIFO is never opened: opening one can block or act),
    and again through the opened descriptor, so the bytes checked are the bytes read.
    """
    try:
        check_regular(path, os.lstat(path), max_bytes)
    except FileNotFoundError:
        raise UnsafeFileError(f"{path} does not exist") from None
    except PermissionError as exc:
        raise UnsafeFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        # O_NONBLOCK: should the path become a FIFO after the check above, opening it for reading
        # would wait for a writer forever; the check below then refuses it (no effect on a regular file).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnsafeFileError(f"{path} does not exist") from None
    except OSError as exc:  # ELOOP: the last component is a symlink
        raise UnsafeFileError(f"cannot open {path} as a regular file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        check_regular(path, info, max_bytes)
        data = handle.read(info.st_size + 1)
    if len(data) != info.st_size:
        raise UnsafeFileError(f"{path} changed size while it was being read: refusing it")
    return data


def check_regular(path: Path, info: os.stat_result, max_bytes: int) -> None:
    """Refuse links, special files and files over `max_bytes`, from a stat taken without following links."""
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFileError(f"{path} is a symbolic link: only regular files are read")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path} is not a regular file")
    if info.st_nlink != 1:
        raise UnsafeFileError(f"{path} has {info.st_nlink} hard links: another name could change it after the check")
    if info.st_size > max_bytes:
        raise UnsafeFileError(f"{path} is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit (runtime.max_model_mib)")


@contextmanager
def private_copy(folder: Path, max_bytes: int, skip: frozenset[str] = frozenset()) -> Iterator[Path]:
    """Copy a folder's regular files into a private temporary folder, removed afterwards.

    What is verified and then loaded is this copy, which only this process can write:
    the originals can change after verification without changing what runs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UnsafeFileError(f"{folder} is not a folder")
    files = list(regular_files(folder, skip))
    total = sum((folder / relative).lstat().st_size for relative in files)
    if total > max_bytes:
        raise UnsafeFileError(f"{folder} holds {total:,} bytes, over the {max_bytes:,}-byte limit (runtime.max_model_mib)")
    scratch = Path(tempfile.mkdtemp(prefix="rtguard-verified-"))  # mode 0700
    try:
        copy = scratch / folder.name
        copy.mkdir()
        for relative in files:
            target = copy / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_regular(folder / relative, max_bytes))
            total -= target.stat().st_size
            if total < 0:
                raise UnsafeFileError(f"{folder} grew while it was being copied: refusing it")
        yield copy
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
