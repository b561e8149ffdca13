"""Validating, lazy trace reader.

:func:`open_trace` checks the path (a regular, readable file), the container and the
manifest (one schema walk: types and ranges; then format, schema version, geometry,
operand shapes against the geometry, tensor members present) up front; tensors are read
and checked (header, size, CRC, mask vs. count, values non-zero and within the encoding's
range, NaN/inf) only when a layer is loaded, one layer at a time.  :meth:`Trace.check`
checks every tensor member without loading (``deep=True``: loading and checking each).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError, TraceError
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.container import (
    check_npy,
    damage_guard,
    member_info,
    open_zip,
    path_kind,
    read_member,
    read_npy,
)
from accelsim.trace.schema import (
    FORMAT_NAME,
    MANIFEST_NAME,
    PASS_ROLES,
    TRACE_SUFFIX,
    VALUE_DTYPES,
    TraceMetadata,
    check_manifest,
    decode_values,
    decoded_problem,
    density_key,
    passes_for_mode,
    value_problem,
)

_MASK_DTYPE = np.dtype("|u1")


@dataclass(frozen=True)
class LayerEntry:
    """A layer as the manifest describes it (no tensor data)."""

    index: int
    geometry: LayerGeometry
    passes: dict[str, dict[str, str]]  # pass -> role -> tensor id
    densities: dict[str, dict[str, float]]  # pass -> density key -> measured density

    @property
    def name(self) -> str:
        return self.geometry.name


@dataclass(frozen=True)
class TraceCheck:
    """What :meth:`Trace.check` found: ``problems`` are one-line messages (empty: healthy).
    ``deep`` says whether every tensor was decoded and its values checked, or only its
    members' presence, headers and sizes."""

    path: Path
    deep: bool
    layers: int
    tensors: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_bad(self) -> None:
        """Raise a :class:`TraceError` with the first problem (and how many more)."""
        if self.problems:
            more = len(self.problems) - 1
            raise TraceError(self.problems[0] + (f" (and {more} more problem(s) in this trace)"
                                                 if more else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "deep": self.deep, "layers": self.layers,
                "tensors": self.tensors, "ok": self.ok, "problems": list(self.problems)}


class LayerData:
    """One loaded layer: decoded operands, each checked on first access."""

    def __init__(self, trace: Trace, entry: LayerEntry) -> None:
        self._trace = trace
        self.entry = entry
        self.geometry = entry.geometry
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def passes(self) -> tuple[str, ...]:
        return tuple(self.entry.passes)

    def _load(self, pass_name: str, role: str) -> tuple[np.ndarray, np.ndarray]:
        if pass_name not in self.entry.passes:
            raise TraceError(f"trace {self._trace.path.name}, layer {self.name}: pass "
                             f"{pass_name!r} was not recorded (recorded: {', '.join(self.passes)})")
        if role not in PASS_ROLES[pass_name]:
            raise TraceError(f"pass {pass_name} has operands {PASS_ROLES[pass_name]}, not {role!r}")
        tid = self.entry.passes[pass_name][role]
        if tid not in self._cache:
            self._cache[tid] = self._trace._read_tensor(tid, self._trace._where(
                self.entry, pass_name, role))
        return self._cache[tid]

    def operand(self, pass_name: str, role: str) -> np.ndarray:
        """The operand as float32, zeros where the method made it zero."""
        mask, values = self._load(pass_name, role)
        out = np.zeros(mask.shape, dtype=np.float32)
        out[mask] = values
        return out

    def mask(self, pass_name: str, role: str) -> np.ndarray:
        """Boolean non-zero mask of the operand (authoritative for sparsity)."""
        return self._load(pass_name, role)[0]


class Trace:
    """An open trace file.  Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, manifest: dict[str, Any],
                 metadata: TraceMetadata, layers: tuple[LayerEntry, ...],
                 file_bytes: int = 0) -> None:
        self.path = path
        self._zip = zf
        self.manifest = manifest
        self.metadata = metadata
        self.layers = layers
        self.file_bytes = file_bytes
        self._by_name = {entry.name: entry for entry in layers}

    # ---- access ------------------------------------------------------------------------
    @property
    def geometries(self) -> tuple[LayerGeometry, ...]:
        return tuple(entry.geometry for entry in self.layers)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.layers)

    def load_layer(self, layer: str | int) -> LayerData:
        """Load one layer by name or index; its tensors are read on access."""
        if isinstance(layer, int):
            if not 0 <= layer < len(self.layers):
                raise TraceError(f"trace {self.path.name}: layer index {layer} out of range "
                                 f"(0..{len(self.layers) - 1})")
            return LayerData(self, self.layers[layer])
        if layer not in self._by_name:
            raise TraceError(f"trace {self.path.name}: no layer {layer!r}; it has "
                             f"{', '.join(self.layer_names[:6])}{' ...' if len(self.layers) > 6 else ''}")
        return LayerData(self, self._by_name[layer])

    def iter_layers(self) -> Iterator[LayerData]:
        """Yield layers one at a time (each is dropped when the caller moves on)."""
        for entry in self.layers:
            yield LayerData(self, entry)

    # ---- tensors -------------------------------------------------------------------------
    def _where(self, entry: LayerEntry, pass_name: str, role: str) -> str:
        return f"trace {self.path.name}, layer {entry.name}, {pass_name}/{role}"

    def _layouts(self, tid: str) -> tuple[tuple[str, np.dtype, tuple[int, ...]], ...]:
        """(member, dtype, shape) of a tensor's mask and values, as the manifest says."""
        info = self.manifest["tensors"][tid]
        size = math.prod(info["shape"])
        return ((f"tensors/{tid}/mask.npy", _MASK_DTYPE, ((size + 7) // 8,)),
                (f"tensors/{tid}/values.npy", np.dtype(VALUE_DTYPES[info["encoding"]]),
                 (info["nnz"],)))

    def _read_tensor(self, tid: str, where: str) -> tuple[np.ndarray, np.ndarray]:
        info = self.manifest["tensors"][tid]
        shape = tuple(info["shape"])
        size = math.prod(shape)
        (mask_name, mask_dtype, mask_shape), values_layout = self._layouts(tid)
        packed = read_npy(self._zip, mask_name, mask_dtype, mask_shape, where)
        if size % 8 and packed[-1] & (0xFF >> (size % 8)):
            raise TraceError(f"{where}: the mask has bits set past its {size} elements; the "
                             "trace is corrupt")
        mask = np.unpackbits(packed, count=size).astype(bool).reshape(shape)
        nnz = int(np.count_nonzero(mask))
        if nnz != info["nnz"]:
            raise TraceError(f"{where}: mask has {nnz} non-zeros but the manifest says "
                             f"{info['nnz']} values are stored; the trace is corrupt")
        values = read_npy(self._zip, *values_layout, where)
        problem = value_problem(values, info["encoding"])
        decoded = None if problem else decode_values(values, info["encoding"], info["scale"])
        problem = problem or decoded_problem(decoded)
        if problem:
            raise TraceError(f"{where}: {problem}; the trace is corrupt, re-record it from a "
                             "healthy run")
        return mask, decoded

    def _check_members(self, tid: str, where: str) -> None:
        for name, dtype, shape in self._layouts(tid):
            check_npy(self._zip, name, dtype, shape, where)

    def check(self, deep: bool = False) -> TraceCheck:
        """Check every tensor: its members are present with the dtype, shape and size the
        manifest gives (cheap: only headers are read); with ``deep`` each tensor is also
        read in full (CRC), decoded and its mask and values checked, one at a time."""
        problems: list[str] = []
        seen: set[str] = set()
        for entry in self.layers:
            for pass_name, refs in entry.passes.items():
                for role, tid in refs.items():
                    if tid in seen:
                        continue
                    seen.add(tid)
                    where = self._where(entry, pass_name, role)
                    try:
                        if deep:
                            self._read_tensor(tid, where)
                        else:
                            self._check_members(tid, where)
                    except TraceError as exc:
                        problems.append(str(exc))
        return TraceCheck(self.path, deep, len(self.layers), len(seen), tuple(problems))

    def summary(self) -> dict[str, Any]:
        """What ``accelsim inspect --json`` prints: metadata and, per layer and pass,
        operand shapes and measured densities (sizes in bytes)."""
        layers = []
        for entry in self.layers:
            passes = {}
            for pass_name, refs in entry.passes.items():
                item: dict[str, Any] = dict(entry.densities[pass_name])
                item["shapes"] = {role: self.manifest["tensors"][tid]["shape"]
                                  for role, tid in refs.items()}
                passes[pass_name] = item
            layers.append({"layer": entry.name, "geometry": entry.geometry.to_dict(),
                           "passes": passes})
        return {"path": str(self.path), "format": FORMAT_NAME,
                "schema_version": self.manifest["schema_version"],
                "encoding": self.manifest["encoding"], "file_bytes": self.file_bytes,
                "metadata": self.metadata.to_dict(), "layers": layers}

    # ---- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Trace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- opening and validation ----------------------------------------------------------------
def _fail(path: Path, problem: str) -> TraceError:
    return TraceError(f"trace {path}: {problem}")


def _tensor_density(path: Path, where: str, role: str, tid: str, manifest: dict[str, Any],
                    geometry: LayerGeometry, batch: int) -> float:
    """Check one operand reference against the tensor table; its measured density."""
    info = manifest["tensors"].get(tid)
    if info is None:
        raise _fail(path, f"{where}/{role}: tensor {tid!r} is not in the tensor table")
    expected = list(geometry.operand_shape(role, batch))
    if info["shape"] != expected:
        raise _fail(path, f"{where}/{role}: shape {info['shape']} does not match the geometry "
                          f"({expected} for batch {batch})")
    size = math.prod(expected)
    if info["nnz"] > size:
        raise _fail(path, f"{where}/{role}: non-zero count {info['nnz']} is impossible for "
                          f"{size} elements")
    if info["encoding"] == "float32" and info["scale"] != 1:
        raise _fail(path, f"{where}/{role}: scale {info['scale']!r} must be 1 for float32 values")
    return info["nnz"] / size if size else 0.0


def _layer_entries(path: Path, manifest: dict[str, Any],
                   metadata: TraceMetadata) -> tuple[LayerEntry, ...]:
    """Cross-check layers, passes and tensors of a manifest that fits the schema."""
    allowed = passes_for_mode(metadata.mode)
    entries = []
    seen: set[str] = set()
    for index, layer in enumerate(manifest["layers"]):
        try:
            geometry = LayerGeometry.from_dict(layer["geometry"])
        except AccelsimError as exc:
            raise _fail(path, f"layer #{index}: {exc}") from None
        if geometry.name in seen:
            raise _fail(path, f"layer {geometry.name!r} appears twice")
        seen.add(geometry.name)
        densities: dict[str, dict[str, float]] = {}
        for pass_name, refs in layer["passes"].items():
            where = f"layer {geometry.name}, {pass_name}"
            if pass_name not in allowed:
                raise _fail(path, f"{where}: unknown pass for a {metadata.mode} trace")
            if set(refs) != set(PASS_ROLES[pass_name]):
                raise _fail(path, f"{where}: operands must be {PASS_ROLES[pass_name]}")
            densities[pass_name] = {
                density_key(role): _tensor_density(path, where, role, tid, manifest, geometry,
                                                   metadata.batch)
                for role, tid in refs.items()}
        entries.append(LayerEntry(index, geometry, layer["passes"], densities))
    return tuple(entries)


def _read_manifest(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    where = f"trace {path}"
    try:
        member_info(zf, MANIFEST_NAME, where)
    except TraceError:
        raise TraceError(f"trace {path} has no {MANIFEST_NAME}; it is not an accelsim trace "
                         "or was not closed") from None
    raw = read_member(zf, MANIFEST_NAME, where)
    with damage_guard(where, MANIFEST_NAME):  # bad UTF-8, JSON syntax, absurd nesting
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise TraceError(f"trace {path}: manifest is not valid JSON "
                             f"({exc.__class__.__name__}); the file is corrupt") from None


def _members_present(path: Path, zf: zipfile.ZipFile, layers: tuple[LayerEntry, ...]) -> None:
    """Every referenced tensor's members are in the zip (its directory only: no reading)."""
    for entry in layers:
        for pass_name, refs in entry.passes.items():
            for role, tid in refs.items():
                for part in ("mask", "values"):
                    member_info(zf, f"tensors/{tid}/{part}.npy",
                                f"trace {path}, layer {entry.name}, {pass_name}/{role}")


def open_trace(path: str | os.PathLike[str]) -> Trace:
    """Open and validate a trace file (not a run directory: see :func:`find_trace`)."""
    p = Path(path)
    kind = path_kind(p)
    if kind == "a directory":
        raise TraceError(f"trace {p} is a directory; use find_trace() or give the "
                         f"{TRACE_SUFFIX} file")
    if kind != "file":
        raise TraceError(f"trace {p} is {kind}, not a trace file; give a {TRACE_SUFFIX} file")
    zf = open_zip(p)
    try:
        manifest = _read_manifest(p, zf)
        check_manifest(manifest, f"trace {p}")
        metadata = TraceMetadata.from_dict(manifest["metadata"], f"trace {p}")
        layers = _layer_entries(p, manifest, metadata)
        _members_present(p, zf, layers)
        size = os.fstat(zf.fp.fileno()).st_size
    except BaseException:
        zf.close()
        raise
    return Trace(p, zf, manifest, metadata, layers, size)
