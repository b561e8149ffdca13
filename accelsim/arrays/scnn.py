"""SCNN array model (``[array] kind = "scnn"``, Parashar et al., ISCA 2017).

Forward and backward-input of a convolution run in SCNN's own planar, input-stationary
dataflow on the (unlowered) activation plane -- the input activation in forward, the output
gradient in backward-input (a transposed convolution: activation (y, x) times weight
(r, s) lands on input-gradient pixel ``y * stride + r * dilation - padding``).  The plane
is tiled over ``pe_rows x pe_columns`` PEs (PE of pixel (y, x) = ``(y // ceil(H /
pe_rows), x // ceil(W / pe_columns))``); every PE multiplies each vector of F non-zero
weights of a channel (sorted by output channel, r, s) by each vector of I non-zero
activations of the same channel in its tile (sorted by y, x), all F x I products per
cycle, products that land outside the output (borders, strides) computed and dropped;
kept products go through the crossbar to A accumulator banks, and a cycle with c > 1
products meeting in one bank costs c cycles.  Output channels go in groups of Kc; the PEs
synchronise after each group: ``compute = sum_groups max_PE cycles`` (the kernel and its
rules: :func:`accelsim.kernels.scheduler._scnn_cycles`).  Halo exchange is not modelled (the
paper overlaps it).  Backward-weight (a GEMM over pixels, for which SCNN has no planar
form) and linear layers run the same Cartesian product on the lowered problem: channel =
reduction element, weights = the filter operand, the plane = the ``n_windows`` windows
split evenly over all PEs.  ``base = ceil(dense MACs / multipliers)`` (the paper's dense
DCNN of equal multipliers), ``ideal = ceil(effectual / multipliers)``.

Memory and energy: the blocks are output-channel groups with their dense operands (as for the
systolic array, :mod:`accelsim.arrays.systolic`); energy counts every Cartesian product at
``pe_bits`` and through the crossbar to the banks (:func:`crossbar_stages` 2:1 stages of
``2 pe_bits`` bits), the F + I operands of every vector pair read with their
``SCNN_INDEX_BITS``-bit zero-run indices (metadata), and an accumulator read and write per kept
product.  The base
energy is that of the dense machine with the same multipliers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from accelsim.arrays.base import ArrayModel, as_masks
from accelsim.arrays.breakdown import CycleBreakdown, ProblemTiming
from accelsim.arrays.operands import dense_bytes, split_even
from accelsim.kernels.scnn import _scnn_cycles
from accelsim.lowering.lower import (
    LoweredProblem,
    iter_problems,
    phases,
    window_source_elements,
)
from accelsim.numeric import ceil_div
from accelsim.pipeline.energy import AccessCounts
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware
from accelsim.spec.kind_sections import ScnnSpec

__all__ = ["SCNN_INDEX_BITS", "ScnnModel", "ScnnProblem", "crossbar_stages", "iter_scnn_problems",
           "scnn_problems"]

SCNN_INDEX_BITS = 4  # SCNN's compressed-sparse encoding: a 4-bit zero run before each non-zero


@dataclass(frozen=True, eq=False)
class ScnnProblem:
    """One SCNN problem in the CSR form of :func:`accelsim.kernels.scheduler._scnn_cycles`, plus its
    dense sizes: ``dense_macs`` (the lowered problem's MACs), ``filter_elems`` / ``n_out``
    (dense weights, output channels), ``window_source`` (dense plane elements), ``out_elems``
    (outputs), and the memory keys of its operands."""

    w_ptr: np.ndarray
    w_k: np.ndarray
    w_r: np.ndarray
    w_s: np.ndarray
    a_ptr: np.ndarray
    a_y: np.ndarray
    a_x: np.ndarray
    geo: np.ndarray
    dense_macs: int
    filter_elems: int
    n_out: int
    window_source: int
    out_elems: int
    filters_key: object = None
    window_key: object = None


def _csr(keys: np.ndarray, n_keys: int, *sort_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, ptr): entries sorted by ``keys`` then ``sort_by`` (first most significant)."""
    order = np.lexsort(tuple(reversed(sort_by)) + (keys,)) if keys.size else \
        np.zeros(0, np.int64)
    ptr = np.zeros(n_keys + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=ptr[1:])
    return order, ptr


def _weight_csr(w_nz: tuple[np.ndarray, ...], n_out: int, n_in: int,
                spec: ScnnSpec) -> tuple[np.ndarray, ...]:
    """(w_ptr, k, r, s) of the non-zero weights ``w_nz = (k, c, r, s)``, sorted by (group,
    channel, k, r, s)."""
    k, c, r, s = (np.asarray(v, np.int64) for v in w_nz)
    groups = ceil_div(n_out, spec.output_channel_group)
    order, ptr = _csr((k // spec.output_channel_group) * n_in + c, groups * n_in, k, r, s)
    return ptr, k[order], r[order], s[order]


def _scnn_problem(w_nz: tuple[np.ndarray, ...], n_out: int, n_in: int,
                  a_nz: tuple[np.ndarray, np.ndarray, np.ndarray], a_pe: np.ndarray,
                  spec: ScnnSpec, mapping: tuple[int, ...], out_hw: tuple[int, int],
                  dense_macs: int, filter_elems: int, window_source: int, filters_key: object,
                  window_key: object, w_csr: tuple[np.ndarray, ...] | None = None
                  ) -> ScnnProblem:
    """Build the CSR work: ``w_nz = (k, c, r, s)`` of the non-zero weights (``n_out`` output,
    ``n_in`` reduction channels; or their :func:`_weight_csr` ``w_csr``), ``a_nz = (c, y,
    x)`` of the non-zero activations with their PE ``a_pe``; ``mapping = (my, by, cy, dy, mx,
    bx, cx, dx)``; ``out_hw = (OH, OW)``."""
    w_ptr, wk, wr, ws = _weight_csr(w_nz, n_out, n_in, spec) if w_csr is None else w_csr
    ac, ay, ax = (np.asarray(v, np.int64) for v in a_nz)
    groups = ceil_div(n_out, spec.output_channel_group)
    a_order, a_ptr = _csr(np.asarray(a_pe, np.int64) * n_in + ac, spec.pes * n_in, ay, ax)
    geo = np.array([n_in, groups, spec.pes, spec.weights_per_cycle, spec.activations_per_cycle,
                    spec.accumulator_banks, spec.output_channel_group, out_hw[0], out_hw[1],
                    *mapping], np.int64)
    return ScnnProblem(w_ptr, wk, wr, ws, a_ptr, ay[a_order], ax[a_order], geo, dense_macs,
                       filter_elems, n_out, window_source, out_hw[0] * out_hw[1] * n_out,
                       filters_key, window_key)


def _plane_pe(y: np.ndarray, x: np.ndarray, h: int, w: int, spec: ScnnSpec) -> np.ndarray:
    """Planar tiling: PE of pixel (y, x) of an h x w plane."""
    th, tw = ceil_div(h, spec.pe_rows), ceil_div(w, spec.pe_columns)
    return (y // th) * spec.pe_columns + x // tw


def _gemm_problem(p: LoweredProblem, spec: ScnnSpec, source: int | None,
                  key: object, reuse: list) -> ScnnProblem:
    """A lowered problem as a Cartesian product: channel = reduction element, weights = the
    filters, the plane = the windows (1 x n_windows) split evenly over all PEs.  ``reuse``
    holds the last ``(filters, weight CSR)``: the backward-weight taps of a sample share
    their filter array, whose CSR is built once."""
    x = (p.windows != 0).reshape(p.n_windows, -1)
    n_f, n_w, k = p.n_filters, x.shape[0], x.shape[1]
    if not reuse or reuse[0] is not p.filters:
        f = (p.filters != 0).reshape(p.n_filters, -1)
        wk, wc = np.nonzero(f)
        zeros_w = np.zeros_like(wk)
        reuse[:] = [p.filters, _weight_csr((wk, wc, zeros_w, zeros_w), n_f, k, spec)]
    aw, ac = np.nonzero(x)
    per_pe = ceil_div(n_w, spec.pes)
    src = n_w * k if source is None else min(source, n_w * k)
    return _scnn_problem((), n_f, k, (ac, np.zeros_like(aw), aw), aw // per_pe, spec,
                         (1, 0, 0, 1, 1, 0, 0, 1), (1, n_w), n_f * n_w * k, n_f * k, src,
                         p.filters_key, key, reuse[1])


def _gemm_problems(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
                   second: np.ndarray, spec: ScnnSpec) -> Iterator[ScnnProblem]:
    reuse: list = []
    for p in iter_problems(geometry, pass_name, first, second, lanes=1):
        yield _gemm_problem(p, spec, window_source_elements(geometry, p.tag), p.tag[:4], reuse)


def scnn_problems(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
                  second: np.ndarray, spec: ScnnSpec) -> list[ScnnProblem]:
    """The SCNN work of one pass from its operand masks (trace roles, see
    :func:`accelsim.lowering.lower.iter_problems`): the planar form for forward and backward-input
    of a convolution (one problem per sample and group), the lowered GEMM form otherwise."""
    return list(iter_scnn_problems(geometry, pass_name, first, second, spec))


def iter_scnn_problems(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
                       second: np.ndarray, spec: ScnnSpec) -> Iterator[ScnnProblem]:
    """:func:`scnn_problems` one at a time, each built when it is asked for (the model times
    one before it builds the next: memory holds one problem's work)."""
    g = geometry
    if g.kind != "conv" or pass_name == "backward_weight":
        yield from _gemm_problems(g, pass_name, first, second, spec)
        return
    cg, mg = g.in_channels // g.groups, g.out_channels // g.groups
    weight = np.asarray(first) != 0
    plane = np.asarray(second) != 0
    taps = g.kernel_h * g.kernel_w
    for gi in range(g.groups):
        w = weight[gi * mg:(gi + 1) * mg]  # [Mg, Cg, kh, kw]
        m_nz, c_nz, r_nz, s_nz = np.nonzero(w)
        # the weights of a group are the same for every sample: sorted once
        w_csr = (_weight_csr((m_nz, c_nz, r_nz, s_nz), mg, cg, spec) if pass_name == "forward"
                 else _weight_csr((c_nz, m_nz, r_nz, s_nz), cg, mg, spec))
        for n in range(plane.shape[0]):
            if pass_name == "forward":
                a = plane[n, gi * cg:(gi + 1) * cg]  # [Cg, H, W]
                ac, ay, ax = np.nonzero(a)
                pe = _plane_pe(ay, ax, g.input_h, g.input_w, spec)
                mapping = (1, -g.dilation_h, g.padding_h, g.stride_h,
                           1, -g.dilation_w, g.padding_w, g.stride_w)
                dense = g.output_h * g.output_w * mg * cg * taps
                yield _scnn_problem((m_nz, c_nz, r_nz, s_nz), mg, cg, (ac, ay, ax), pe, spec,
                                    mapping, (g.output_h, g.output_w), dense, mg * cg * taps,
                                    cg * g.input_h * g.input_w, ("scnn-w", gi),
                                    ("forward", n, n + 1, gi), w_csr)
            else:
                a = plane[n, gi * mg:(gi + 1) * mg]  # output gradient [Mg, Ho, Wo]
                ac, ay, ax = np.nonzero(a)
                pe = _plane_pe(ay, ax, g.output_h, g.output_w, spec)
                mapping = (g.stride_h, g.dilation_h, -g.padding_h, 1,
                           g.stride_w, g.dilation_w, -g.padding_w, 1)
                dense = sum(ny * nx * len(ty) * len(tx) for _, ny, ty, _ in phases(g, "h")
                            for _, nx, tx, _ in phases(g, "w")) * mg * cg
                yield _scnn_problem((c_nz, m_nz, r_nz, s_nz), cg, mg, (ac, ay, ax), pe, spec,
                                    mapping, (g.input_h, g.input_w), dense, mg * cg * taps,
                                    mg * g.output_h * g.output_w, ("scnn-w", gi),
                                    ("backward_input", n, n + 1, gi), w_csr)


def crossbar_stages(spec: ScnnSpec) -> int:
    """2:1 stages a product passes in the crossbar from the ``F x I`` multipliers to the
    accumulator banks (each bank's input is an ``F x I``-input multiplexer)."""
    return max(spec.weights_per_cycle * spec.activations_per_cycle - 1, 1).bit_length()


def _scnn_timing(p: ScnnProblem, hw: Hardware) -> ProblemTiming:
    spec, bits = hw.scnn, hw.array.pe_bits
    groups, products, kept, pairs = _scnn_cycles(p.w_ptr, p.w_k, p.w_r, p.w_s,
                                                          p.a_ptr, p.a_y, p.a_x, p.geo)
    compute = int(groups.sum())
    macs = spec.multipliers
    breakdown = CycleBreakdown(ceil_div(p.dense_macs, macs), compute, ceil_div(int(kept), macs),
                               int(kept), compute * macs)
    per_round = split_even(p.n_out, groups.size)
    n_planes = p.out_elems // max(p.n_out, 1)
    round_bytes, set_bytes, _ = dense_bytes(per_round, p.filter_elems, p.n_out,
                                             np.array([1]), p.window_source, 1, bits)
    out_bytes = -(-per_round[:, None] * n_planes * bits // 8)
    operand_bits = int(pairs) * (spec.weights_per_cycle + spec.activations_per_cycle)
    counts = AccessCounts(mac_ops=int(products),
                          mux_bits=int(products) * crossbar_stages(spec) * 2 * bits,
                          buffer_read_bits=operand_bits * bits + int(kept) * bits,
                          buffer_write_bits=int(kept) * bits + p.out_elems * bits,
                          metadata_bits=operand_bits * SCNN_INDEX_BITS)
    base = AccessCounts(mac_ops=p.dense_macs,
                        buffer_read_bits=(p.filter_elems + p.window_source) * bits,
                        buffer_write_bits=p.out_elems * bits)
    return ProblemTiming(breakdown, groups.astype(np.int64)[:, None], round_bytes, set_bytes,
                         out_bytes.astype(np.int64), counts, base, p.filters_key, p.window_key)


class ScnnModel(ArrayModel):
    """``[array] kind = "scnn"``: the planar work of :func:`scnn_problems`."""

    kind = "scnn"
    name = "SCNN"

    def problems(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> Iterator[ScnnProblem]:
        first, second = as_masks(operands)
        return iter_scnn_problems(geometry, pass_name, first, second, hw.scnn)

    def timings(self, problems: Iterable[ScnnProblem], hw: Hardware) -> list[ProblemTiming]:
        return [_scnn_timing(p, hw) for p in problems]
