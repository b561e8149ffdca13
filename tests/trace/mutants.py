"""Trace mutations and the oracle every mutant must satisfy (shared by the hypothesis test
tests/trace/test_fuzz_traces.py and the long run benchmarks/fuzz_traces.py).

A mutant is a small valid trace with its bytes, one manifest field or one tensor member
changed.  Reading it fully (open, member check, summary, every operand, deep check) must
end in a one-line :class:`TraceError` naming the file, or give exactly the original
result; a manifest edit of a free field (metadata, scale, ignored notes) may instead give
a different but successful result.  Any other exception is a failure.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import TraceError
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace import PASS_ROLES, TraceMetadata, TraceWriter, check_trace, open_trace

# values a manifest field is replaced with: wrong types, negative, huge, NaN, containers
NASTY: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 7, 2 ** 31, 2 ** 63, 10 ** 30, -(10 ** 30), 0.5, -0.0, 1e30,
    1e308, math.nan, math.inf, -math.inf, "", "x", "forward", "fixed16", "float32", [], [1],
    [-1], [2, 3], [math.nan], {}, {"a": 1}, [[1]],
)


def tiny_layers() -> tuple[LayerGeometry, ...]:
    return (
        LayerGeometry(name="conv", kind="conv", in_channels=2, out_channels=3, kernel_h=3,
                      kernel_w=3, padding_h=1, padding_w=1, input_h=4, input_w=4,
                      output_h=4, output_w=4),
        LayerGeometry(name="fc", kind="linear", in_channels=5, out_channels=3),
    )


def write_original(path: Path, encoding: str = "fixed16", seed: int = 0, step: int = 3) -> Path:
    """A small valid two-layer training trace (batch 2, half the values zero)."""
    rng = np.random.default_rng(seed)
    md = TraceMetadata(model="tiny", dataset="synthetic", method="test", step=step, epoch=1,
                       batch_indices=(4, 5), method_params={"sparsity": 0.5}, phase="x")

    def sparse(shape: tuple[int, ...]) -> np.ndarray:
        a = rng.standard_normal(shape).astype(np.float32)
        return np.where(rng.random(shape) < 0.5, a, 0).astype(np.float32)

    with TraceWriter(path, md, encoding=encoding) as w:
        for g in tiny_layers():
            weight, act, grad = sparse(g.weight_shape()), sparse(g.activation_shape(2)), \
                sparse(g.grad_shape(2))
            w.add_layer(g, {"forward": {"weight": weight, "activation": act},
                            "backward_input": {"weight": weight, "grad": grad},
                            "backward_weight": {"activation": act * (act > 0), "grad": grad}})
    return path


# ---- mutations -------------------------------------------------------------------------------
def flip_bit(data: bytes, position: int, bit: int) -> bytes:
    out = bytearray(data)
    out[position % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def truncate(data: bytes, length: int) -> bytes:
    return data[: length % len(data)]


def overwrite(data: bytes, position: int, chunk: bytes) -> bytes:
    position %= len(data)
    return data[:position] + chunk[: len(data) - position] + data[position + len(chunk):]


def interesting_offsets(data: bytes) -> list[int]:
    """Offsets of zip structure (local headers, central directory, end record) where a
    flip changes how the zip reads rather than a CRC-protected payload."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        offsets = [o for info in zf.infolist()
                   for o in range(info.header_offset, info.header_offset + 30 + len(info.filename))]
        start = max(info.header_offset + info.compress_size for info in zf.infolist())
    return sorted(set(offsets) | set(range(start, len(data))))


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, payload in parts.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def manifest_paths(data: bytes) -> list[tuple[Any, ...]]:
    """Every JSON path (keys and list indices) of the trace's manifest, containers too."""
    out: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        out.append(path)
        items = node.items() if isinstance(node, dict) else \
            enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            walk(child, (*path, key))

    walk(json.loads(members(data)["manifest.json"]), ())
    return out[1:]


def edit_manifest(data: bytes, path: tuple[Any, ...], action: str, value: Any = None) -> bytes:
    """``action``: ``"set"`` (to ``value``), ``"delete"`` or ``"wrap"`` (in a list)."""
    parts = members(data)
    manifest = json.loads(parts["manifest.json"])
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    elif action == "wrap":
        parent[path[-1]] = [parent[path[-1]]]
    else:
        parent[path[-1]] = value
    parts["manifest.json"] = json.dumps(manifest).encode()
    return _zip(parts)


def replace_member(data: bytes, member: str, payload: bytes) -> bytes:
    parts = members(data)
    parts[member] = payload
    return _zip(parts)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def tensor_members(data: bytes) -> list[str]:
    return sorted(n for n in members(data) if n.startswith("tensors/"))


def is_free(path: tuple[Any, ...], action: str = "set") -> bool:
    """A manifest edit that may legitimately change the result: what the trace says
    about its origin, layer names, the fixed16/float16 scale, ignored notes, and dropping
    a whole layer or one pass of a layer (a trace may hold a subset)."""
    if action == "delete" and (len(path) == 2 and path[0] == "layers"
                               or len(path) == 4 and path[2] == "passes"):
        return True
    return bool(path) and (path[0] == "metadata" or "densities" in path
                           or path[-1] in ("scale", "role", "density", "name"))


# ---- the oracle ------------------------------------------------------------------------------
def read_fully(path: Path) -> dict[str, Any]:
    """Everything a trace yields: summary (minus path and size) and a digest of every
    operand and mask.  Raises TraceError on damage."""
    with open_trace(path) as trace:
        trace.check().raise_if_bad()
        summary = trace.summary()
        digests = {}
        for layer in trace.iter_layers():
            for pass_name in layer.passes:
                for role in PASS_ROLES[pass_name]:
                    h = hashlib.blake2b(layer.operand(pass_name, role).tobytes(), digest_size=16)
                    h.update(np.packbits(layer.mask(pass_name, role)).tobytes())
                    digests[f"{layer.name}/{pass_name}/{role}"] = h.hexdigest()
    for key in ("path", "file_bytes"):
        summary.pop(key)
    return {"summary": summary, "operands": digests}


def outcome(path: Path) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", message)``; any other exception propagates.
    Checks that an error is one line naming the file, and that the deep check agrees."""
    try:
        result = read_fully(path)
    except TraceError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"not a one-line message: {message!r}"
        assert path.name in message, f"message does not name the file: {message!r}"
        deep = check_trace(path, deep=True)
        assert not deep.ok, f"full read failed ({message}) but the deep check passed"
        return "error", message
    deep = check_trace(path, deep=True)
    assert deep.ok, f"full read succeeded but the deep check found {deep.problems}"
    return "ok", result


def judge(original: dict[str, Any], path: Path, free: bool = False) -> str:
    """Classify a mutant: ``"error"``, ``"identical"`` or (free fields only) ``"changed"``;
    an AssertionError or any other exception is a finding."""
    kind, result = outcome(path)
    if kind == "error":
        return "error"
    if result == original:
        return "identical"
    assert free, "a mutant read successfully with a different result"
    return "changed"
