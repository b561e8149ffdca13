"""Safe access to a trace's file and zip members.

Every way a file can be damaged ends in a one-line :class:`TraceError` naming the file
(and the layer and pass when the caller knows them): the path is checked to be a regular,
readable file before it is opened (a FIFO would block), members are read with bounded
sizes, and ``.npy`` headers are checked against what the manifest says *before* any array
is allocated.  Zip members are always read to their end, so their CRC is checked.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import TraceError

MAX_MANIFEST_BYTES = 64 * 2 ** 20  # a ResNet-50 manifest is ~100 kB
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 100 else text[:97] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def path_kind(path: Path, what: str = "trace") -> str:
    """``"file"`` for a regular file (symbolic links followed), else what it is, in words
    (``"a directory"``, ``"a FIFO (named pipe)"`` ...).  A missing path, a broken link and a
    path that cannot be examined raise a one-line :class:`TraceError`."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise TraceError(f"{what} {path} is a broken symbolic link (to "
                             f"{os.readlink(path)}); fix or remove the link") from None
        raise TraceError(f"{what} {path} does not exist; give a .trace file or a run "
                         "directory") from None
    except PermissionError:
        raise TraceError(f"{what} {path}: permission denied (a parent directory cannot be "
                         "searched); check its permissions") from None
    except OSError as exc:
        raise TraceError(f"{what} {path} cannot be examined ({_brief(exc)})") from None
    if stat.S_ISREG(mode):
        return "file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open ``path`` (already known to be a regular file) as a zip archive."""
    try:
        return zipfile.ZipFile(path, "r")
    except PermissionError:
        raise TraceError(f"trace {path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        if exc.errno in (errno.EISDIR, errno.ENXIO, errno.ENOENT):
            raise TraceError(f"trace {path} cannot be opened ({_brief(exc)})") from None
        raise TraceError(f"trace {path} is truncated or not an accelsim trace ({_brief(exc)}); "
                         "re-record or re-export it") from None
    except Exception as exc:  # zipfile reports damage as many exception types
        raise TraceError(f"trace {path} is truncated or not an accelsim trace ({_brief(exc)}); "
                         "re-record or re-export it") from None


@contextlib.contextmanager
def damage_guard(where: str, what: str) -> Iterator[None]:
    """Turn any exception of the zip, zlib and npy layers into a one-line TraceError.

    Damaged bytes surface as BadZipFile, zlib.error, EOFError, RuntimeError ("encrypted"),
    NotImplementedError (compression method), ValueError (npy header), OSError/LZMAError
    (other codecs) and more, so everything but our own errors is caught here; only zip
    and npy reading happens inside."""
    try:
        yield
    except TraceError:
        raise
    except Exception as exc:
        raise TraceError(f"{where}: {what} is corrupt ({_brief(exc)}); re-record the trace") from None


def member_info(zf: zipfile.ZipFile, name: str, where: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(name)
    except KeyError:
        raise TraceError(f"{where}: member {name} is missing from the file; the trace is "
                         "corrupt, re-record it") from None


def read_member(zf: zipfile.ZipFile, name: str, where: str,
                limit: int = MAX_MANIFEST_BYTES) -> bytes:
    """The whole member ``name`` (at most ``limit`` bytes), its CRC checked."""
    info = member_info(zf, name, where)
    if info.file_size > limit:
        raise TraceError(f"{where}: member {name} declares {info.file_size} bytes, more than "
                         f"the {limit} a trace can hold; the file is corrupt")
    with damage_guard(where, name), zf.open(info) as fh:
        return fh.read(limit + 1)


class _Counting:
    """A read-only file wrapper that counts the bytes read (the npy header length)."""

    def __init__(self, fh: Any) -> None:
        self._fh, self.count = fh, 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.count += len(data)
        return data


def _expect_header(fh: Any, name: str, dtype: np.dtype, shape: tuple[int, ...],
                   where: str) -> int:
    """Read an npy header, check its dtype and shape; return the header length in bytes."""
    counting = _Counting(fh)
    version = np.lib.format.read_magic(counting)
    if version == (1, 0):
        got_shape, _, got_dtype = np.lib.format.read_array_header_1_0(counting)
    elif version == (2, 0):
        got_shape, _, got_dtype = np.lib.format.read_array_header_2_0(counting)
    else:
        raise TraceError(f"{where}: member {name} has npy format version {version}; the "
                         "trace is corrupt")
    if got_dtype != dtype or tuple(got_shape) != shape:
        raise TraceError(f"{where}: member {name} holds {got_dtype} {list(got_shape)}, the "
                         f"manifest needs {dtype} {list(shape)}; the trace is corrupt")
    return counting.count


def _open_npy(zf: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple[int, ...],
              where: str) -> tuple[Any, int]:
    """Open member ``name``, check its header and declared size; return (file, data bytes)."""
    info = member_info(zf, name, where)
    nbytes = math.prod(shape) * dtype.itemsize
    fh = zf.open(info)
    try:
        header = _expect_header(fh, name, dtype, shape, where)
        if info.file_size != header + nbytes:
            raise TraceError(f"{where}: member {name} declares {info.file_size} bytes, but "
                             f"{list(shape)} {dtype} values take {header + nbytes}; the trace "
                             "is corrupt")
    except BaseException:
        fh.close()
        raise
    return fh, nbytes


def check_npy(zf: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple[int, ...],
              where: str) -> None:
    """Cheap check of an npy member: present, header as expected, size consistent (its
    data is not read, so its CRC is not checked: :func:`read_npy` does that)."""
    with damage_guard(where, name):
        fh, _ = _open_npy(zf, name, dtype, shape, where)
        fh.close()


def read_npy(zf: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple[int, ...],
             where: str) -> np.ndarray:
    """Read an npy member whose dtype and shape must be exactly ``dtype`` and ``shape``;
    nothing is allocated before the header and the declared size agree with them."""
    with damage_guard(where, name):
        fh, nbytes = _open_npy(zf, name, dtype, shape, where)
        with fh:
            data = fh.read(nbytes)
            trailing = fh.read(1)  # reaching the end checks the member's CRC
        if len(data) != nbytes or trailing:
            raise TraceError(f"{where}: member {name} holds {len(data) + len(trailing)}+ data "
                             f"bytes, expected {nbytes}; the trace is corrupt")
        return np.frombuffer(data, dtype=dtype).reshape(shape)
