"""The one atomic file write of the project, and what a failed write tells the user.

A write goes to a temporary file in the target's directory, flushed and fsynced, renamed over
the target with :func:`os.replace` (atomic on POSIX and Windows), then the directory fsynced.
A reader sees the old file or the new one, never a half-written one; on any error the
temporary file is removed and the target left as it was.

A write that the file system refuses (read-only, full, permission denied, a file where a
directory is needed or the other way round) raises :class:`WriteError`: one line naming the
target path (never the temporary file) and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from accelsim.errors import AccelsimError

__all__ = ["TEMP_PATTERNS", "WriteError", "atomic_path", "atomic_write", "check_file_target",
           "describe_os_error", "ensure_dir", "fsync_dir", "remove_temp_files", "write_error"]

#: glob patterns of the temporary files of interrupted atomic writes (this module's
#: ``.NAME.PID.HEX.tmp``, and the ``.NAME.tmp-PID-HEX`` of the trace writers)
TEMP_PATTERNS = (".*.tmp-*", ".*.tmp")
_TEMP_NAME = re.compile(r"\.(?P<name>.+?)(?:\.tmp-[\w-]*|\.\d+\.[0-9a-f]+\.tmp|\.tmp)")

#: what to do about each refused write, by errno
_FIXES = {
    errno.ENOSPC: "no space left on device; free some space or write elsewhere",
    errno.EROFS: "read-only file system; write to a writable location",
    errno.EACCES: "permission denied; check its permissions or write elsewhere",
    errno.EPERM: "operation not permitted; check its permissions or write elsewhere",
    errno.EEXIST: "file exists; remove it or choose another path",
    errno.ENOTDIR: "not a directory (a part of the path is a file); choose another path",
    errno.EISDIR: "is a directory; give a file path",
    errno.ENOENT: "no such file or directory",
    errno.EFBIG: "file too large for the file system; write elsewhere",
    errno.EIO: "input/output error; check the disk or write elsewhere",
    errno.ENAMETOOLONG: "file name too long; choose a shorter path",
}
if hasattr(errno, "EDQUOT"):
    _FIXES[errno.EDQUOT] = "disk quota exceeded; free some space or write elsewhere"
#: errors of a write itself (they carry no file name, or the temporary file's)
_WRITE_ERRNOS = frozenset(_FIXES) - {errno.ENOENT}


class WriteError(AccelsimError):
    """A file or directory that cannot be written (read-only, full, permission denied, a
    file where a directory is needed ...)."""


def _shown(name: str | os.PathLike[str] | bytes) -> str:
    """``name`` with a temporary file of an atomic write replaced by its target."""
    p = Path(os.fsdecode(name))
    m = _TEMP_NAME.fullmatch(p.name)
    return str(p.with_name(m.group("name"))) if m else str(p)


def describe_os_error(exc: OSError) -> str:
    """``path: problem; fix`` of an operating-system error (the target of an atomic write,
    never its temporary file)."""
    problem = _FIXES.get(exc.errno or -1) or (exc.strerror or str(exc) or
                                              type(exc).__name__).rstrip(".")
    problem = problem[:1].lower() + problem[1:]
    names = [p for p in (exc.filename, exc.filename2) if p is not None]
    paths = list(dict.fromkeys(_shown(p) for p in names))
    return f"{' -> '.join(paths)}: {problem}" if paths else problem


def write_error(exc: OSError, path: str | os.PathLike[str]) -> WriteError:
    """The :class:`WriteError` of writing ``path`` that failed with ``exc``."""
    if exc.filename is not None and exc.errno not in _WRITE_ERRNOS:
        return WriteError(f"cannot write {path}: {describe_os_error(exc)}")
    problem = describe_os_error(OSError(exc.errno, exc.strerror))
    return WriteError(f"cannot write {_shown(path)}: {problem}")


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create directory ``path`` (and its parents) if missing.  A file in its place, or a
    directory that cannot be created, raises :class:`WriteError`."""
    p = Path(path)
    for part in (p, *p.parents):
        if part.exists() and not part.is_dir():
            raise WriteError(f"cannot create directory {p}: {part} is a file, not a directory; "
                             "remove it or choose another path")
        if part.is_dir():
            break
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, p) from None
    return p


def check_file_target(path: str | os.PathLike[str]) -> Path:
    """Check that a file can be written at ``path`` (not a directory; its directory created
    if missing), before any work is done.  -> the path."""
    p = Path(path)
    if p.is_dir():
        raise WriteError(f"cannot write {p}: it is a directory; give a file path")
    ensure_dir(p.parent)
    return p


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
    is fsynced and renamed over ``path``; on error it is removed.  A write the file system
    refuses raises :class:`WriteError` naming ``path``."""
    target = check_file_target(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno in _WRITE_ERRNOS or exc.filename in (None, str(tmp), str(target)):
                raise write_error(exc, target) from None
            raise
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write(path: str | os.PathLike[str], data: str | bytes | Callable[[BinaryIO], object],
                 *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent directories: text (in
    ``encoding``), bytes, or a function that writes into the open binary file.  -> the path."""
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data.encode(encoding) if isinstance(data, str) else data)
    return target


def remove_temp_files(*directories: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of interrupted atomic writes (:data:`TEMP_PATTERNS`) in
    ``directories`` (not recursive; missing directories are skipped).  -> what was removed.
    Call it only while no other process writes there (e.g. under a run directory's lock)."""
    removed = []
    for d in map(Path, directories):
        if not d.is_dir():
            continue
        for pattern in TEMP_PATTERNS:
            for p in d.glob(pattern):
                if p.is_file() or p.is_symlink():
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                        removed.append(p)
    return removed
