"""Atomic file writes (and `sha256_file`, the one file digest): write a temp file in the target's folder, fsync, then ``os.replace``.

Every file that others read (front.json, reward model files, exported tables and figures, run metadata) goes
through here, so a killed process never leaves a half-written file: a reader sees either the old file or the new
one. Temp files keep the target's suffix because some writers (kaleido) infer the format from it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def private_files() -> Iterator[None]:
    """Files created inside are private: mode 0600, folders 0700. The user's umask still applies on top (it can
    only take permissions away), as with any file opened with an explicit mode; restored on exit."""
    umask = os.umask(0o077)
    os.umask(umask | 0o077)
    try:
        yield
    finally:
        os.umask(umask)


def temp_path_for(path: Path) -> Path:
    """A fresh, hidden, unique temp file next to ``path`` with the same suffix (the file is created empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def commit(tmp: Path, path: Path) -> Path:
    """Move a finished temp file over ``path`` atomically (same filesystem) and return ``path``."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    tmp = temp_path_for(path)
    try:
        tmp.write_bytes(data)
        return commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def link_into_place(source: Path, target: Path) -> Path:
    """Make ``target`` a copy of the file or folder ``source`` that shares its bytes (hard links; a plain copy
    across filesystems), put in place by one rename, so ``target`` is either absent or complete. Each copy stands
    on its own: removing ``source`` later leaves ``target`` intact."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staged = tmp / target.name
    try:
        if source.is_dir():
            shutil.copytree(source, staged, copy_function=_link_or_copy)
        else:
            _link_or_copy(source, staged)
        os.replace(staged, target)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copy2(source, target)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (model files are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
