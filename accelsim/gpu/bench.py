"""GPU timing harness: the Triton kernels against cuDNN/cuBLAS (fp32, TF32, bf16), cuSPARSE
CSR and 2:4 on identical shapes, per layer and pass (candidates: :mod:`accelsim.gpu.candidates`;
timing method: :mod:`accelsim.gpu.timing`).

Speedup of X over baseline B = ``median(B) / median(X)``; ``ours_total`` (format kernels +
kernel, fp32) is the figure ``accelsim validate`` reads (the ``layers`` list: over
``dense_fp32``; ``rows[].speedup``: over every baseline).  Break-even sparsity (synthetic
sweeps): the swept sparsity at which ``ours_total`` equals the baseline, interpolated linearly.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import ConfigError
from accelsim.fileio import atomic_write
from accelsim.gpu.candidates import BASELINES, build_candidates
from accelsim.gpu.ops import default_device
from accelsim.gpu.reference import ConvParams
from accelsim.gpu.timing import MIN_REPS, Timer, environment
from accelsim.trace import find_trace, open_trace

PASSES = ("forward", "backward_input", "backward_weight")
SCHEMA = "accelsim-gpu-bench/2"


@dataclass
class Case:
    """One layer and pass with dense numpy operands (zeros where the method made them zero)."""

    layer: str
    pass_name: str
    weight: np.ndarray          # [O, C/groups, KH, KW] or [O, C]
    activation: np.ndarray      # [N, C, H, W] or [N, C] (forward input / saved activation)
    grad: np.ndarray            # [N, O, OH, OW] or [N, O]
    params: ConvParams = field(default_factory=ConvParams)
    info: dict[str, Any] = field(default_factory=dict)


def run_case(case: Case, timer: Timer, baselines: Iterable[str] = BASELINES) -> dict[str, Any]:
    """Time one layer and pass; returns a JSON-ready row."""
    cands, extras = build_candidates(case, baselines, timer.device)
    ref, ours = extras["reference"].float(), extras["ours"]
    scale = float(ref.abs().max().item()) or 1.0
    err = float((ours.reshape(ref.shape) - ref).abs().max().item()) / scale
    timings = timer.measure(cands)
    med = {k: v["median_ms"] for k, v in timings.items()}
    row: dict[str, Any] = {
        "layer": case.layer, "pass": case.pass_name, **case.info,
        "weight_shape": list(case.weight.shape), "activation_shape": list(case.activation.shape),
        "stride": list(case.params.stride), "padding": list(case.params.padding),
        "dilation": list(case.params.dilation), "groups": case.params.groups,
        "weight_density": float(np.count_nonzero(case.weight) / case.weight.size),
        "activation_density": float(np.count_nonzero(case.activation) / case.activation.size),
        "max_rel_error_vs_fp32": err, "timings": timings, "skipped": extras["skipped"],
    }
    speed = {}
    for ours_name in ("ours_total", "ours_kernel"):
        speed.update({f"{ours_name}_vs_{b}": med[b] / med[ours_name]
                      for b in BASELINES if b in med})
    for prec in ("tf32", "bf16"):
        if f"ours_total_{prec}" in med and f"dense_{prec}" in med:
            speed[f"ours_total_{prec}_vs_dense_{prec}"] = \
                med[f"dense_{prec}"] / med[f"ours_total_{prec}"]
    if "ours_sddmm_total" in med and "dense_fp32" in med:
        speed["ours_sddmm_total_vs_dense_fp32"] = med["dense_fp32"] / med["ours_sddmm_total"]
    row["speedup"] = speed
    return row


# ---- trace and synthetic drivers -----------------------------------------------------------


def _repeat_batch(a: np.ndarray, batch: int | None) -> np.ndarray:
    if batch is None or batch == a.shape[0]:
        return a
    return np.resize(a, (batch, *a.shape[1:])).astype(np.float32)


def trace_cases(path: str | os.PathLike[str], *, step: int | None = None,
                layers: Sequence[str] | None = None, passes: Sequence[str] = PASSES,
                batch: int | None = None) -> Iterable[Case]:
    """Cases of every (matching) layer and recorded pass of a trace or run directory, with
    its real masks (``batch``: repeat the recorded samples cyclically to this batch)."""
    with open_trace(find_trace(path, step)) as tr:
        for ld in tr.iter_layers():
            g = ld.geometry
            if layers and not any(fnmatch.fnmatch(g.name, pat) for pat in layers):
                continue
            params = ConvParams.from_geometry(g)
            for pass_name in passes:
                if pass_name not in ld.passes:
                    continue
                if pass_name == "forward":
                    w, a = ld.operand("forward", "weight"), ld.operand("forward", "activation")
                    grad = np.zeros(g.grad_shape(a.shape[0]), dtype=np.float32)
                elif pass_name == "backward_input":
                    w, grad = ld.operand(pass_name, "weight"), ld.operand(pass_name, "grad")
                    a = np.zeros(g.activation_shape(grad.shape[0]), dtype=np.float32)
                else:
                    a, grad = ld.operand(pass_name, "activation"), ld.operand(pass_name, "grad")
                    w = np.zeros(g.weight_shape(), dtype=np.float32)
                    if "forward" in ld.passes:
                        w = ld.operand("forward", "weight")
                yield Case(g.name, pass_name, w, _repeat_batch(a, batch),
                           _repeat_batch(grad, batch), params,
                           {"kind": g.kind, "recorded_batch": int(a.shape[0])})


def bench_trace(path: str | os.PathLike[str], *, step: int | None = None,
                layers: Sequence[str] | None = None, passes: Sequence[str] = PASSES,
                batch: int | None = None, reps: int = MIN_REPS, warmup: int = 3,
                baselines: Sequence[str] = BASELINES, device: str | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time every layer and pass of a trace with its real masks."""
    trace_path = find_trace(path, step)
    with open_trace(trace_path) as tr:
        meta = tr.summary()
    timer = Timer(device or default_device(), reps, warmup)
    rows = []
    for case in trace_cases(trace_path, layers=layers, passes=passes, batch=batch):
        if progress:
            progress(f"{case.layer} {case.pass_name}")
        rows.append(run_case(case, timer, baselines))
    return result_document({"trace": str(trace_path), "summary": meta, "batch": batch}, timer,
                           rows)


def _sparse(rng: np.random.Generator, shape: tuple[int, ...], sparsity: float) -> np.ndarray:
    """Normal values with exactly ``round(sparsity * size)`` zeros at random positions."""
    a = rng.standard_normal(shape).astype(np.float32)
    a[a == 0] = 1.0
    flat = a.reshape(-1)
    flat[rng.permutation(flat.size)[:round(sparsity * flat.size)]] = 0.0
    return a


@dataclass(frozen=True)
class SyntheticShape:
    """A synthetic layer: linear when ``kind == "linear"`` (size and kernel ignored)."""

    kind: str = "conv"
    name: str = ""
    in_channels: int = 256
    out_channels: int = 64
    size: int = 56
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    batch: int = 32

    def describe(self) -> str:
        if self.name:
            return self.name
        if self.kind == "linear":
            return f"linear {self.in_channels}->{self.out_channels} batch {self.batch}"
        return (f"conv {self.in_channels}->{self.out_channels} {self.kernel}x{self.kernel} "
                f"s{self.stride} p{self.padding} at {self.size}x{self.size} batch {self.batch}")


def synthetic_case(shape: SyntheticShape, pass_name: str, weight_sparsity: float,
                   activation_sparsity: float, seed: int = 0) -> Case:
    """Uniformly random masks with exact counts; dense output gradient."""
    rng = np.random.default_rng(seed)
    if shape.kind == "linear":
        wshape: tuple[int, ...] = (shape.out_channels, shape.in_channels)
        ashape: tuple[int, ...] = (shape.batch, shape.in_channels)
        params = ConvParams()
        gshape: tuple[int, ...] = (shape.batch, shape.out_channels)
    else:
        k = shape.kernel
        wshape = (shape.out_channels, shape.in_channels, k, k)
        ashape = (shape.batch, shape.in_channels, shape.size, shape.size)
        params = ConvParams((shape.stride,) * 2, (shape.padding,) * 2)
        oh, ow = params.output_size(shape.size, shape.size, k, k)
        gshape = (shape.batch, shape.out_channels, oh, ow)
    return Case(shape.describe(), pass_name, _sparse(rng, wshape, weight_sparsity),
                _sparse(rng, ashape, activation_sparsity),
                rng.standard_normal(gshape).astype(np.float32), params,
                {"weight_sparsity": weight_sparsity, "activation_sparsity": activation_sparsity})


def break_even(points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Sparsity where speedup crosses 1 from ``(sparsity, speedup)`` points (sorted here):
    ``value`` by linear interpolation between the first bracketing pair, or ``None`` with
    ``note`` ``"faster at every swept sparsity"`` / ``"slower at every swept sparsity"``."""
    pts = sorted(points)
    if not pts:
        return {"value": None, "note": "no points"}
    if pts[0][1] >= 1.0:
        return {"value": None, "note": "faster at every swept sparsity"}
    for (s0, v0), (s1, v1) in zip(pts, pts[1:], strict=False):
        if v0 < 1.0 <= v1:
            return {"value": s0 + (1.0 - v0) * (s1 - s0) / (v1 - v0), "note": "interpolated"}
    return {"value": None, "note": "slower at every swept sparsity"}


def bench_synthetic(shape: SyntheticShape, weight_sparsities: Sequence[float],
                    activation_sparsities: Sequence[float], *, passes: Sequence[str] = PASSES,
                    reps: int = MIN_REPS, warmup: int = 3,
                    baselines: Sequence[str] = BASELINES, seed: int = 0,
                    device: str | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sweep: forward over the weight x activation grid, backward-input over weight sparsity
    (at the first activation sparsity), backward-weight over activation sparsity (at the first
    weight sparsity); break-even sparsity per pass against each dense baseline."""
    for s in (*weight_sparsities, *activation_sparsities):
        if not 0.0 <= s < 1.0:
            raise ConfigError(f"sparsity {s} must be in [0, 1)")
    timer = Timer(device or default_device(), reps, warmup)
    rows = []
    grid = {"forward": [(ws, a) for a in activation_sparsities for ws in weight_sparsities],
            "backward_input": [(ws, activation_sparsities[0]) for ws in weight_sparsities],
            "backward_weight": [(weight_sparsities[0], a) for a in activation_sparsities]}
    for pass_name in passes:
        for ws, a in grid[pass_name]:
            if progress:
                progress(f"{pass_name} weight {ws:.2f} activation {a:.2f}")
            rows.append(run_case(synthetic_case(shape, pass_name, ws, a, seed), timer, baselines))
    be = []
    for pass_name in passes:
        sub = [r for r in rows if r["pass"] == pass_name]
        swept, fixed = ("activation_sparsity", "weight_sparsity") \
            if pass_name == "backward_weight" else ("weight_sparsity", "activation_sparsity")
        for fixed_value in sorted({r[fixed] for r in sub}):
            pts = [r for r in sub if r[fixed] == fixed_value]
            for base in ("dense_fp32", "dense_tf32", "dense_bf16"):
                key = f"ours_total_vs_{base}"
                if all(key in r["speedup"] for r in pts):
                    be.append({"pass": pass_name, "swept": swept, fixed: fixed_value,
                               "baseline": base,
                               **break_even([(r[swept], r["speedup"][key]) for r in pts])})
    return result_document({"synthetic": shape.__dict__ | {"describe": shape.describe()},
                    "weight_sparsities": list(weight_sparsities),
                    "activation_sparsities": list(activation_sparsities), "seed": seed},
                   timer, rows, break_even=be)


def result_document(source: dict[str, Any], timer: Timer, rows: list[dict[str, Any]],
                    **more: Any) -> dict[str, Any]:
    """The results file: environment, method, rows, and the ``layers`` list that
    ``accelsim validate --gpu-results`` and ``plot layers --gpu`` read."""
    import torch

    env = environment(timer.device)
    return {
        "schema": SCHEMA, "device": env["gpu"], "environment": env,
        "method": timer.method() | {"cudnn_benchmark": bool(torch.backends.cudnn.benchmark)},
        "source": source, "rows": rows,
        "layers": validate_layers(rows), **more,
    }


def validate_layers(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"layer", "pass", "speedup"}]`` of ``ours_total`` over ``dense_fp32`` (rows without
    that baseline are left out)."""
    return [{"layer": r["layer"], "pass": r["pass"],
             "speedup": r["speedup"]["ours_total_vs_dense_fp32"]}
            for r in rows if "ours_total_vs_dense_fp32" in r.get("speedup", {})]


def write_json(result: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write atomically (:func:`accelsim.fileio.atomic_write`)."""
    return atomic_write(out, json.dumps(result, indent=1, default=float) + "\n")
