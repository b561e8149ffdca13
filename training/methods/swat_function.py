"""SWAT's custom autograd function: dense forward with Top-K weights, Top-K activation saved
for backward, dense output gradients (Raihan & Aamodt 2020, algorithm 1; seed 003)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

#: signature of a recording tap: tap(pass_name, operands) with operands role -> tensor
Tap = Callable[[str, dict[str, torch.Tensor]], None]


class SwatFunction(torch.autograd.Function):
    """One SWAT layer call: see the module docstring for the three passes."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                w_mask: torch.Tensor | None, a_mask: torch.Tensor | None,
                conv: tuple | None, tap: Tap | None) -> torch.Tensor:
        w = weight if w_mask is None else weight * w_mask
        if conv is None:
            out = F.linear(x, w, bias)
        else:
            stride, padding, dilation, groups = conv
            out = F.conv2d(x, w, bias, stride, padding, dilation, groups)
        x_saved = x if a_mask is None else x * a_mask
        ctx.save_for_backward(x_saved, w)
        ctx.conv = conv
        ctx.has_bias = bias is not None
        ctx.tap = tap
        if tap is not None:
            tap("forward", {"weight": w, "activation": x, "output": out})
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        x_saved, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad = grad.contiguous()
        gx = gw = gb = None
        if ctx.conv is None:
            if need_x:
                gx = grad @ w
            if need_w:
                gw = grad.reshape(-1, grad.shape[-1]).t() @ x_saved.reshape(-1, x_saved.shape[-1])
            if need_b:
                gb = grad.reshape(-1, grad.shape[-1]).sum(0)
        else:
            stride, padding, dilation, groups = ctx.conv
            gx, gw, gb = torch.ops.aten.convolution_backward(
                grad, x_saved, w, [w.shape[0]] if ctx.has_bias else None, stride, padding,
                dilation, False, [0, 0], groups, [need_x, need_w, need_b and ctx.has_bias])
        if ctx.tap is not None:
            if need_x:
                ctx.tap("backward_input", {"weight": w, "grad": grad, "result": gx})
            ctx.tap("backward_weight", {"activation": x_saved, "grad": grad, "result": gw})
        return gx, gw, gb, None, None, None, None
