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
synchronise after each group: ``compute = sum_groups max_PE cycles`` (the kernels and
their rules: :func:`accelsim.kernels.scnn.scnn_cycles`).  Halo exchange is not modelled (the
paper overlaps it).  Backward-weight (a GEMM over pixels, for which SCNN has no planar
form) and linear layers run the same Cartesian product on the lowered problem: channel =
reduction element, weights = the filter operand, the plane = the ``n_windows`` windows
split evenly over all PEs (where the banks the products of a vector pair reach follow from
the counts alone, :func:`scnn_closed_form`, no product is looked at).  ``base = ceil(dense
MACs / multipliers)`` (the paper's dense DCNN of equal multipliers), ``ideal =
ceil(effectual / multipliers)``.

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
from functools import cached_property

import numpy as np

from accelsim.arrays.base import ArrayModel, as_masks
from accelsim.arrays.breakdown import CycleBreakdown, ProblemTiming
from accelsim.arrays.operands import dense_bytes, split_even
from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.scnn import kernel_calls as scnn_kernel_calls
from accelsim.kernels.scnn import (
    plane_csr,
    scnn_count_cycles,
    scnn_cycles,
    weight_counts,
    weight_csr,
)
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

__all__ = ["SCNN_INDEX_BITS", "ScnnModel", "ScnnProblem", "ScnnWeights", "closed_form_cycles",
           "crossbar_stages", "iter_scnn_problems", "kernel_cycles", "scnn_closed_form",
           "scnn_problems", "scnn_work"]

SCNN_INDEX_BITS = 4  # SCNN's compressed-sparse encoding: a 4-bit zero run before each non-zero


class ScnnWeights:
    """The weight masks ``w [K, C, kh, kw]`` of problems (``K`` output channels in groups of
    ``kc``, ``C`` reduction channels); their non-zeros and counts are found once for every
    problem that shares them."""

    def __init__(self, w: np.ndarray, kc: int) -> None:
        self.mask, self.kc, self.n_out = np.ascontiguousarray(w), kc, w.shape[0]
        self._gemm: tuple | None = None

    @cached_property
    def csr(self) -> tuple[np.ndarray, ...]:
        """``(w_ptr, w_kk, w_tap, tap_r, tap_s)`` (:func:`accelsim.kernels.scnn.weight_csr`)."""
        return weight_csr(self.mask, self.kc)

    @cached_property
    def counts(self) -> np.ndarray:
        """Non-zero weights per (group, channel) ``[G, C]``."""
        k, n_c = self.mask.shape[:2]
        groups = ceil_div(k, self.kc)
        per = self.mask.reshape(k, n_c, -1)
        per = per[:, :, 0] if per.shape[2] == 1 else per.sum(axis=2, dtype=np.int64)
        if groups * self.kc != k:
            per = np.pad(per, ((0, groups * self.kc - k), (0, 0)))
        return per.reshape(groups, self.kc, n_c).sum(axis=1, dtype=np.int64)

    def gemm_counts(self, f_vec: int) -> tuple[np.ndarray, ...]:
        """:func:`accelsim.kernels.scnn.weight_counts` of :attr:`counts` (the last ``f_vec``
        asked for is kept)."""
        if self._gemm is None or self._gemm[0] != f_vec:
            self._gemm = (f_vec, weight_counts(self.counts, f_vec))
        return self._gemm[1]


@dataclass(frozen=True, eq=False)
class ScnnProblem:
    """One SCNN problem: ``weights`` (:class:`ScnnWeights`), ``plane`` the activation masks
    ``[C, H, W]`` tiled over ``rows x cols`` PEs (:func:`accelsim.kernels.scnn.plane_csr`),
    ``geo`` (:mod:`accelsim.kernels.scnn`), ``gemm`` (the lowered form: every product is
    kept), and its dense sizes: ``dense_macs`` (the lowered problem's MACs),
    ``filter_elems`` / ``n_out`` (dense weights, output channels), ``window_source`` (dense
    plane elements), ``out_elems`` (outputs), and the memory keys of its operands."""

    weights: ScnnWeights
    plane: np.ndarray
    rows: int
    cols: int
    geo: np.ndarray
    gemm: bool
    dense_macs: int
    filter_elems: int
    n_out: int
    window_source: int
    out_elems: int
    filters_key: object = None
    window_key: object = None


def scnn_work(p: ScnnProblem) -> tuple[np.ndarray, ...]:
    """The CSR work of the reference :func:`accelsim.kernels.scnn._scnn_cycles_ref` (with
    ``w_k, w_r, w_s = w_kk, tap_r[w_tap], tap_s[w_tap]``): ``(w_ptr, w_kk, w_tap, tap_r,
    tap_s, a_ptr, a_y, a_x, geo)``."""
    return (*p.weights.csr, *plane_csr(p.plane, p.rows, p.cols), p.geo)


def kernel_cycles(p: ScnnProblem) -> tuple[np.ndarray, int, int, int]:
    """:func:`accelsim.kernels.scnn.scnn_cycles` of the problem."""
    return scnn_cycles(*p.weights.csr, np.ascontiguousarray(p.plane), p.rows, p.cols, p.geo)


def scnn_closed_form(p: ScnnProblem) -> bool | None:
    """Whether a lowered problem's cycles follow from its counts
    (:func:`accelsim.kernels.scnn.scnn_count_cycles`): ``True`` when every vector pair costs
    a cycle per weight, ``False`` when one cycle, ``None`` when neither is proven.  Window
    ``x`` (on PE ``x // tw``) and output channel k meet in bank ``(kk * n_w + x) mod A``
    (``kk = k mod Kc``), every product kept: the windows of a vector reach distinct banks
    when ``tw <= A``; then when every ``kk * n_w`` is one bank, each bank a pair reaches
    takes one product per weight, and when they are all distinct and every PE holds one
    window (``tw = 1``), no two products of a pair meet."""
    banks, kc, n_w = int(p.geo[5]), int(p.geo[6]), int(p.geo[8])
    tw = ceil_div(n_w, p.cols)
    if not p.gemm or tw > banks:
        return None
    rot = np.arange(min(kc, p.weights.n_out)) * n_w % banks
    if np.all(rot == rot[0]):
        return True
    if np.unique(rot).size == rot.size and tw == 1:
        return False
    return None


def closed_form_cycles(p: ScnnProblem, per_weight: bool) -> tuple[np.ndarray, int, int, int]:
    """:func:`accelsim.kernels.scnn.scnn_count_cycles` of a lowered problem (``per_weight``:
    :func:`scnn_closed_form`)."""
    return scnn_count_cycles(p.weights.gemm_counts(int(p.geo[3])), p.plane[:, 0].T, p.cols,
                             int(p.geo[4]), per_weight)


def _geo(n_in: int, n_out: int, spec: ScnnSpec, out_hw: tuple[int, int],
         mapping: tuple[int, ...]) -> np.ndarray:
    """``geo`` of :mod:`accelsim.kernels.scnn`; ``mapping = (my, by, cy, dy, mx, bx, cx,
    dx)``, ``out_hw = (OH, OW)``."""
    return np.array([n_in, ceil_div(n_out, spec.output_channel_group), spec.pes,
                     spec.weights_per_cycle, spec.activations_per_cycle,
                     spec.accumulator_banks, spec.output_channel_group, *out_hw, *mapping],
                    np.int64)


def _gemm_problem(p: LoweredProblem, spec: ScnnSpec, source: int | None,
                  key: object, reuse: list) -> ScnnProblem:
    """A lowered problem as a Cartesian product: channel = reduction element, weights = the
    filters, the plane = the windows (1 x n_windows) split evenly over all PEs.  ``reuse``
    holds the last ``(filters, ScnnWeights)``: the backward-weight taps of a sample share
    their filter array, analysed once."""
    x = (p.windows != 0).reshape(p.n_windows, -1)
    n_f, n_w, k = p.n_filters, x.shape[0], x.shape[1]
    if not reuse or reuse[0] is not p.filters:
        f = (p.filters != 0).reshape(p.n_filters, -1)
        reuse[:] = [p.filters, ScnnWeights(f[:, :, None, None], spec.output_channel_group)]
    src = n_w * k if source is None else min(source, n_w * k)
    return ScnnProblem(reuse[1], x.T[:, None, :], 1, spec.pes,
                       _geo(k, n_f, spec, (1, n_w), (1, 0, 0, 1, 1, 0, 0, 1)), True,
                       n_f * n_w * k, n_f * k, n_f, src, n_f * n_w, p.filters_key, key)


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
    forward = pass_name == "forward"
    if forward:
        mapping = (1, -g.dilation_h, g.padding_h, g.stride_h,
                   1, -g.dilation_w, g.padding_w, g.stride_w)
        geo = _geo(cg, mg, spec, (g.output_h, g.output_w), mapping)
        dense = g.output_h * g.output_w * mg * cg * taps
        channels, source = cg, cg * g.input_h * g.input_w
    else:
        mapping = (g.stride_h, g.dilation_h, -g.padding_h, 1,
                   g.stride_w, g.dilation_w, -g.padding_w, 1)
        geo = _geo(mg, cg, spec, (g.input_h, g.input_w), mapping)
        dense = sum(ny * nx * len(ty) * len(tx) for _, ny, ty, _ in phases(g, "h")
                    for _, nx, tx, _ in phases(g, "w")) * mg * cg
        channels, source = mg, mg * g.output_h * g.output_w
    out_elems = int(geo[7] * geo[8]) * (mg if forward else cg)
    for gi in range(g.groups):
        w = weight[gi * mg:(gi + 1) * mg]  # [Mg, Cg, kh, kw]
        # the weights of a group are the same for every sample: analysed once
        weights = ScnnWeights(w if forward else np.ascontiguousarray(w.transpose(1, 0, 2, 3)),
                              spec.output_channel_group)
        for n in range(plane.shape[0]):
            a = plane[n, gi * channels:(gi + 1) * channels]  # [channels, H, W]
            yield ScnnProblem(weights, a, spec.pe_rows, spec.pe_columns, geo,
                              False, dense, mg * cg * taps, weights.n_out, source, out_elems,
                              ("scnn-w", gi), (pass_name, n, n + 1, gi))


def crossbar_stages(spec: ScnnSpec) -> int:
    """2:1 stages a product passes in the crossbar from the ``F x I`` multipliers to the
    accumulator banks (each bank's input is an ``F x I``-input multiplexer)."""
    return max(spec.weights_per_cycle * spec.activations_per_cycle - 1, 1).bit_length()


def _scnn_timing(p: ScnnProblem, hw: Hardware) -> ProblemTiming:
    spec, bits = hw.scnn, hw.array.pe_bits
    closed = scnn_closed_form(p)
    groups, products, kept, pairs = kernel_cycles(p) if closed is None else \
        closed_form_cycles(p, closed)
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

    def kernels(self, hw: Hardware, geometry: LayerGeometry | None) -> list[KernelCall]:
        return scnn_kernel_calls()

    def problems(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> Iterator[ScnnProblem]:
        first, second = as_masks(operands)
        return iter_scnn_problems(geometry, pass_name, first, second, hw.scnn)

    def timings(self, problems: Iterable[ScnnProblem], hw: Hardware) -> list[ProblemTiming]:
        return [_scnn_timing(p, hw) for p in problems]
