"""The trace contract between training and the simulator (schema version 1).

A trace is one zip file (suffix ``.trace``) holding, for one recorded training step,
per layer its geometry and, per pass, the operands as the method really used them:

=================  ==========================================  =========================
pass               operands (role: tensor)                     computes
=================  ==========================================  =========================
forward            weight (as used), activation (input, as     output
                   used)
backward_input     weight (as used), grad (output gradient)    input gradient
backward_weight    activation (as saved for backward), grad    weight gradient
=================  ==========================================  =========================

Layout inside the zip::

    manifest.json                       this schema (written last)
    tensors/<id>/mask.npy               uint8, np.packbits of (tensor != 0), C order
    tensors/<id>/values.npy             the non-zero values in C order, encoded:
                                          fixed16: int16 q, value = q / 32767 * scale
                                          float16: float16 v, value = v * scale
                                          float32: float32 v, value = v

``scale`` (per tensor) is the largest magnitude, a finite positive float32 (1 for
float32 values), so every stored value lies in its encoding's range: q in [-32767,
32767], v in [-1, 1] for float16, finite for float32; none is 0 (each sits under a set
mask bit) and none decodes to 0.  A tensor whose largest magnitude is below 1e-30 is
stored as float32 whatever the trace's encoding (its reduced-precision values would
decode to 0); each tensor names its own encoding.  The reader checks all of this.

Identical tensors (e.g. the forward weight reused by backward-input) are stored once.
Operand shapes (``batch`` = number of recorded samples):
weight ``[out, in/groups, kh, kw]`` (conv) or ``[out, in]`` (linear); activation
``[batch, in, input_h, input_w]`` or ``[batch, in]``; grad ``[batch, out, output_h,
output_w]`` or ``[batch, out]``.  Densities are measured from the masks, never targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from accelsim.errors import TraceError
from accelsim.rundir import TRACE_SUFFIX as TRACE_SUFFIX  # re-exported: part of the contract
from accelsim.spec.geometry import LAYER_KINDS, LayerGeometry

FORMAT_NAME = "accelsim-trace"
SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"

PASSES: tuple[str, ...] = ("forward", "backward_input", "backward_weight")
PASS_ROLES: dict[str, tuple[str, str]] = {
    "forward": ("weight", "activation"),
    "backward_input": ("weight", "grad"),
    "backward_weight": ("activation", "grad"),
}
ROLE_DENSITY_KEY = {"weight": "weight_density", "activation": "activation_density",
                    "grad": "grad_density"}

ENCODINGS = ("fixed16", "float16", "float32")
FIXED16_MAX = 32767
TINY_SCALE = 1e-30  # below this largest magnitude, reduced-precision values underflow


@dataclass(frozen=True)
class TraceMetadata:
    """What a trace records about where it came from.

    ``batch_indices`` are the data-set indices of the recorded samples (their count is
    the ``batch`` dimension of every activation and gradient); ``step`` is the global
    optimizer step and ``epoch`` the epoch it belongs to; ``phase`` names the method's
    phase (e.g. AC/DC ``"compressed"``) or is ``None``.
    """

    model: str
    dataset: str
    method: str
    step: int = 0
    epoch: int = 0
    batch_indices: tuple[int, ...] = (0,)
    method_params: dict[str, Any] = field(default_factory=dict)
    phase: str | None = None
    mode: str = "train"  # "train" (all passes) or "inference" (forward only)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("model", "dataset", "method"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise TraceError(f"trace metadata: {name} must be a non-empty string")
        for name in ("step", "epoch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TraceError(f"trace metadata: {name} must be an integer >= 0, got {v!r}")
        if not self.batch_indices or not all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in self.batch_indices
        ):
            raise TraceError("trace metadata: batch_indices must be a non-empty tuple of "
                             "sample indices >= 0")
        if not isinstance(self.batch_indices, tuple):
            object.__setattr__(self, "batch_indices", tuple(self.batch_indices))
        if self.mode not in ("train", "inference"):
            raise TraceError(f"trace metadata: mode {self.mode!r} must be 'train' or 'inference'")
        if not isinstance(self.method_params, dict) or not isinstance(self.extra, dict):
            raise TraceError("trace metadata: method_params and extra must be mappings")

    @property
    def batch(self) -> int:
        return len(self.batch_indices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "dataset": self.dataset, "method": self.method,
            "step": self.step, "epoch": self.epoch, "batch_indices": list(self.batch_indices),
            "method_params": self.method_params, "phase": self.phase, "mode": self.mode,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TraceMetadata:
        if not isinstance(data, dict):
            raise TraceError(f"{where}: metadata is not a mapping; the manifest is corrupt")
        known = {"model", "dataset", "method", "step", "epoch", "batch_indices",
                 "method_params", "phase", "mode", "extra"}
        missing = {"model", "dataset", "method", "batch_indices"} - set(data)
        if missing:
            raise TraceError(f"{where}: metadata lacks {', '.join(sorted(missing))}")
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["batch_indices"] = tuple(kwargs["batch_indices"])
        try:
            return cls(**kwargs)
        except TraceError as exc:
            raise TraceError(f"{where}: {exc}") from None
        except TypeError as exc:
            raise TraceError(f"{where}: bad metadata ({exc})") from None


def passes_for_mode(mode: str) -> tuple[str, ...]:
    return ("forward",) if mode == "inference" else PASSES


def density_key(role: str) -> str:
    return ROLE_DENSITY_KEY[role]


# ---- tensor encoding (the value layout above) ------------------------------------------
def encode_tensor(array: Any, encoding: str, where: str) -> dict[str, Any]:
    """Split ``array`` into packed mask + encoded non-zero values.

    Returns ``{"mask": uint8[ceil(size/8)], "values": array, "scale": float,
    "nnz": int, "shape": list, "encoding": str}`` (the encoding is float32 for a tensor
    whose largest magnitude is below :data:`TINY_SCALE`).  Raises :class:`TraceError` on
    NaN/inf.
    """
    if encoding not in ENCODINGS:
        raise TraceError(f"{where}: unknown value encoding {encoding!r}; use one of {ENCODINGS}")
    a = np.asarray(array)
    if a.dtype.kind not in "fiub":
        raise TraceError(f"{where}: dtype {a.dtype} is not numeric")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise TraceError(f"{where}: {bad} NaN/inf values; fix the run (lower the learning "
                         "rate, check the loss) before recording")
    mask = a != 0
    values = a[mask]
    scale = float(np.abs(values).max()) if values.size else 1.0
    if scale < TINY_SCALE:
        encoding = "float32"  # q / 32767 * scale or v * scale would underflow to 0
    # a value that is non-zero stays non-zero: magnitudes below the format's step are
    # stored as its smallest step (the mask, not rounding, decides sparsity)
    if encoding == "fixed16":
        q = np.rint(np.abs(values) / scale * FIXED16_MAX)
        enc = (np.sign(values) * np.maximum(q, 1)).astype(np.int16)
    elif encoding == "float16":
        tiny = np.float32(np.finfo(np.float16).smallest_subnormal)
        mag = np.maximum(np.abs(values) / np.float32(scale), tiny)
        enc = (np.sign(values) * mag).astype(np.float16)
    else:
        enc, scale = values.astype(np.float32), 1.0
    return {"mask": np.packbits(mask.reshape(-1)), "values": enc, "scale": scale,
            "nnz": int(values.size), "shape": list(a.shape), "encoding": encoding}


def decode_values(values: Any, encoding: str, scale: float) -> Any:
    """Encoded non-zero values -> float32 values."""
    if encoding == "fixed16":
        return values.astype(np.float32) * np.float32(scale / FIXED16_MAX)
    if encoding == "float16":
        return values.astype(np.float32) * np.float32(scale)
    return values.astype(np.float32, copy=False)


# ---- value checks (every stored value is a non-zero inside its encoding's range) ----------
FLOAT32_MAX = 3.4028234663852886e38
VALUE_DTYPES = {"fixed16": "<i2", "float16": "<f2", "float32": "<f4"}


def value_problem(values: Any, encoding: str) -> str | None:
    """What is wrong with the stored (encoded) non-zero values of one tensor, or ``None``.

    Each sits under a set mask bit, so none may be 0; fixed16 codes lie in
    [-32767, 32767]; float16 values in [-1, 1] (the scale is the largest magnitude);
    float32 values are finite."""

    zeros = int(np.count_nonzero(values == 0))
    if zeros:
        return f"{zeros} stored value(s) are 0 under set mask bits"
    if encoding == "fixed16":
        bad = int(np.count_nonzero(values < -FIXED16_MAX))
        limits = f"[-{FIXED16_MAX}, {FIXED16_MAX}]"
    elif encoding == "float16":
        bad = int(np.count_nonzero(~(np.abs(values) <= 1)))
        limits = "[-1, 1]"
    else:
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            return f"holds NaN/inf values ({bad})"
        return None
    return f"{bad} stored value(s) lie outside the {encoding} range {limits}" if bad else None


def decoded_problem(decoded: Any) -> str | None:
    """What is wrong with decoded float32 values (overflow or underflow of the scale)."""

    bad = int(np.count_nonzero(~np.isfinite(decoded)))
    if bad:
        return f"holds NaN/inf values after scaling ({bad})"
    zeros = int(np.count_nonzero(decoded == 0))
    return f"{zeros} value(s) decode to 0 (the scale is too small)" if zeros else None


# ---- the manifest, declaratively -----------------------------------------------------------
# A spec is a function (value, at) that raises _Mismatch(at, problem) when ``value`` does not
# fit; ``at`` is the JSON path (``layers[2].passes.forward``).  One walk checks the types
# and ranges of the whole manifest before anything uses it.
Spec = Callable[[Any, str], None]
INT_LIMIT = 2 ** 62  # no count, size or index of a trace comes near this


class _Mismatch(Exception):
    def __init__(self, at: str, problem: str) -> None:
        super().__init__(at, problem)
        self.at, self.problem = at, problem


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _integer(minimum: int = 0) -> Spec:
    def check(value: Any, at: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Mismatch(at, f"must be an integer, got {_show(value)}")
        if not minimum <= value <= INT_LIMIT:
            raise _Mismatch(at, f"= {_show(value)} must lie in [{minimum}, 2**62]")
    return check


def _number(positive: bool = False, maximum: float = math.inf) -> Spec:
    def check(value: Any, at: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Mismatch(at, f"must be a number, got {_show(value)}")
        if not math.isfinite(value) or value > maximum or (positive and value <= 0):
            want = "a positive finite number" if positive else "a finite number"
            raise _Mismatch(at, f"= {_show(value)} must be {want}"
                                + (f" <= {maximum:g}" if math.isfinite(maximum) else ""))
    return check


def _text(nonempty: bool = True) -> Spec:
    def check(value: Any, at: str) -> None:
        if not isinstance(value, str) or (nonempty and not value):
            raise _Mismatch(at, f"must be a {'non-empty ' if nonempty else ''}string, "
                                f"got {_show(value)}")
    return check


def _one_of(*choices: Any) -> Spec:
    def check(value: Any, at: str) -> None:
        if not any(type(value) is type(c) and value == c for c in choices):
            raise _Mismatch(at, f"= {_show(value)} must be one of {', '.join(map(repr, choices))}")
    return check


def _nullable(spec: Spec) -> Spec:
    def check(value: Any, at: str) -> None:
        if value is not None:
            spec(value, at)
    return check


def _anything(value: Any, at: str) -> None:
    """Free-form JSON (method parameters, notes)."""


def _any_mapping(value: Any, at: str) -> None:
    if not isinstance(value, dict):
        raise _Mismatch(at, f"must be a mapping, got {_show(value)}")


def _record(required: dict[str, Spec], optional: dict[str, Spec] | None = None) -> Spec:
    """A mapping with these keys (other keys are ignored, for forward compatibility)."""
    def check(value: Any, at: str) -> None:
        _any_mapping(value, at)
        missing = [k for k in required if k not in value]
        if missing:
            raise _Mismatch(at, f"lacks {', '.join(map(repr, missing))}")
        for key, spec in {**required, **(optional or {})}.items():
            if key in value:
                spec(value[key], f"{at}.{key}")
    return check


def _table(key: Spec, item: Spec, min_len: int = 0) -> Spec:
    """A mapping of free keys (each checked by ``key``) to ``item`` values."""
    def check(value: Any, at: str) -> None:
        _any_mapping(value, at)
        if len(value) < min_len:
            raise _Mismatch(at, "must not be empty")
        for k, v in value.items():
            key(k, f"{at} key")
            item(v, f"{at}.{k}")
    return check


def _array(item: Spec, min_len: int = 0) -> Spec:
    def check(value: Any, at: str) -> None:
        if not isinstance(value, list):
            raise _Mismatch(at, f"must be a list, got {_show(value)}")
        if len(value) < min_len:
            raise _Mismatch(at, "must not be empty")
        for i, v in enumerate(value):
            item(v, f"{at}[{i}]")
    return check


_GEOMETRY_INTS = tuple(f.name for f in fields(LayerGeometry) if f.name not in ("name", "kind"))
_ROLES = tuple(ROLE_DENSITY_KEY)
MANIFEST_SPEC: Spec = _record({
    "format": _one_of(FORMAT_NAME),
    "schema_version": _one_of(SCHEMA_VERSION),
    "encoding": _one_of(*ENCODINGS),
    "metadata": _record(
        {"model": _text(), "dataset": _text(), "method": _text(),
         "batch_indices": _array(_integer(0), min_len=1)},
        {"step": _integer(0), "epoch": _integer(0), "method_params": _any_mapping,
         "phase": _nullable(_text(nonempty=False)), "mode": _one_of("train", "inference"),
         "extra": _any_mapping}),
    "layers": _array(_record({
        "geometry": _record({"name": _text(), "kind": _one_of(*LAYER_KINDS),
                             **{name: _integer(0) for name in _GEOMETRY_INTS}},
                            {"macs": _integer(0)}),
        "passes": _table(_one_of(*PASSES), _table(_one_of(*_ROLES), _text(), 1), 1),
    }, {"densities": _anything}), min_len=1),
    "tensors": _table(_text(), _record(
        {"shape": _array(_integer(0), min_len=1), "nnz": _integer(0),
         "scale": _number(positive=True, maximum=FLOAT32_MAX),
         "encoding": _one_of(*ENCODINGS)},
        {"role": _one_of(*_ROLES), "density": _anything})),
})


def check_manifest(manifest: Any, where: str) -> None:
    """Check the types and ranges of a whole manifest (cross references between layers
    and tensors are the reader's); raises :class:`TraceError` naming the JSON path."""
    if not isinstance(manifest, dict):
        raise TraceError(f"{where}: manifest is not a JSON object; the file is corrupt")
    if manifest.get("format") != FORMAT_NAME:
        raise TraceError(f"{where}: is not an accelsim trace (format "
                         f"{_show(manifest.get('format'))})")
    version = manifest.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise TraceError(f"{where}: has schema version {_show(version)} but this accelsim reads "
                         f"version {SCHEMA_VERSION}; re-record it or use the accelsim that wrote it")
    try:
        MANIFEST_SPEC(manifest, "manifest")
    except _Mismatch as bad:
        raise TraceError(f"{where}: {bad.at} {bad.problem}; the file is corrupt, "
                         "re-record it") from None
