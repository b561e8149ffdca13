"""The timed candidates of one layer and pass: dense and sparse library baselines and the
Triton kernels with every per-step format kernel they need.

=====================  ==================================================================
``dense_fp32``         cuDNN (conv) / cuBLAS (linear), fp32 with TF32 off, NCHW
``dense_tf32``         the same with TF32 allowed
``dense_bf16``         bf16 operands in channels_last
``cusparse_csr``       ``torch.sparse_csr`` weight (forward, backward-input) or saved
                       activation (backward-weight, converted every call) x the lowered
                       (unfold/fold) dense operand
``semi_24``            fp16 2:4 semi-structured weight (``to_sparse_semi_structured``; the
                       weight re-pruned to 2:4, so only its speed means anything); 1x1
                       and linear layers whose sizes fit, forward and backward-input
``ours_compress``      the format kernels of a training step this pass reads (below)
``ours_kernel``        the pass's kernel alone
``ours_total``         format kernels + kernel, fp32 (the speedups ``accelsim validate`` uses)
``ours_total_tf32``    forward in tf32 / bf16 when the density picks the ``tl.dot`` path
``ours_total_bf16``
``ours_sddmm_total``   backward-weight at the weight mask's entries only (SWAT, AC/DC)
=====================  ==================================================================

Format kernels counted per pass (conservatively, each pass pays for what it reads even
where a real step shares it): forward the producer (read X, write X and its bitmap) and the
weight condensing; backward-input the transposed condensing; backward-weight the producer
(the saved activation's bitmap) and, for SDDMM, the condensing.  cuDNN's global
``benchmark`` autotuner is on for every dense baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from accelsim.gpu.ops import SparseConv, pick_path

BASELINES = ("dense_fp32", "dense_tf32", "dense_bf16", "cusparse_csr", "semi_24")


def _tf32(on: bool) -> None:
    import torch

    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def _prune_24(w2d):
    """Keep the 2 largest |w| of every 4 consecutive entries of each row (fp16)."""
    import torch

    rows, cols = w2d.shape
    groups = w2d.abs().reshape(rows, cols // 4, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(2, groups.topk(2, dim=2).indices, True)
    return (w2d * keep.reshape(rows, cols)).half().contiguous()


def _semi_24(w2d, rhs_cols: int) -> tuple[Any | None, str | None]:
    m, k = w2d.shape
    if not w2d.is_cuda:
        return None, "2:4 semi-structured needs a CUDA GPU"
    if m % 64 or k % 64 or rhs_cols % 8:
        return None, (f"2:4 needs rows and reduction multiples of 64 (got {m}x{k}) and a "
                      f"multiple of 8 columns (got {rhs_cols})")
    try:
        from torch.sparse import to_sparse_semi_structured

        return to_sparse_semi_structured(_prune_24(w2d)), None
    except Exception as exc:  # unsupported GPU or build: record the reason
        return None, f"2:4 unavailable: {' '.join(str(exc).split())[:200]}"


def _dense(case, w, x, g, dtype, channels_last: bool, tf32: bool) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    kw = {"stride": case.params.stride, "padding": case.params.padding,
          "dilation": case.params.dilation, "groups": case.params.groups}
    fmt = torch.channels_last if channels_last and x.dim() == 4 else torch.contiguous_format
    wd, xd, gd = (t.to(dtype).contiguous(memory_format=fmt) for t in (w, x, g))
    pass_name = case.pass_name
    if x.dim() == 2:
        fn = {"forward": lambda: F.linear(xd, wd), "backward_input": lambda: gd @ wd,
              "backward_weight": lambda: gd.t() @ xd}[pass_name]
    elif pass_name == "forward":
        def fn():
            return F.conv2d(xd, wd, **kw)
    elif pass_name == "backward_input":
        def fn():
            return torch.nn.grad.conv2d_input(tuple(x.shape), wd, gd, **kw)
    else:
        def fn():
            return torch.nn.grad.conv2d_weight(xd, tuple(w.shape), gd, **kw)

    def run():
        _tf32(tf32)
        return fn()
    return run


def _lowered(case, w, x, g, wanted: set[str], cands: dict, extras: dict) -> None:
    """cuSPARSE CSR and 2:4 on the lowered GEMM (groups 1 only)."""
    import torch.nn.functional as F

    p = case.params
    linear = x.dim() == 2
    o = w.shape[0]
    ckk = int(np.prod(w.shape[1:]))
    n = x.shape[0]
    h, wd = (1, 1) if linear else x.shape[2:]
    kh, kw = (1, 1) if linear else w.shape[2:]
    oh, ow = p.output_size(h, wd, kh, kw)
    L = oh * ow
    pointwise = kh == kw == 1 and p.stride == (1, 1) and p.padding == (0, 0)
    ukw = {"kernel_size": (kh, kw), "dilation": p.dilation, "padding": p.padding,
           "stride": p.stride}
    w2d = w.reshape(o, ckk)

    def cols_of(t):  # [N, C, H, W] -> [C*KH*KW, N*L]
        if linear:
            return t.t()
        return F.unfold(t, **ukw).permute(1, 0, 2).reshape(ckk, n * L)

    def col2im(c2):  # [CKK, N*L] -> [N, C, H, W]
        if linear:
            return c2.t()
        return F.fold(c2.reshape(ckk, n, L).permute(1, 0, 2), output_size=(h, wd), **ukw)

    g2d = g.t() if linear else g.permute(1, 0, 2, 3).reshape(o, n * L)
    if "cusparse_csr" in wanted:
        if case.pass_name == "forward":
            w_csr = w2d.to_sparse_csr()
            cands["cusparse_csr"] = lambda: w_csr @ cols_of(x)
        elif case.pass_name == "backward_input":
            wT_csr = w2d.t().contiguous().to_sparse_csr()
            cands["cusparse_csr"] = lambda: col2im(wT_csr @ g2d)
        else:
            gT = g2d.t().contiguous()
            cands["cusparse_csr"] = lambda: (cols_of(x).contiguous().to_sparse_csr() @ gT).t()
    if "semi_24" in wanted:
        if case.pass_name == "backward_weight":
            extras["skipped"]["semi_24"] = ("backward-weight's sparse operand is the "
                                            "activation, which is not 2:4 structured")
        elif not (pointwise or linear):
            extras["skipped"]["semi_24"] = "2:4 baseline only for 1x1 (stride 1) and linear"
        else:
            a = w2d if case.pass_name == "forward" else w2d.t().contiguous()
            s24, why = _semi_24(a, n * L)
            if s24 is None:
                extras["skipped"]["semi_24"] = why
            else:
                rhs = (cols_of(x) if case.pass_name == "forward" else g2d).half().contiguous()
                cands["semi_24"] = lambda: s24 @ rhs


def build_candidates(case, baselines: Iterable[str], device: str) -> tuple[dict, dict]:
    """``(candidates, extras)`` for a :class:`accelsim.gpu.bench.Case` on ``device``;
    ``extras`` holds the fp32 reference output, ``ours`` (the result of ``ours_total``) and
    ``skipped`` baselines with reasons."""
    import torch

    torch.backends.cudnn.benchmark = True
    w, x, g = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)
               for a in (case.weight, case.activation, case.grad))
    wanted = set(baselines)
    cands: dict[str, Callable] = {}
    extras: dict[str, Any] = {"skipped": {}}
    f32 = torch.float32
    if "dense_fp32" in wanted:
        cands["dense_fp32"] = _dense(case, w, x, g, f32, False, False)
    if "dense_tf32" in wanted:
        cands["dense_tf32"] = _dense(case, w, x, g, f32, False, True)
    if "dense_bf16" in wanted:
        cands["dense_bf16"] = _dense(case, w, x, g, torch.bfloat16, True, False)
    if case.params.groups == 1:
        _lowered(case, w, x, g, wanted, cands, extras)
    else:
        for b in {"cusparse_csr", "semi_24"} & wanted:
            extras["skipped"][b] = "grouped convolution: no lowered-GEMM baseline"
    extras["reference"] = _dense(case, w, x, g, f32, False, False)()
    conv = SparseConv(tuple(w.shape), tuple(x.shape), case.params, device)
    density = float(np.count_nonzero(case.weight) / max(case.weight.size, 1))
    if case.pass_name == "forward":
        def ours(precision):
            tiles = pick_path(density, precision) == "tiles"

            def compress():
                return (conv.produce(x, "topk", 0.0)[1],
                        conv.condense_tiles(w) if tiles else conv.condense(w))
            bits, cw = compress()
            return compress, (lambda: conv.forward(x, bits, cw, precision)), \
                (lambda: conv.forward(x, *compress(), precision)), tiles
        comp, kern, total, _ = ours("fp32")
        cands.update(ours_compress=comp, ours_kernel=kern, ours_total=total)
        for prec in ("tf32", "bf16"):
            _, _, total_p, tiles = ours(prec)
            if tiles:
                cands[f"ours_total_{prec}"] = total_p
    elif case.pass_name == "backward_input":
        wt = conv.condense(w, transpose=True)
        cands["ours_compress"] = lambda: conv.condense(w, transpose=True)
        cands["ours_kernel"] = lambda: conv.backward_input(g, wt)
        cands["ours_total"] = lambda: conv.backward_input(g, conv.condense(w, transpose=True))
    else:
        bits = conv.produce(x, "topk", 0.0)[1]
        conv.all_rows()
        cands["ours_compress"] = lambda: conv.produce(x, "topk", 0.0)
        cands["ours_kernel"] = lambda: conv.backward_weight(x, bits, g)
        cands["ours_total"] = lambda: conv.backward_weight(x, conv.produce(x, "topk", 0.0)[1], g)
        cands["ours_sddmm_total"] = lambda: conv.backward_weight(
            x, conv.produce(x, "topk", 0.0)[1], g, conv.condense(w))
    extras["ours"] = cands["ours_total"]()
    return cands, extras
