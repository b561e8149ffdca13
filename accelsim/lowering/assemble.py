"""Lowered problems back to a pass's result, and the dense sizes of a pass (numpy only).

:func:`assemble` computes every problem of :mod:`accelsim.lowering.lower` densely and scatters
the results where their tags say, which is how the tests check that a lowering is exact.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from accelsim.errors import LoweringError
from accelsim.lowering.lower import LoweredProblem, _check, check_traversal, phases
from accelsim.numeric import ceil_div
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.schema import PASSES

__all__ = ["assemble", "dense_lines", "pass_output_shape"]


def dense_lines(geometry: LayerGeometry, pass_name: str, *, lanes: int) -> int:
    """Lines per filter of the dense layout.

    forward: ``kh * kw * ceil(Cg / lanes)`` (every problem); backward_weight:
    ``ceil(Ho * Wo / lanes)`` (every problem); backward_input: the lines of the phase
    problems of one sample range and group, summed (``taps * ceil(Mg / lanes)`` per phase;
    equal to ``kh * kw * ceil(Mg / lanes)`` unless some taps reach no input pixel, and the
    lines of the single problem for stride 1)."""
    _check(geometry, pass_name, lanes)
    g = geometry
    cg, mg = g.in_channels // g.groups, g.out_channels // g.groups
    if pass_name == "forward":
        return g.kernel_h * g.kernel_w * ceil_div(cg, lanes)
    if pass_name == "backward_weight":
        return ceil_div(g.output_h * g.output_w, lanes)
    taps = sum(len(ty) * len(tx) for _, _, ty, _ in phases(g, "h") for _, _, tx, _ in
               phases(g, "w"))
    return taps * ceil_div(mg, lanes)


def pass_output_shape(geometry: LayerGeometry, pass_name: str, batch: int) -> tuple[int, ...]:
    """Shape of a pass's result: forward -> output (grad shape), backward_input -> input
    gradient (activation shape), backward_weight -> weight gradient (weight shape)."""
    if pass_name not in PASSES:
        raise LoweringError(f"layer {geometry.name!r}: unknown pass {pass_name!r}; use one of "
                            f"{', '.join(PASSES)}")
    if pass_name == "forward":
        return geometry.grad_shape(batch)
    if pass_name == "backward_input":
        return geometry.activation_shape(batch)
    return geometry.weight_shape()


def assemble(geometry: LayerGeometry, pass_name: str, problems: Iterable[LoweredProblem],
             batch: int, *, traversal: str = "row-major") -> np.ndarray:
    """Compute every problem densely and scatter the results into the pass result.

    forward -> output ``[batch, out, Ho, Wo]``; backward_input -> input gradient
    ``[batch, in, H, W]``; backward_weight -> weight gradient ``[out, in/groups, kh, kw]``
    (linear: ``[batch, out]``, ``[batch, in]``, ``[out, in]``).  ``problems`` may be a
    generator, lowered with ``traversal`` (the window order).  The result is int64 when every operand is boolean or integer (for masks: the
    number of effectual products per output value), else float64."""
    g = geometry
    check_traversal(traversal)
    dnnsim = traversal == "dnnsim"
    shape = pass_output_shape(g, pass_name, batch)
    shape4 = shape + (1, 1) if g.kind == "linear" else shape
    out = np.zeros(shape4, dtype=np.float64)
    cg, mg = g.in_channels // g.groups, g.out_channels // g.groups
    floating, seen = False, False
    for p in problems:
        seen = True
        tag = p.tag
        if not tag or tag[0] != pass_name:
            raise LoweringError(f"layer {g.name!r}: problem tagged {tag!r} is not of pass "
                                f"{pass_name!r}")
        floating |= not (np.issubdtype(p.filters.dtype, np.integer)
                         or p.filters.dtype == np.bool_)
        floating |= not (np.issubdtype(p.windows.dtype, np.integer)
                         or p.windows.dtype == np.bool_)
        f = p.filters.reshape(p.n_filters, -1).astype(np.float64, copy=False)
        x = p.windows.reshape(p.n_windows, -1).astype(np.float64, copy=False)
        r = f @ x.T  # [n_filters, n_windows]
        n0, n1, gi = tag[1], tag[2], tag[3]
        if n1 > batch:
            raise LoweringError(f"layer {g.name!r}: problem {tag!r} reaches past batch {batch}")
        if pass_name == "forward":
            # a depthwise chunk (DNNsim's group mapping) names its filters, a group has Mg
            lo, hi = (tag[4], tag[5]) if len(tag) == 6 else (gi * mg, (gi + 1) * mg)
            if dnnsim:
                r = r.reshape(hi - lo, n1 - n0, g.output_w, g.output_h).transpose(1, 0, 3, 2)
            else:
                r = r.reshape(hi - lo, n1 - n0, g.output_h, g.output_w).transpose(1, 0, 2, 3)
            out[n0:n1, lo:hi] += r
        elif pass_name == "backward_input":
            py, px = tag[4], tag[5]
            view = out[n0:n1, gi * cg:(gi + 1) * cg, py::g.stride_h, px::g.stride_w]
            ny, nx = view.shape[2], view.shape[3]
            if dnnsim:
                view += r.reshape(cg, n1 - n0, nx, ny).transpose(1, 0, 3, 2)
            else:
                view += r.reshape(cg, n1 - n0, ny, nx).transpose(1, 0, 2, 3)
        else:
            ky, kx = tag[4], tag[5]
            out[gi * mg:(gi + 1) * mg, :, ky, kx] += r
    if g.kind == "linear":
        out = out.reshape(shape)
    return out if floating or not seen else np.rint(out).astype(np.int64)
