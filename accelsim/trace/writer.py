"""Streaming, atomic trace writer.

Layers are encoded and written one at a time (a whole ResNet-50/ImageNet step never has
to sit in memory); the file appears at its final path only when :meth:`TraceWriter.close`
succeeds (temp file in the same directory, fsync, rename).  An exception inside the
``with`` block removes the temp file and leaves any existing trace untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import TraceError
from accelsim.fileio import atomic_path
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.schema import (
    FORMAT_NAME,
    MANIFEST_NAME,
    PASS_ROLES,
    SCHEMA_VERSION,
    TraceMetadata,
    density_key,
    encode_tensor,
    passes_for_mode,
)


def _write_npy(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with zf.open(name, "w", force_zip64=True) as fh:
        np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)


class TraceWriter:
    """Write one trace file.

    >>> with TraceWriter("step-10.trace", metadata) as w:          # doctest: +SKIP
    ...     w.add_layer(geometry, {"forward": {"weight": W, "activation": X}})
    """

    def __init__(self, path: str | os.PathLike[str], metadata: TraceMetadata, *,
                 encoding: str = "fixed16", compress_level: int = 1) -> None:
        if not isinstance(metadata, TraceMetadata):
            raise TraceError("TraceWriter needs a TraceMetadata (accelsim.trace.TraceMetadata)")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise TraceError(f"cannot write trace {self.path}: directory {self.path.parent} "
                             "does not exist; create it first")
        self.metadata = metadata
        self.encoding = encoding
        # the one atomic write (accelsim.fileio): entered here, left by close() or abort()
        self._commit = atomic_path(self.path)
        self._tmp = self._commit.__enter__()
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_DEFLATED,
                                    compresslevel=compress_level, allowZip64=True)
        self._layers: list[dict[str, Any]] = []
        self._tensors: dict[str, dict[str, Any]] = {}
        self._digests: dict[str, str] = {}
        self._names: set[str] = set()
        self._closed = False
        self._aborted = False

    # ------------------------------------------------------------------------------------
    @staticmethod
    def _checked(array: Any, where: str, expected_shape: tuple[int, ...]) -> np.ndarray:
        a = np.asarray(array)
        if a.dtype.kind not in "fiub":
            raise TraceError(f"{where}: dtype {a.dtype} is not numeric")
        if tuple(a.shape) != tuple(expected_shape):
            raise TraceError(f"{where}: shape {list(a.shape)} does not match the geometry's "
                             f"{list(expected_shape)}")
        return np.ascontiguousarray(a, dtype=np.float32)

    def _tensor(self, a: np.ndarray, where: str, role: str) -> str:
        digest = hashlib.blake2b(a.tobytes(), digest_size=16)
        digest.update(repr(a.shape).encode())
        key = digest.hexdigest()
        if key in self._digests:
            return self._digests[key]
        enc = encode_tensor(a, self.encoding, where)
        tid = f"t{len(self._tensors)}"
        _write_npy(self._zip, f"tensors/{tid}/mask.npy", enc["mask"])
        _write_npy(self._zip, f"tensors/{tid}/values.npy", enc["values"])
        size = int(np.prod(enc["shape"], dtype=np.int64))
        self._tensors[tid] = {"shape": enc["shape"], "nnz": enc["nnz"], "scale": enc["scale"],
                              "encoding": enc["encoding"], "role": role,
                              "density": enc["nnz"] / size if size else 0.0}
        self._digests[key] = tid
        return tid

    def add_layer(self, geometry: LayerGeometry,
                  operands: Mapping[str, Mapping[str, Any]]) -> None:
        """Encode and write one layer.  ``operands`` maps pass -> role -> array, with the
        roles of :data:`PASS_ROLES`; passes may be a subset (e.g. no backward_input for
        the first layer) but each given pass needs both its operands."""
        if self._closed:
            raise TraceError(f"trace {self.path}: writer already closed")
        if not isinstance(geometry, LayerGeometry):
            raise TraceError("add_layer needs a LayerGeometry")
        if geometry.name in self._names:
            raise TraceError(f"trace {self.path}: layer {geometry.name!r} written twice")
        allowed = passes_for_mode(self.metadata.mode)
        if not operands:
            raise TraceError(f"trace {self.path}, layer {geometry.name}: no pass given")
        # check every operand before writing any, so a bad call leaves the file as it was
        checked: dict[str, dict[str, np.ndarray]] = {}
        for pass_name, ops in operands.items():
            where = f"trace {self.path.name}, layer {geometry.name}, {pass_name}"
            if pass_name not in allowed:
                raise TraceError(f"{where}: not a pass of a {self.metadata.mode} trace "
                                 f"(allowed: {', '.join(allowed)})")
            roles = PASS_ROLES[pass_name]
            if set(ops) != set(roles):
                raise TraceError(f"{where}: needs operands {roles}, got {tuple(ops)}")
            checked[pass_name] = {
                role: self._checked(ops[role], f"{where}/{role}",
                                    geometry.operand_shape(role, self.metadata.batch))
                for role in roles}
        refs: dict[str, dict[str, str]] = {}
        densities: dict[str, dict[str, float]] = {}
        try:
            for pass_name, ops in checked.items():
                where = f"trace {self.path.name}, layer {geometry.name}, {pass_name}"
                refs[pass_name], densities[pass_name] = {}, {}
                for role, array in ops.items():
                    tid = self._tensor(array, f"{where}/{role}", role)
                    refs[pass_name][role] = tid
                    densities[pass_name][density_key(role)] = self._tensors[tid]["density"]
        except BaseException:
            self.abort()  # a half-written layer must not end up in a trace
            raise
        self._names.add(geometry.name)
        self._layers.append({"geometry": geometry.to_dict(), "passes": refs,
                             "densities": densities})

    # ------------------------------------------------------------------------------------
    def close(self) -> Path:
        """Write the manifest and move the file into place atomically."""
        if self._aborted:
            raise TraceError(f"trace {self.path}: the writer was aborted after an error; "
                             "nothing was written")
        if self._closed:
            return self.path
        if not self._layers:
            self.abort()
            raise TraceError(f"trace {self.path}: no layer was added; nothing written")
        manifest = {"format": FORMAT_NAME, "schema_version": SCHEMA_VERSION,
                    "metadata": self.metadata.to_dict(), "encoding": self.encoding,
                    "layers": self._layers, "tensors": self._tensors}
        try:
            self._zip.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1))
            self._zip.close()
            self._commit.__exit__(None, None, None)  # fsync, rename, fsync the directory
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop the partial file; the final path is left as it was."""
        already = self._aborted
        self._closed = self._aborted = True
        with contextlib.suppress(Exception):  # the zip is being thrown away
            self._zip.close()
        if not already:
            cancel = TraceError(f"trace {self.path}: aborted")
            self._commit.__exit__(TraceError, cancel, None)  # removes the temporary file

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_trace(path: str | os.PathLike[str], metadata: TraceMetadata,
                layers: Iterable[tuple[LayerGeometry, Mapping[str, Mapping[str, Any]]]],
                *, encoding: str = "fixed16") -> Path:
    """Write ``(geometry, operands)`` pairs to ``path`` atomically; returns the path."""
    with TraceWriter(path, metadata, encoding=encoding) as writer:
        for geometry, operands in layers:
            writer.add_layer(geometry, operands)
    return writer.path
