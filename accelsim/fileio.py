"""The one atomic file write of the project: a temporary file in the target's directory,
flushed and fsynced, renamed over the target with :func:`os.replace` (atomic on POSIX and
Windows), then the directory fsynced.  A reader sees the old file or the new one, never a
half-written one; on any error the temporary file is removed and the target left as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_path", "atomic_write", "fsync_dir"]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be
    opened, e.g. on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for the caller to write (by any means: a
    library writing to a file name, a zip writer ...); when the block ends without error it
    is fsynced and renamed over ``path``; on error it is removed."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: str | os.PathLike[str], data: str | bytes | Callable[[BinaryIO], object],
                 *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent directories: text (in
    ``encoding``), bytes, or a function that writes into the open binary file.  -> the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data.encode(encoding) if isinstance(data, str) else data)
    return target
