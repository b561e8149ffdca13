"""GPU timing harness: the sparse kernels against cuDNN/cuBLAS/cuSPARSE/2:4 on identical shapes.

Method (every number in the JSON): inputs are uploaded and every per-mask-change structure is
built before timing; each candidate runs ``warmup`` times, then ``reps`` (>= 50) rounds in which
the candidates run A/B interleaved (the order rotates every round), each call preceded by an L2
flush (writing a buffer of ``max(2 x L2, 64 MiB)``) and bracketed by CUDA events on the current
stream.  Reported per candidate: median, first/third quartile and IQR in milliseconds.

Candidates per pass (``ours_*`` are this package's kernels, fp32 with fp32 accumulation):

=================  ================================================================
``dense_fp32``     cuDNN (conv) / cuBLAS (linear), fp32, TF32 off
``dense_tf32``     the same with TF32 allowed
``dense_bf16``     the same on bf16 copies of the operands
``cusparse_csr``   ``torch.sparse_csr`` weight (forward, backward-input) or saved
                   activation (backward-weight, converted every call) x dense, with
                   the im2col/col2im (``unfold``/``fold``) and layout copies it needs
``semi_24``        fp16 2:4 semi-structured weight (``to_sparse_semi_structured``,
                   the weight re-pruned to 2:4, so only its speed is meaningful);
                   1x1 and linear layers whose sizes fit, forward and backward-input
``ours_compress``  activation compression (forward, backward-weight: every call)
``ours_kernel``    the pass's kernel alone
``ours_total``     compression + kernel (the figure speedups use)
=================  ================================================================

Weight compression (every mask change) is timed separately as ``ours_weight_compress``
(``cusparse_weight_compress`` for the CSR baseline).  Speedup of X over baseline B =
``median(B) / median(X)``.  Break-even sparsity (synthetic sweeps): the swept sparsity at which
``ours_total`` equals the baseline, interpolated linearly between the bracketing sweep points.
"""

from __future__ import annotations

import ctypes
import fnmatch
import json
import os
import platform
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import ConfigError
from accelsim.gpu.reference import ConvParams

PASSES = ("forward", "backward_input", "backward_weight")
BASELINES = ("dense_fp32", "dense_tf32", "dense_bf16", "cusparse_csr", "semi_24")
SCHEMA = "accelsim-gpu-bench/1"


@dataclass
class Case:
    """One layer and pass with dense numpy operands (zeros where the method made them zero)."""

    layer: str
    pass_name: str
    weight: np.ndarray          # [O, C, KH, KW] or [O, C]
    activation: np.ndarray      # [N, C, H, W] or [N, C] (forward input / saved activation)
    grad: np.ndarray            # [N, O, OH, OW] or [N, O]
    params: ConvParams = field(default_factory=ConvParams)
    info: dict[str, Any] = field(default_factory=dict)


def _torch():
    from accelsim.gpu.ops import require_cuda

    return require_cuda()


# ---- environment and statistics ---------------------------------------------------------


def _driver_version() -> str | None:
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        v = ctypes.c_int()
        if libcuda.cuDriverGetVersion(ctypes.byref(v)) == 0:
            return f"{v.value // 1000}.{v.value % 1000 // 10}"
    except OSError:
        pass
    return None


def environment() -> dict[str, Any]:
    """GPU name, capability, memory, L2, SMs, driver (CUDA driver API version and the
    nvidia-smi string when available), CUDA runtime of torch, cuDNN, torch, host."""
    torch = _torch()
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    smi = None
    try:
        import subprocess

        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip() or None
    except Exception:  # nvidia-smi is optional
        smi = None
    return {
        "gpu": props.name, "capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "driver": smi, "driver_cuda_api": _driver_version(),
        "cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "torch": torch.__version__, "python": platform.python_version(),
        "host": platform.node(),
    }


def summarize(ms: Sequence[float]) -> dict[str, float]:
    """Median, quartiles (``statistics.quantiles``, inclusive), IQR, min, mean, count (ms)."""
    q1, med, q3 = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 \
        else (ms[0], ms[0], ms[0])
    return {"median_ms": med, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1, "min_ms": min(ms),
            "mean_ms": statistics.fmean(ms), "reps": len(ms)}


class Timer:
    """CUDA-event timer with L2 flushing and interleaved candidates (see the module doc)."""

    def __init__(self, reps: int = 50, warmup: int = 10, flush_bytes: int | None = None) -> None:
        torch = _torch()
        if reps < 50:
            raise ConfigError(f"--reps {reps}: at least 50 repetitions are required")
        self.reps, self.warmup = reps, warmup
        if flush_bytes is None:
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            l2 = getattr(props, "L2_cache_size", 0) or 64 * 2**20
            flush_bytes = max(2 * l2, 64 * 2**20)
        self.flush_bytes = int(flush_bytes)
        self._flush = torch.empty(self.flush_bytes // 4, dtype=torch.float32, device="cuda")

    def measure(self, candidates: dict[str, Callable[[], Any]]) -> dict[str, dict[str, float]]:
        """Time every candidate; returns name -> :func:`summarize` statistics."""
        torch = _torch()
        names = list(candidates)
        for name in names:
            for _ in range(self.warmup):
                candidates[name]()
        torch.cuda.synchronize()
        events: dict[str, list[tuple[Any, Any]]] = {n: [] for n in names}
        for rep in range(self.reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                self._flush.zero_()
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                candidates[name]()
                end.record()
                events[name].append((start, end))
        torch.cuda.synchronize()
        return {n: summarize([s.elapsed_time(e) for s, e in events[n]]) for n in names}


# ---- candidates -----------------------------------------------------------------------


def _prune_24(w2d):
    """Keep the 2 largest |w| of every 4 consecutive entries of each row (fp16)."""
    torch = _torch()
    rows, cols = w2d.shape
    groups = w2d.abs().reshape(rows, cols // 4, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(2, groups.topk(2, dim=2).indices, True)
    return (w2d * keep.reshape(rows, cols)).half().contiguous()


def _semi_24(w2d, rhs_cols: int) -> tuple[Any | None, str | None]:
    """A 2:4 fp16 semi-structured copy of ``w2d`` [M, K] for ``w2d @ B`` with ``rhs_cols``
    columns, or ``(None, reason)``."""
    m, k = w2d.shape
    if m % 64 or k % 64 or rhs_cols % 8:
        return None, f"2:4 needs rows and reduction multiples of 64 (got {m}x{k}) and " \
                     f"a multiple of 8 columns (got {rhs_cols})"
    try:
        from torch.sparse import to_sparse_semi_structured

        return to_sparse_semi_structured(_prune_24(w2d)), None
    except Exception as exc:  # unsupported GPU or build: record the reason
        return None, f"2:4 unavailable: {' '.join(str(exc).split())[:200]}"


def _tf32(on: bool) -> None:
    torch = _torch()
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def build_candidates(case: Case, baselines: Iterable[str]) -> tuple[dict[str, Callable], dict]:
    """Upload the operands, build per-mask-change structures, and return (candidates,
    extras): ``extras`` holds weight-compression callables (timed separately), the
    reference result for the error check and skipped baselines with reasons."""
    torch = _torch()
    import torch.nn.functional as F

    from accelsim.gpu import ops

    p = case.params
    linear = case.weight.ndim == 2
    w = torch.from_numpy(np.ascontiguousarray(case.weight, dtype=np.float32)).cuda()
    x = torch.from_numpy(np.ascontiguousarray(case.activation, dtype=np.float32)).cuda()
    g = torch.from_numpy(np.ascontiguousarray(case.grad, dtype=np.float32)).cuda()
    w4 = w if not linear else w[:, :, None, None]
    o, c, kh, kw = w4.shape
    n = x.shape[0]
    h, wd = (x.shape[2], x.shape[3]) if not linear else (1, 1)
    oh, ow = p.output_size(h, wd, kh, kw)
    ckk, L = c * kh * kw, oh * ow
    pointwise = kh == kw == 1 and p.stride == (1, 1) and p.padding == (0, 0)
    conv_kw = {"stride": p.stride, "padding": p.padding, "dilation": p.dilation}
    unfold_kw = {"kernel_size": (kh, kw), "dilation": p.dilation, "padding": p.padding,
                 "stride": p.stride}
    wanted = set(baselines)
    cands: dict[str, Callable] = {}
    extras: dict[str, Any] = {"weight_compress": {}, "skipped": {}}

    def cols_of(t):  # [N, C, H, W] -> [C*KH*KW, N*L]
        if linear:
            return t.t()
        if pointwise:
            return t.permute(1, 0, 2, 3).reshape(c, n * h * wd)
        return F.unfold(t, **unfold_kw).permute(1, 0, 2).reshape(ckk, n * L)

    def to_nchw(m2d, channels):  # [channels, N*L] -> [N, channels, OH, OW]
        return m2d.reshape(channels, n, oh, ow).permute(1, 0, 2, 3)

    def dense(dtype_w, dtype_x, dtype_g):
        wd_, xd_, gd_ = w.to(dtype_w), x.to(dtype_x), g.to(dtype_g)
        w4d = wd_ if not linear else wd_[:, :, None, None]
        if case.pass_name == "forward":
            return (lambda: F.linear(xd_, wd_)) if linear else (lambda: F.conv2d(xd_, wd_, **conv_kw))
        if case.pass_name == "backward_input":
            return (lambda: gd_ @ wd_) if linear else \
                (lambda: torch.nn.grad.conv2d_input(tuple(x.shape), w4d, gd_, **conv_kw))
        return (lambda: gd_.t() @ xd_) if linear else \
            (lambda: torch.nn.grad.conv2d_weight(xd_, tuple(w4.shape), gd_, **conv_kw))

    def with_tf32(fn, on):
        def run():
            _tf32(on)
            return fn()
        return run

    f32 = torch.float32
    if "dense_fp32" in wanted:
        cands["dense_fp32"] = with_tf32(dense(f32, f32, f32), False)
    if "dense_tf32" in wanted:
        cands["dense_tf32"] = with_tf32(dense(f32, f32, f32), True)
    if "dense_bf16" in wanted:
        b16 = torch.bfloat16
        cands["dense_bf16"] = with_tf32(dense(b16, b16, b16), False)
    _tf32(False)
    w2d = w4.reshape(o, ckk)
    if case.pass_name == "forward":
        extras["reference"] = (F.linear(x, w) if linear else F.conv2d(x, w, **conv_kw))
        if "cusparse_csr" in wanted:
            w_csr = w2d.to_sparse_csr()
            extras["weight_compress"]["cusparse_csr"] = lambda: w2d.to_sparse_csr()
            cands["cusparse_csr"] = (lambda: (w_csr @ x.t()).t()) if linear else \
                (lambda: to_nchw(w_csr @ cols_of(x), o))
        if "semi_24" in wanted:
            s24, why = _semi_24(w2d, n * L) if (pointwise or linear) else \
                (None, "2:4 baseline only for 1x1 (stride 1, no padding) and linear layers")
            if s24 is None:
                extras["skipped"]["semi_24"] = why
            else:
                xh = cols_of(x).half().contiguous()
                cands["semi_24"] = lambda: s24 @ xh
        wt = ops.compress_weight_tiles(w)
        extras["weight_compress"]["ours"] = lambda: ops.compress_weight_tiles(w)
        at = ops.compress_activation(x)
        cands["ours_compress"] = lambda: ops.compress_activation(x)
        cands["ours_kernel"] = lambda: ops.conv_forward(wt, at, tuple(w.shape), (h, wd), p)
        cands["ours_total"] = lambda: ops.conv_forward(wt, ops.compress_activation(x),
                                                       tuple(w.shape), (h, wd), p)
    elif case.pass_name == "backward_input":
        extras["reference"] = (g @ w) if linear else \
            torch.nn.grad.conv2d_input(tuple(x.shape), w4, g, **conv_kw)
        wT = w2d.t().contiguous()
        g2d = g if linear else g.permute(1, 0, 2, 3).reshape(o, n * L)

        def col2im(cols):  # [CKK, N*L] -> [N, C, H, W]
            if linear:
                return cols.t()
            if pointwise:
                return cols.reshape(c, n, h, wd).permute(1, 0, 2, 3)
            return F.fold(cols.reshape(ckk, n, L).permute(1, 0, 2), output_size=(h, wd),
                          **unfold_kw)

        if "cusparse_csr" in wanted:
            wT_csr = wT.to_sparse_csr()
            extras["weight_compress"]["cusparse_csr"] = lambda: wT.to_sparse_csr()
            cands["cusparse_csr"] = (lambda: (wT_csr @ g.t()).t()) if linear else \
                (lambda: col2im(wT_csr @ g.permute(1, 0, 2, 3).reshape(o, n * L)))
        if "semi_24" in wanted:
            s24, why = _semi_24(wT, n * L) if (pointwise or linear) else \
                (None, "2:4 baseline only for 1x1 (stride 1, no padding) and linear layers")
            if s24 is None:
                extras["skipped"]["semi_24"] = why
            else:
                gh = (g.t() if linear else g2d).half().contiguous()
                cands["semi_24"] = lambda: s24 @ gh
        csr_t = ops.compress_weight_csr(w, transpose=True)
        extras["weight_compress"]["ours"] = lambda: ops.compress_weight_csr(w, transpose=True)
        cands["ours_kernel"] = lambda: ops.conv_backward_input(csr_t, g, tuple(w.shape),
                                                               (h, wd), p)
        cands["ours_total"] = cands["ours_kernel"]
    else:
        extras["reference"] = (g.t() @ x) if linear else \
            torch.nn.grad.conv2d_weight(x, tuple(w4.shape), g, **conv_kw)
        if "cusparse_csr" in wanted:
            gT = g if linear else g.permute(0, 2, 3, 1).reshape(n * L, o)

            def csr_weight_grad():
                x_csr = cols_of(x).contiguous().to_sparse_csr()
                return (x_csr @ gT).t().reshape(w.shape)

            cands["cusparse_csr"] = csr_weight_grad
        if "semi_24" in wanted:
            extras["skipped"]["semi_24"] = "backward-weight's sparse operand is the activation, " \
                                           "which is not 2:4 structured"
        at = ops.compress_activation(x)
        cands["ours_compress"] = lambda: ops.compress_activation(x)
        cands["ours_kernel"] = lambda: ops.conv_backward_weight(g, at, tuple(w.shape), (h, wd), p)
        cands["ours_total"] = lambda: ops.conv_backward_weight(g, ops.compress_activation(x),
                                                               tuple(w.shape), (h, wd), p)
    return cands, extras


def run_case(case: Case, timer: Timer, baselines: Iterable[str] = BASELINES) -> dict[str, Any]:
    """Time one layer and pass; returns a JSON-ready row."""
    torch = _torch()
    cands, extras = build_candidates(case, baselines)
    ours = cands["ours_total"]()
    ref = extras["reference"]
    torch.cuda.synchronize()
    scale = float(ref.abs().max().item()) or 1.0
    err = float((ours.reshape(ref.shape) - ref).abs().max().item()) / scale
    timings = timer.measure(cands)
    wc = timer.measure(extras["weight_compress"]) if extras["weight_compress"] else {}
    row: dict[str, Any] = {
        "layer": case.layer, "pass": case.pass_name, **case.info,
        "weight_shape": list(case.weight.shape), "activation_shape": list(case.activation.shape),
        "stride": list(case.params.stride), "padding": list(case.params.padding),
        "dilation": list(case.params.dilation),
        "weight_density": float(np.count_nonzero(case.weight) / case.weight.size),
        "activation_density": float(np.count_nonzero(case.activation) / case.activation.size),
        "max_rel_error_vs_fp32": err, "timings": timings,
        "weight_compress": {f"{k}_weight_compress": v for k, v in wc.items()},
        "skipped": extras["skipped"],
    }
    med = {k: v["median_ms"] for k, v in timings.items()}
    row["speedup"] = {f"ours_total_vs_{b}": med[b] / med["ours_total"] for b in BASELINES if b in med}
    row["speedup"].update({f"ours_kernel_vs_{b}": med[b] / med["ours_kernel"]
                           for b in BASELINES if b in med})
    if "ours" in wc:
        amortised = med["ours_total"] + wc["ours"]["median_ms"]
        row["speedup"].update({f"ours_with_weight_compress_vs_{b}": med[b] / amortised
                               for b in BASELINES if b in med})
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
    from accelsim.trace import find_trace, open_trace

    with open_trace(find_trace(path, step)) as tr:
        for ld in tr.iter_layers():
            g = ld.geometry
            if layers and not any(fnmatch.fnmatch(g.name, pat) for pat in layers):
                continue
            if g.groups != 1:
                continue  # reported by bench_trace as skipped
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
                batch: int | None = None, reps: int = 50, warmup: int = 10,
                baselines: Sequence[str] = BASELINES,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time every layer and pass of a trace with its real masks."""
    from accelsim.trace import find_trace, open_trace

    trace_path = find_trace(path, step)
    with open_trace(trace_path) as tr:
        meta = tr.summary()
        skipped = [{"layer": g.name, "reason": f"groups = {g.groups} (kernels need 1)"}
                   for g in tr.geometries if g.groups != 1]
    timer = Timer(reps, warmup)
    rows = []
    for case in trace_cases(trace_path, layers=layers, passes=passes, batch=batch):
        if progress:
            progress(f"{case.layer} {case.pass_name}")
        rows.append(run_case(case, timer, baselines))
    return _result({"trace": str(trace_path), "summary": meta, "batch": batch}, timer, rows,
                   skipped=skipped)


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
    in_channels: int = 256
    out_channels: int = 64
    size: int = 56
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    batch: int = 32

    def describe(self) -> str:
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
                    reps: int = 50, warmup: int = 10, baselines: Sequence[str] = BASELINES,
                    seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sweep: forward over the weight x activation grid, backward-input over weight sparsity
    (at the first activation sparsity), backward-weight over activation sparsity (at the first
    weight sparsity); break-even sparsity per pass against each dense baseline."""
    for s in (*weight_sparsities, *activation_sparsities):
        if not 0.0 <= s < 1.0:
            raise ConfigError(f"sparsity {s} must be in [0, 1)")
    timer = Timer(reps, warmup)
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
    return _result({"synthetic": shape.__dict__ | {"describe": shape.describe()},
                    "weight_sparsities": list(weight_sparsities),
                    "activation_sparsities": list(activation_sparsities), "seed": seed},
                   timer, rows, break_even=be)


def _result(source: dict[str, Any], timer: Timer, rows: list[dict[str, Any]],
            **more: Any) -> dict[str, Any]:
    torch = _torch()
    return {
        "schema": SCHEMA, "environment": environment(),
        "method": {"reps": timer.reps, "warmup": timer.warmup, "flush_bytes": timer.flush_bytes,
                   "interleaved": True, "timer": "CUDA events on the current stream",
                   "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
                   "statistic": "median and IQR (ms)"},
        "source": source, "rows": rows,
        # what `accelsim plot layers --gpu` and `report --gpu` read
        "layers": [{"layer": r["layer"], "pass": r["pass"],
                    "speedup": r["speedup"].get("ours_total_vs_dense_fp32")} for r in rows],
        **more,
    }


def write_json(result: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write atomically (temp file + rename)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=float) + "\n")
    os.replace(tmp, path)
    return path
