"""Table of damaged traces (issue 17): each gives a one-line TraceError naming the file,
at the stage where it can first be seen (open, the member check of ``inspect``, or loading
the tensor, which ``inspect --deep`` does for every tensor), never a traceback."""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile

import numpy as np
import pytest

from accelsim import api
from accelsim.errors import TraceError
from accelsim.trace import check_trace, open_trace
from tests.trace import mutants


def _manifest(data: bytes) -> dict:
    return json.loads(mutants.members(data)["manifest.json"])


def _tid(data: bytes, layer: int = 0, pass_name: str = "forward", role: str = "weight") -> str:
    return _manifest(data)["layers"][layer]["passes"][pass_name][role]


def _set(*path, value=None, action="set"):
    return lambda data: mutants.edit_manifest(data, path, action, value)


def _tensor_field(field, value, role="weight"):
    def mutate(data):
        return mutants.edit_manifest(data, ("tensors", _tid(data, role=role), field), "set", value)
    return mutate


def _values(edit, role="weight"):
    """Replace the stored values of layer 0's forward ``role`` with ``edit(values)``."""
    def mutate(data):
        name = f"tensors/{_tid(data, role=role)}/values.npy"
        values = np.lib.format.read_array(io.BytesIO(mutants.members(data)[name]))
        return mutants.replace_member(data, name, mutants.npy_bytes(edit(values.copy())))
    return mutate


def _member(part, payload_fn):
    def mutate(data):
        name = f"tensors/{_tid(data)}/{part}.npy"
        return mutants.replace_member(data, name, payload_fn(mutants.members(data)[name]))
    return mutate


def _central(name: str, offset: int, fmt: str, value):
    """Patch a field of ``name``'s central-directory record (``offset`` from its start)."""
    def mutate(data):
        at = data.rfind(name.encode()) - 46
        assert data[at:at + 4] == b"PK\x01\x02"
        out = bytearray(data)
        struct.pack_into(fmt, out, at + offset, value)
        return bytes(out)
    return mutate


def _deflate_damage(data):
    """Overwrite the start of a member's deflate stream (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(f"tensors/{_tid(data)}/values.npy")
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return mutants.overwrite(data, info.header_offset + 30 + name_len + extra_len, b"\xff" * 6)


def _set_first(value):
    def edit(v):
        v[0] = value
        return v
    return edit


def _huge_linear(data):
    """A self-consistent manifest whose fc layer claims 2**40 inputs: refused before any
    array of that size is allocated (the members do not hold that much)."""
    m = _manifest(data)
    layer = m["layers"][1]
    layer["geometry"]["in_channels"] = 2 ** 40
    layer["geometry"].pop("macs")
    for refs in layer["passes"].values():
        for role, tid in refs.items():
            if role != "grad":
                m["tensors"][tid]["shape"][1] = 2 ** 40
    parts = mutants.members(data)
    parts["manifest.json"] = json.dumps(m).encode()
    return mutants._zip(parts)


# (id, encoding, mutation, stage, message pattern)
CASES = [
    # ---- manifest: types, ranges, structure (seen at open) ----
    ("shape -1", "fixed16", _tensor_field("shape", -1), "open", r"tensors\.t0\.shape must be a list"),
    ("shape [-1]", "fixed16", _tensor_field("shape", [-1, 2, 3, 3]), "open", r"shape\[0\] = -1 must lie"),
    ("list operand id", "fixed16", _set("layers", 0, "passes", "forward", "weight", value=["t0"]),
     "open", r"passes\.forward\.weight must be a non-empty string, got \['t0'\]"),
    ("NaN batch_indices", "fixed16", _set("metadata", "batch_indices", value=math.nan), "open",
     r"metadata\.batch_indices must be a list, got nan"),
    ("NaN in batch_indices", "fixed16", _set("metadata", "batch_indices", 0, value=math.nan),
     "open", r"batch_indices\[0\] must be an integer"),
    ("bool step", "fixed16", _set("metadata", "step", value=True), "open", r"step must be an integer, got True"),
    ("bool nnz", "fixed16", _tensor_field("nnz", True), "open", r"nnz must be an integer"),
    ("bool in_channels", "fixed16", _set("layers", 0, "geometry", "in_channels", value=True),
     "open", r"in_channels must be an integer"),
    ("bool schema version", "fixed16", _set("schema_version", value=True), "open", r"schema version True"),
    ("huge nnz", "fixed16", _tensor_field("nnz", 10 ** 30), "open", r"nnz = 1000.* must lie in"),
    ("nnz above size", "fixed16", _tensor_field("nnz", 10 ** 6), "open", r"non-zero count 1000000 is impossible"),
    ("manifest is a list", "fixed16", lambda d: mutants.replace_member(d, "manifest.json", b"[]"),
     "open", r"manifest is not a JSON object"),
    ("layers is a mapping", "fixed16", _set("layers", value={}), "open", r"manifest\.layers must be a list"),
    ("tensors is a list", "fixed16", _set("tensors", value=[]), "open", r"manifest\.tensors must be a mapping"),
    ("layer is a string", "fixed16", _set("layers", 0, value="conv"), "open", r"layers\[0\] must be a mapping"),
    ("missing kernel_h", "fixed16", _set("layers", 0, "geometry", "kernel_h", action="delete"),
     "open", r"layers\[0\]\.geometry lacks 'kernel_h'"),
    ("missing tensors", "fixed16", _set("tensors", action="delete"), "open", r"manifest lacks 'tensors'"),
    ("unknown tensor id", "fixed16", _set("layers", 0, "passes", "forward", "weight", value="t99"),
     "open", r"tensor 't99' is not in the tensor table"),
    ("unknown pass", "fixed16", _set("layers", 0, "passes", "sideways", value={}), "open",
     r"passes key = 'sideways' must be one of"),
    ("manifest not JSON", "fixed16", lambda d: mutants.replace_member(d, "manifest.json", b"{\"a\":"),
     "open", r"manifest is not valid JSON"),
    ("manifest nested too deep", "fixed16",
     lambda d: mutants.replace_member(d, "manifest.json", b"[" * 100000), "open",
     r"manifest is not valid JSON \(RecursionError\)"),
    # ---- scale ----
    ("scale NaN", "fixed16", _tensor_field("scale", math.nan), "open", r"scale = nan must be a positive finite"),
    ("scale inf", "fixed16", _tensor_field("scale", math.inf), "open", r"scale = inf must be a positive finite"),
    ("scale 0", "fixed16", _tensor_field("scale", 0), "open", r"scale = 0 must be a positive finite"),
    ("scale negative", "float16", _tensor_field("scale", -2.0), "open", r"scale = -2.0 must be a positive"),
    ("scale above float32", "fixed16", _tensor_field("scale", 1e39), "open", r"<= 3.40282e\+38"),
    ("scale string", "fixed16", _tensor_field("scale", "1"), "open", r"scale must be a number"),
    ("float32 scale not 1", "float32", _tensor_field("scale", 2.0), "open", r"scale 2.0 must be 1 for float32"),
    ("scale underflows", "fixed16", _tensor_field("scale", 1e-300), "load", r"decode to 0 \(the scale is too small\)"),
    # ---- the zip container ----
    ("encrypted flag", "fixed16", _central("manifest.json", 8, "<H", 1), "open", r"manifest\.json is corrupt \(RuntimeError"),
    ("zip version byte", "fixed16", _central("manifest.json", 6, "<H", 255), "open",
     r"truncated or not an accelsim trace \(NotImplementedError"),
    ("compression method", "fixed16", lambda d: _central(f"tensors/{_tid(d)}/mask.npy", 10, "<H", 99)(d),
     "check", r"mask\.npy is corrupt \(NotImplementedError"),
    ("bad CRC", "fixed16", lambda d: _central(f"tensors/{_tid(d)}/values.npy", 16, "<I", 0)(d),
     "check", r"values\.npy is corrupt \(BadZipFile: Bad CRC-32"),
    ("zlib stream damaged", "fixed16", _deflate_damage, "check", r"values\.npy is corrupt \(error"),
    ("huge manifest size", "fixed16", _central("manifest.json", 24, "<I", 2 ** 31), "open",
     r"member manifest\.json declares 2147483648 bytes"),
    ("truncated file", "fixed16", lambda d: d[: len(d) // 2], "open", r"truncated or not an accelsim trace"),
    ("tensor member missing", "fixed16",
     lambda d: mutants._zip({k: v for k, v in mutants.members(d).items() if k != f"tensors/{_tid(d)}/values.npy"}),
     "open", r"layer conv, forward/weight: member tensors/t0/values\.npy is missing"),
    # ---- npy members: dtype, size, header ----
    ("values float64 1e30", "float32", _member("values", lambda b: mutants.npy_bytes(np.full(
        np.lib.format.read_array(io.BytesIO(b)).size, 1e30))), "check", r"holds float64 .* needs float32"),
    ("values truncated", "fixed16", _member("values", lambda b: b[:-2]), "check",
     r"values\.npy declares \d+ bytes, but"),
    ("mask of the wrong size", "fixed16", _member("mask", lambda b: mutants.npy_bytes(np.zeros(3, np.uint8))),
     "check", r"mask\.npy holds uint8 \[3\], the manifest needs uint8 \[7\]"),
    ("huge npy header", "fixed16", _member("values", lambda b: b.replace(b"(", b"(10000000000000000").replace(
        b"'shape': (10000000000000000", b"'shape': (1000000000000000,")[:len(b)]), "check", r"values\.npy"),
    ("npy garbage", "fixed16", _member("mask", lambda b: b"\x93NUMPY garbage" + b[14:]), "check",
     r"mask\.npy has npy format version \(32, 103\)"),
    ("huge declared geometry", "fixed16", _huge_linear, "check", r"layer fc, forward/weight: member tensors/t\d+/mask\.npy holds uint8 \[2\], the manifest needs uint8 \[412316860416\]"),
    # ---- values against their mask and encoding ----
    ("0 under a set mask bit", "fixed16", _values(_set_first(0)), "load", r"1 stored value\(s\) are 0 under set mask bits"),
    ("0 under a set bit, float16", "float16", _values(_set_first(0)), "load", r"are 0 under set mask bits"),
    ("fixed16 -32768", "fixed16", _values(_set_first(-32768)), "load", r"outside the fixed16 range \[-32767, 32767\]"),
    ("float16 above 1", "float16", _values(_set_first(2.0)), "load", r"outside the float16 range \[-1, 1\]"),
    ("float16 NaN", "float16", _values(_set_first(np.nan)), "load", r"outside the float16 range"),
    ("float32 inf", "float32", _values(_set_first(np.inf)), "load", r"holds NaN/inf values \(1\)"),
    ("mask count differs", "fixed16", _member("mask", lambda b: b[:-1] + bytes([b[-1] ^ 0x80])), "load",
     r"mask has \d+ non-zeros but the manifest says"),
]


@pytest.mark.parametrize("name, encoding, mutate, stage, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_trace(tmp_path, name, encoding, mutate, stage, pattern):
    original = mutants.write_original(tmp_path / "ok.trace", encoding)
    path = tmp_path / "bad.trace"
    path.write_bytes(mutate(original.read_bytes()))
    kind, message = mutants.outcome(path)  # one line naming the file, deep check agrees
    assert kind == "error", f"{name}: read without error"
    if stage == "open":
        with pytest.raises(TraceError, match=pattern):
            open_trace(path)
        return
    with open_trace(path) as trace:
        shallow = trace.check()
        deep = trace.check(deep=True)
    assert not deep.ok
    if stage == "check":  # plain `inspect` sees it
        assert [p for p in shallow.problems if re.search(pattern, p)], shallow.problems
        with pytest.raises(TraceError, match=pattern):
            api.inspect_trace(path)
    else:  # only decoding sees it: `inspect --deep`, and every consumer that loads it
        assert shallow.ok, shallow.problems
        api.inspect_trace(path)
        with pytest.raises(TraceError, match=pattern):
            api.inspect_trace(path, deep=True)
        with open_trace(path) as trace, pytest.raises(
                TraceError, match=r"bad\.trace, layer conv, forward/weight: .*" + pattern):
            trace.load_layer("conv").operand("forward", "weight")
    check = check_trace(path, deep=True)
    assert check.problems == deep.problems and "\n" not in check.problems[0]


def test_simulation_refuses_zero_under_a_set_mask_bit(tmp_path):
    """The issue's case: such a trace simulated on TCLe with exit 0 (48x instead of 5.2x)."""
    import accelsim

    original = mutants.write_original(tmp_path / "ok.trace")
    path = tmp_path / "bad.trace"
    path.write_bytes(_values(_set_first(0))(original.read_bytes()))
    accelsim.simulate(original, "bit-tactical-tcle")
    with pytest.raises(TraceError, match=r"bad\.trace, layer conv, forward/weight: 1 stored "
                                         r"value\(s\) are 0 under set mask bits"):
        accelsim.simulate(path, "bit-tactical-tcle")
