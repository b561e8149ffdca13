"""Lowering of a layer's training passes to filter x window problems.

Every pass of a conv or linear layer is lowered to the same machine: a *filter* operand
and a *window* operand, each a 3-D array ``[count, lines, lanes]``.  Lanes run along the
reduction; a filter's reduction is laid out in ``lines`` time lines of ``lanes``
products, and the dot product of filter ``f`` and window ``w`` is
``sum over (line, lane) of F[f, line, lane] * X[w, line, lane]``.  A chunk of the
reduction that does not fill the lanes is zero-padded at its end.

A linear layer is a 1x1 convolution on a 1x1 image (weight ``[out, in, 1, 1]``,
activation ``[batch, in, 1, 1]``, grad ``[batch, out, 1, 1]``).

Lowerings (``G`` groups, ``Cg = in/G``, ``Mg = out/G``; ``chunks(n) = ceil(n / lanes)``):

forward
    filters = the ``Mg`` output channels of a group, windows = output pixels (x fastest,
    then y, then sample), lines = ``(ky, kx, input-channel chunk)`` with ky outer, so a
    filter has ``kh * kw * chunks(Cg)`` lines.  Windows are im2col rows of the zero-padded
    input in the same layout (stride and dilation respected).
    Tag ``("forward", n0, n1, group)``: result ``[Mg, (n1-n0)*Ho*Wo]`` goes to
    ``output[n0:n1, group*Mg:(group+1)*Mg]``.
backward_weight
    One problem per sample, group and kernel tap ``(ky, kx)``: filters = the ``Mg``
    output-gradient channels, windows = the ``Cg`` input channels of the saved activation,
    lanes = output pixels (y outer, x inner), ``chunks(Ho*Wo)`` lines.  The window of
    channel c is the padded activation sampled at ``(ky*dil_h + y*stride_h,
    kx*dil_w + x*stride_w)``.
    Tag ``("backward_weight", n, n+1, group, ky, kx)``: result ``[Mg, Cg]`` is added to
    ``weight_grad[group*Mg:(group+1)*Mg, :, ky, kx]`` (the gradient sums over samples).
backward_input
    The weights rotated by 180 degrees with in/out swapped
    (``W'[c, m, y, x] = W[m, c, kh-1-y, kw-1-x]``): filters = the ``Cg`` input channels,
    lines = ``(rotated y, rotated x, output-grad channel chunk)``.  Per axis the input
    pixels are split into ``stride`` phases; the taps ``k`` of phase ``ph`` are those with
    ``(ph + padding - k*dil) % stride == 0`` and input pixel ``ph + stride*j`` reads the
    (unpadded, never zero-inserted) output gradient at ``j + (ph + padding - k*dil) //
    stride`` (zero outside ``[0, Ho)``).  For stride 1 this is the forward convolution of
    the output gradient zero-padded by ``dil*(K-1) - padding`` (cropped if negative).
    One problem per sample range, group and phase ``(py, px)`` that has both input pixels
    and taps; windows = the input pixels of the phase (x fastest, then y, then sample).
    Input pixels no tap reaches get zero gradient.
    Tag ``("backward_input", n0, n1, group, py, px)``: result ``[Cg, (n1-n0)*ny*nx]`` is
    added to ``input_grad[n0:n1, group*Cg:(group+1)*Cg, py::stride_h, px::stride_w]``.

Traversal (``traversal``, :data:`TRAVERSALS`; ``[frontend] traversal`` of a Bit-Tactical
machine): the order of the windows and of a filter's taps, which decides the window sets of
the columns and which lines the scheduler sees.  ``"row-major"`` is the order written above
(windows x fastest; taps y outer, x inner; backward-weight lanes and taps y outer, x inner).
``"dnnsim"`` is DNNsim's: it reads numpy axis 2 of a tensor as its x and axis 3 as its y,
numbers the output windows x fastest and lays a filter out y outer, x inner, then the channel
chunks (``core/src/OutputStationary.cpp``); on a PyTorch-layout tensor (axis 2 = height) that
is windows with the *row* index fastest (window ``w`` is pixel ``(w % Ho, w // Ho)``) and taps
with kw outer and kh inner -- the transpose of row-major in both.  It applies to every pass:
forward and backward-input windows (pixels of the phase) y fastest and taps x outer;
backward-weight lanes (output pixels) y fastest and the kernel-tap problems kx outer.  The
tags are the same in both, and :func:`accelsim.lowering.assemble.assemble` takes the
traversal the problems were lowered with.

Group mapping (``group_mapping``, :data:`GROUP_MAPPINGS`; ``[frontend] group_mapping``):
``"per-group"`` lowers every group as above.  ``"dnnsim"`` lays the forward pass of a
*depthwise* layer (``in / groups == 1`` over more than one input channel, ``m = out / in``
filters per channel) out as DNNsim does (``OutputStationary::configure_layer``): chunks of
``k = min(lanes, rows)`` consecutive filters are one problem each, filter ``i`` of a chunk has
its tap ``t`` in line ``t``, lane ``i`` (the other lanes hold no weight: the problem's
``held`` mask says so), and window lane ``i`` holds filter ``i``'s input channel (``(c0 + i)
// m``; DNNsim reads channel ``c0 + i``, right only for ``m = 1``).  Tag ``("forward", n0, n1,
chunk, c0, c1)``: result ``[c1-c0, (n1-n0)*Ho*Wo]`` goes to ``output[n0:n1, c0:c1]``.  Other
grouped layers and the backward passes stay per group (DNNsim maps a 2-group layer per group
too, reads group 0's channels for every filter of a layer of more groups, and simulates no
backward pass).

Every tag is ``(pass_name, n0, n1, group, ...)``.  Convolutions put one sample in each
forward / backward-input problem (memory stays bounded: one sample's im2col at a time);
linear layers put the whole batch in one problem (one window per sample) unless told
otherwise with ``samples_per_problem``.  Backward-weight always reduces each sample on its
own.  :func:`iter_problems` yields problems one at a time; :func:`lower_pass` is its list; :func:`lower_with_sources` adds what the memory model
needs of each problem (:func:`window_source_elements` and the key of the source tensor).
Results are put back together by :mod:`accelsim.lowering.assemble`.

Arrays keep the operand's dtype (bool masks and float values alike); problems of one pass
may share their filter array (it is read-only), and ``LoweredProblem.filters_key`` (from the
tag) says which do, also when the problems are made and dropped one at a time.  This module
uses numpy only.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from accelsim.errors import LoweringError
from accelsim.lowering.depthwise import depthwise_chunk, forward_depthwise
from accelsim.lowering.layout import (
    LoweredProblem,
    axis_params,
    chunk_lanes,
    forward_indices,
    gather,
    pixels,
    taps_last,
)
from accelsim.spec.array_sections import TRAVERSALS
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.schema import PASSES

__all__ = ["LoweredProblem", "check_traversal", "depthwise_chunk", "iter_problems", "lower_pass",
           "lower_with_sources", "phases", "window_source_elements"]


def _check(geometry: LayerGeometry, pass_name: str, lanes: int) -> None:
    if not isinstance(geometry, LayerGeometry):
        raise LoweringError(f"geometry must be a LayerGeometry, got {type(geometry).__name__}")
    if pass_name not in PASSES:
        raise LoweringError(f"layer {geometry.name!r}: unknown pass {pass_name!r}; use one of "
                            f"{', '.join(PASSES)}")
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise LoweringError(f"lanes must be an integer >= 1, got {lanes!r}")


def _as4d(geometry: LayerGeometry, role: str, array, batch: int | None) -> np.ndarray:
    """Check an operand's shape against the geometry and view it as 4-D."""
    a = np.asarray(array)
    if role != "weight" and batch is None:
        if a.ndim < 1:
            raise LoweringError(f"layer {geometry.name!r}: {role} must have a batch axis")
        batch = a.shape[0]
    want = geometry.operand_shape(role, batch if batch is not None else 1)
    if a.shape != want:
        raise LoweringError(f"layer {geometry.name!r}: {role} has shape {a.shape}, "
                            f"expected {want}")
    if geometry.kind == "linear":
        a = a.reshape(a.shape + (1, 1))
    return a


def _operands(geometry: LayerGeometry, pass_name: str, first, second):
    """(weight, activation, grad) as 4-D arrays (absent ones None) and the batch size."""
    if pass_name == "forward":
        act = _as4d(geometry, "activation", second, None)
        return _as4d(geometry, "weight", first, None), act, None, act.shape[0]
    if pass_name == "backward_input":
        grad = _as4d(geometry, "grad", second, None)
        return _as4d(geometry, "weight", first, None), None, grad, grad.shape[0]
    act = _as4d(geometry, "activation", first, None)
    return None, act, _as4d(geometry, "grad", second, act.shape[0]), act.shape[0]


def check_traversal(traversal: str) -> str:
    """``traversal`` if it is one of :data:`TRAVERSALS`, else a :class:`LoweringError`."""
    if traversal not in TRAVERSALS:
        raise LoweringError(f"traversal {traversal!r} is unknown; use one of "
                            f"{', '.join(map(repr, TRAVERSALS))}")
    return traversal


def phases(geometry: LayerGeometry, axis: str) -> list[tuple[int, int, list[int], list[int]]]:
    """Backward-input phases along one axis: ``(phase, pixels, taps, offsets)`` for every
    phase with at least one input pixel and one tap.  Taps are in rotated order (k
    descending); input pixel ``phase + stride*j`` reads output-gradient row
    ``j + offset`` for each tap."""
    size, _, kernel, stride, pad, dil = axis_params(geometry, axis)
    out = []
    for ph in range(stride):
        pixels = len(range(ph, size, stride))
        taps = [k for k in reversed(range(kernel)) if (ph + pad - k * dil) % stride == 0]
        if pixels and taps:
            out.append((ph, pixels, taps, [(ph + pad - k * dil) // stride for k in taps]))
    return out


def _samples_per_problem(geometry: LayerGeometry, batch: int, value: int | None) -> int:
    if value is None:
        return max(1, batch) if geometry.kind == "linear" else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise LoweringError(f"samples_per_problem must be an integer >= 1, got {value!r}")
    return int(value)


# ---- lowering --------------------------------------------------------------------------
def iter_problems(geometry: LayerGeometry, pass_name: str, first, second, *, lanes: int,
                  samples_per_problem: int | None = None, traversal: str = "row-major",
                  group_mapping: str = "per-group",
                  rows: int | None = None) -> Iterator[LoweredProblem]:
    """Yield the problems of one pass one at a time (see the module docstring).

    ``first``, ``second`` are the trace operands of the pass: forward (weight,
    activation), backward_input (weight, grad), backward_weight (activation, grad).
    ``samples_per_problem`` (forward and backward-input only) is how many samples' windows
    one problem holds: default 1 for conv, the whole batch for linear.  ``traversal``
    (:data:`TRAVERSALS`, see the module docstring) orders the windows and the taps;
    ``group_mapping`` (:data:`GROUP_MAPPINGS`) and the array's ``rows`` (PE rows, default
    ``lanes``) say how a depthwise layer's forward pass is laid out.  Shapes are checked
    before the first problem is made."""
    _check(geometry, pass_name, lanes)
    check_traversal(traversal)
    chunk = depthwise_chunk(geometry, pass_name, group_mapping, lanes, rows)
    weight, act, grad, batch = _operands(geometry, pass_name, first, second)
    per = _samples_per_problem(geometry, batch, samples_per_problem)
    if chunk:
        gen = forward_depthwise(geometry, weight, act, batch, lanes, per, traversal, chunk)
    elif pass_name == "forward":
        gen = _forward(geometry, weight, act, batch, lanes, per, traversal)
    elif pass_name == "backward_input":
        gen = _backward_input(geometry, weight, grad, batch, lanes, per, traversal)
    else:
        gen = _backward_weight(geometry, act, grad, batch, lanes, traversal)
    return gen


def lower_pass(geometry: LayerGeometry, pass_name: str, first, second, *, lanes: int,
               samples_per_problem: int | None = None, traversal: str = "row-major",
               group_mapping: str = "per-group",
               rows: int | None = None) -> list[LoweredProblem]:
    """All problems of one pass as a list (``list(iter_problems(...))``)."""
    return list(iter_problems(geometry, pass_name, first, second, lanes=lanes,
                              samples_per_problem=samples_per_problem, traversal=traversal,
                              group_mapping=group_mapping, rows=rows))


def _forward(g: LayerGeometry, weight, act, batch, lanes, per,
             traversal) -> Iterator[LoweredProblem]:
    groups, cg, mg = g.groups, g.in_channels // g.groups, g.out_channels // g.groups
    iy, ix = forward_indices(g)
    filters = [chunk_lanes(taps_last(weight[gi * mg:(gi + 1) * mg].transpose(1, 0, 2, 3),
                                     traversal), lanes) for gi in range(groups)]
    for n0 in range(0, batch, per):
        n1 = min(batch, n0 + per)
        for gi in range(groups):
            x = chunk_lanes(gather(act[n0:n1, gi * cg:(gi + 1) * cg], iy, ix, traversal), lanes)
            yield LoweredProblem(filters[gi], x, ("forward", n0, n1, gi))


def _backward_input(g: LayerGeometry, weight, grad, batch, lanes, per,
                    traversal) -> Iterator[LoweredProblem]:
    groups, mg = g.groups, g.out_channels // g.groups
    pairs = [(py, px) for py in phases(g, "h") for px in phases(g, "w")]
    filters = {}
    for gi in range(groups):
        w = weight[gi * mg:(gi + 1) * mg]  # [Mg, Cg, kh, kw]
        for (py, _, ty, _), (px, _, tx, _) in pairs:
            sub = w[:, :, ty][:, :, :, tx]  # [Mg, Cg, Ty, Tx]
            filters[gi, py, px] = chunk_lanes(taps_last(sub, traversal), lanes)
    for n0 in range(0, batch, per):
        n1 = min(batch, n0 + per)
        for gi in range(groups):
            gr = grad[n0:n1, gi * mg:(gi + 1) * mg]
            for (py, ny, _, oy), (px, nx, _, ox) in pairs:
                iy = np.arange(ny)[:, None] + np.asarray(oy)[None, :]
                ix = np.arange(nx)[:, None] + np.asarray(ox)[None, :]
                x = chunk_lanes(gather(gr, iy, ix, traversal), lanes)
                yield LoweredProblem(filters[gi, py, px], x, ("backward_input", n0, n1, gi, py, px))


def _backward_weight(g: LayerGeometry, act, grad, batch, lanes,
                     traversal) -> Iterator[LoweredProblem]:
    groups, cg, mg = g.groups, g.in_channels // g.groups, g.out_channels // g.groups
    _, ho, kh, sh, ph, dh = axis_params(g, "h")
    _, wo, kw, sw, pw, dw = axis_params(g, "w")
    taps = [(ky, kx) for ky in range(kh) for kx in range(kw)]
    if traversal == "dnnsim":
        taps = [(ky, kx) for kx in range(kw) for ky in range(kh)]
    for n in range(batch):
        padded = np.pad(act[n], ((0, 0), (ph, ph), (pw, pw)))
        for gi in range(groups):
            f = chunk_lanes(pixels(grad[n, gi * mg:(gi + 1) * mg].reshape(mg, ho, wo),
                                   traversal), lanes)
            a = padded[gi * cg:(gi + 1) * cg]
            for ky, kx in taps:
                y0, x0 = ky * dh, kx * dw
                tap = a[:, y0:y0 + (ho - 1) * sh + 1:sh, x0:x0 + (wo - 1) * sw + 1:sw]
                x = chunk_lanes(pixels(tap, traversal), lanes)
                yield LoweredProblem(f, x, ("backward_weight", n, n + 1, gi, ky, kx))


def window_source_elements(geometry: LayerGeometry, tag: tuple) -> int:
    """Distinct elements of the source tensor a lowered problem's windows read (tag as
    above): forward -> its samples' input activation of the group (``samples x Cg x H x W``);
    backward-input -> its samples' output gradient of the group (``samples x Mg x Ho x Wo``);
    backward-weight -> the activation sampled at the tap (``Cg x Ho x Wo``); a depthwise chunk
    of filters ``c0..c1-1`` (DNNsim's mapping) -> its samples' input channels of those filters
    (``samples x channels x H x W``)."""
    g = geometry
    cg, mg = g.in_channels // g.groups, g.out_channels // g.groups
    h, w = (g.input_h, g.input_w) if g.kind == "conv" else (1, 1)
    ho, wo = (g.output_h, g.output_w) if g.kind == "conv" else (1, 1)
    pass_name, n0, n1 = tag[0], tag[1], tag[2]
    if pass_name == "forward" and len(tag) == 6:
        per_channel = g.out_channels // g.in_channels
        return (n1 - n0) * ((tag[5] - 1) // per_channel - tag[4] // per_channel + 1) * h * w
    if pass_name == "forward":
        return (n1 - n0) * cg * h * w
    if pass_name == "backward_input":
        return (n1 - n0) * mg * ho * wo
    return cg * ho * wo


def lower_with_sources(geometry: LayerGeometry, pass_name: str, first, second, *, lanes: int,
                       traversal: str = "row-major", group_mapping: str = "per-group",
                       rows: int | None = None
                       ) -> tuple[list[LoweredProblem], list[int], list[tuple]]:
    """:func:`lower_pass` plus, per problem, the distinct source elements behind its windows
    (:func:`window_source_elements`) and the key of that source: ``tag[:4]`` = (pass,
    samples, group), so the taps and phases of one sample and group share their data."""
    problems = lower_pass(geometry, pass_name, first, second, lanes=lanes, traversal=traversal,
                          group_mapping=group_mapping, rows=rows)
    return (problems, [window_source_elements(geometry, p.tag) for p in problems],
            [p.tag[:4] for p in problems])
