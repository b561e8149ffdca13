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

Identical tensors (e.g. the forward weight reused by backward-input) are stored once.
Operand shapes (``batch`` = number of recorded samples):
weight ``[out, in/groups, kh, kw]`` (conv) or ``[out, in]`` (linear); activation
``[batch, in, input_h, input_w]`` or ``[batch, in]``; grad ``[batch, out, output_h,
output_w]`` or ``[batch, out]``.  Densities are measured from the masks, never targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accelsim.errors import TraceError

FORMAT_NAME = "accelsim-trace"
SCHEMA_VERSION = 1
TRACE_SUFFIX = ".trace"
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
    "nnz": int, "shape": list}``.  Raises :class:`TraceError` on NaN/inf.
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
            "nnz": int(values.size), "shape": list(a.shape)}


def decode_values(values: Any, encoding: str, scale: float) -> Any:
    """Encoded non-zero values -> float32 values."""
    if encoding == "fixed16":
        return values.astype(np.float32) * np.float32(scale / FIXED16_MAX)
    if encoding == "float16":
        return values.astype(np.float32) * np.float32(scale)
    return values.astype(np.float32, copy=False)
