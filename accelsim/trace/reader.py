"""Validating, lazy trace reader.

:func:`open_trace` checks the container and the manifest (format, schema version,
geometry, operand shapes against the geometry) up front; tensors are read and checked
(mask vs. count, NaN/inf) only when a layer is loaded, one layer at a time.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import AccelsimError, TraceError
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.schema import (
    ENCODINGS,
    FORMAT_NAME,
    MANIFEST_NAME,
    PASS_ROLES,
    SCHEMA_VERSION,
    TRACE_SUFFIX,
    TraceMetadata,
    decode_values,
    density_key,
    passes_for_mode,
)


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
            where = f"trace {self._trace.path.name}, layer {self.name}, {pass_name}/{role}"
            self._cache[tid] = self._trace._read_tensor(tid, where)
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
                 metadata: TraceMetadata, layers: tuple[LayerEntry, ...]) -> None:
        self.path = path
        self._zip = zf
        self.manifest = manifest
        self.metadata = metadata
        self.layers = layers
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

    def _read_tensor(self, tid: str, where: str) -> tuple[np.ndarray, np.ndarray]:
        info = self.manifest["tensors"][tid]
        shape = tuple(info["shape"])
        size = int(np.prod(shape, dtype=np.int64))
        try:
            with self._zip.open(f"tensors/{tid}/mask.npy") as fh:
                packed = np.lib.format.read_array(fh, allow_pickle=False)
            with self._zip.open(f"tensors/{tid}/values.npy") as fh:
                values = np.lib.format.read_array(fh, allow_pickle=False)
        except KeyError:
            raise TraceError(f"{where}: tensor {tid} is missing from the file; the trace is "
                             "corrupt, re-record it") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
            raise TraceError(f"{where}: tensor data is corrupt ({exc}); re-record the trace") from None
        if packed.dtype != np.uint8 or packed.size != (size + 7) // 8:
            raise TraceError(f"{where}: mask has {packed.size} bytes, expected {(size + 7) // 8} "
                             f"for shape {list(shape)}; the trace is corrupt")
        mask = np.unpackbits(packed, count=size).astype(bool).reshape(shape)
        nnz = int(mask.sum())
        if nnz != info["nnz"] or values.shape != (nnz,):
            raise TraceError(f"{where}: mask has {nnz} non-zeros but {values.size} values are "
                             f"stored (manifest says {info['nnz']}); the trace is corrupt")
        decoded = decode_values(values, info["encoding"], info["scale"])
        if not np.isfinite(decoded).all():
            raise TraceError(f"{where}: holds NaN/inf values; re-record it from a healthy run")
        return mask, decoded

    def summary(self) -> dict[str, Any]:
        """What ``accelsim inspect --json`` prints: metadata and, per layer and pass,
        operand shapes and measured densities."""
        layers = []
        for entry in self.layers:
            passes = {}
            for pass_name, refs in entry.passes.items():
                item: dict[str, Any] = dict(entry.densities[pass_name])
                item["shapes"] = {role: self.manifest["tensors"][tid]["shape"]
                                  for role, tid in refs.items()}
                passes[pass_name] = item
            layers.append({"name": entry.name, "geometry": entry.geometry.to_dict(),
                           "passes": passes})
        size = self.path.stat().st_size
        return {"path": str(self.path), "format": FORMAT_NAME,
                "schema_version": self.manifest["schema_version"],
                "encoding": self.manifest["encoding"], "file_bytes": size,
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


def _validate_manifest(path: Path, manifest: Any) -> tuple[TraceMetadata, tuple[LayerEntry, ...]]:
    if not isinstance(manifest, dict):
        raise _fail(path, "manifest is not a JSON object; the file is corrupt")
    if manifest.get("format") != FORMAT_NAME:
        raise _fail(path, f"is not an accelsim trace (format {manifest.get('format')!r})")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(path, f"has schema version {version!r} but this accelsim reads version "
                          f"{SCHEMA_VERSION}; re-record it or use the accelsim that wrote it")
    for key in ("metadata", "layers", "tensors", "encoding"):
        if key not in manifest:
            raise _fail(path, f"manifest lacks {key!r}; the file is corrupt")
    if manifest["encoding"] not in ENCODINGS:
        raise _fail(path, f"unknown value encoding {manifest['encoding']!r}")
    metadata = TraceMetadata.from_dict(manifest["metadata"], f"trace {path}")
    tensors = manifest["tensors"]
    if not isinstance(tensors, dict) or not isinstance(manifest["layers"], list) \
            or not manifest["layers"]:
        raise _fail(path, "manifest has no layers or no tensor table; the file is corrupt")
    allowed = passes_for_mode(metadata.mode)
    entries = []
    seen: set[str] = set()
    for index, layer in enumerate(manifest["layers"]):
        if not isinstance(layer, dict) or "geometry" not in layer or "passes" not in layer:
            raise _fail(path, f"layer #{index} lacks geometry or passes")
        try:
            geometry = LayerGeometry.from_dict(layer["geometry"])
        except AccelsimError as exc:
            raise _fail(path, str(exc)) from None
        if geometry.name in seen:
            raise _fail(path, f"layer {geometry.name!r} appears twice")
        seen.add(geometry.name)
        passes = layer["passes"]
        if not isinstance(passes, dict) or not passes:
            raise _fail(path, f"layer {geometry.name}: no pass recorded")
        densities: dict[str, dict[str, float]] = {}
        for pass_name, refs in passes.items():
            where = f"layer {geometry.name}, {pass_name}"
            if pass_name not in allowed:
                raise _fail(path, f"{where}: unknown pass for a {metadata.mode} trace")
            if not isinstance(refs, dict) or set(refs) != set(PASS_ROLES[pass_name]):
                raise _fail(path, f"{where}: operands must be {PASS_ROLES[pass_name]}")
            densities[pass_name] = {}
            for role, tid in refs.items():
                info = tensors.get(tid)
                if not isinstance(info, dict) or not {"shape", "nnz", "scale", "encoding"} <= set(info):
                    raise _fail(path, f"{where}/{role}: tensor {tid!r} is not in the tensor table")
                expected = list(geometry.operand_shape(role, metadata.batch))
                if list(info["shape"]) != expected:
                    raise _fail(path, f"{where}/{role}: shape {info['shape']} does not match "
                                      f"the geometry ({expected} for batch {metadata.batch})")
                size = int(np.prod(expected, dtype=np.int64))
                if not isinstance(info["nnz"], int) or not 0 <= info["nnz"] <= size:
                    raise _fail(path, f"{where}/{role}: non-zero count {info['nnz']!r} is "
                                      f"impossible for {size} elements")
                scale = info["scale"]
                if not isinstance(scale, int | float) or not np.isfinite(scale) or scale <= 0:
                    raise _fail(path, f"{where}/{role}: scale {scale!r} is not a positive "
                                      "finite number (NaN/inf in the recorded tensor?)")
                if info["encoding"] not in ENCODINGS:
                    raise _fail(path, f"{where}/{role}: unknown encoding {info['encoding']!r}")
                densities[pass_name][density_key(role)] = info["nnz"] / size if size else 0.0
        entries.append(LayerEntry(index, geometry, passes, densities))
    return metadata, tuple(entries)


def open_trace(path: str | os.PathLike[str]) -> Trace:
    """Open and validate a trace file (not a run directory: see :func:`find_trace`)."""
    p = Path(path)
    if not p.exists():
        raise TraceError(f"trace {p} does not exist; give a {TRACE_SUFFIX} file or a run directory")
    if p.is_dir():
        raise TraceError(f"trace {p} is a directory; use find_trace() or give the {TRACE_SUFFIX} file")
    try:
        zf = zipfile.ZipFile(p, "r")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise TraceError(f"trace {p} is truncated or not an accelsim trace ({exc}); "
                         "re-record or re-export it") from None
    try:
        try:
            raw = zf.read(MANIFEST_NAME)
        except KeyError:
            raise TraceError(f"trace {p} has no {MANIFEST_NAME}; it is not an accelsim trace "
                             "or was not closed") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise TraceError(f"trace {p}: manifest is corrupt ({exc}); re-record it") from None
        try:
            manifest = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TraceError(f"trace {p}: manifest is not valid JSON ({exc.__class__.__name__}); "
                             "the file is corrupt") from None
        metadata, layers = _validate_manifest(p, manifest)
    except BaseException:
        zf.close()
        raise
    return Trace(p, zf, manifest, metadata, layers)


def _step_of(path: Path) -> int:
    with open_trace(path) as trace:
        return trace.metadata.step


def list_traces(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(step, path)`` of every trace in a run directory (``traces/`` or top level),
    sorted by step."""
    d = Path(run_dir)
    files = sorted(set(d.glob(f"*{TRACE_SUFFIX}")) | set(d.glob(f"traces/*{TRACE_SUFFIX}")))
    return sorted(((_step_of(f), f) for f in files), key=lambda sp: (sp[0], str(sp[1])))


def find_trace(path: str | os.PathLike[str], step: int | None = None) -> Path:
    """Resolve a trace file or a run directory to one trace file: the latest step, or
    ``step`` when given."""
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p} does not exist; give a {TRACE_SUFFIX} file or a run directory")
    if p.is_file():
        if step is not None and _step_of(p) != step:
            raise TraceError(f"trace {p} holds step {_step_of(p)}, not {step}")
        return p
    traces = list_traces(p)
    if not traces:
        raise TraceError(f"run directory {p} holds no {TRACE_SUFFIX} files (looked in {p} and "
                         f"{p / 'traces'}); record traces with --trace-every or make a synthetic one")
    if step is None:
        return traces[-1][1]
    for s, f in traces:
        if s == step:
            return f
    raise TraceError(f"run directory {p} has no trace of step {step}; it has steps "
                     f"{', '.join(str(s) for s, _ in traces)}")
