"""Array models to compare the Bit-Tactical design against: systolic, SCNN and ideal.

Each model is a pure function ``(lowered work, hardware) -> CycleBreakdown`` for one pass of a
layer, with the same figures as the Bit-Tactical model (:mod:`accelsim.arrays.bittactical`): base, compute,
ideal and stall cycles, effectual MACs, energy of the machine and of its dense baseline.
:data:`ARRAY_PASSES` maps ``[array] kind`` to the function that lowers a pass's operand masks
and runs the model; :func:`accelsim.simulate.simulate_operands` dispatches on it.  Work is
lowered by :mod:`accelsim.lowering.lower` with ``lanes = 1`` (one reduction element per line, no
padding lanes), so a problem ``[n_filters, K, 1] x [n_windows, K, 1]`` is the GEMM of
``n_filters`` filters, ``n_windows`` windows and reduction length ``K`` (forward: output
channels x output pixels x kh*kw*Cg; per sample and group, see :mod:`accelsim.lowering.lower`).

Systolic (``"systolic"``, SCALE-Sim v3's compute model, ``H x W`` = height x width)
    Per problem, with ``(Sr, Sc, T)`` = (n_windows, n_filters, K) for ``"os"``, (K, n_filters,
    n_windows) for ``"ws"`` and (K, n_windows, n_filters) for ``"is"``, ``folds =
    ceil(Sr / H) * ceil(Sc / W)`` and fill/drain ``X = H + W - 2`` (os) or ``2H + W - 2``
    (ws, is: H more cycles to shift the stationary operand in)::

        compat = "scalesim":  cycles = folds * (T + X) - 1
        compat = "pipelined": cycles = folds * max(T, H) + X - 1

    ``"scalesim"`` equals SCALE-Sim v3's compute cycles exactly (its
    ``compute/systolic_compute_{os,ws,is}.py`` demand matrices: every fold pays its own skew
    and inter-fold gaps; no padding, so a SCALE-Sim layer matches ours with padding 0), e.g.
    os: ``ceil(out_pixels / H) * ceil(out_channels / W) * (kh*kw*in + H + W - 2) - 1``.
    ``"pipelined"`` overlaps consecutive folds (a fold occupies the array for its T streaming
    cycles, at least H to swap the double-buffered stationary operand or outputs) and pays the
    fill and drain once.  A systolic array is dense: base = compute (speedup 1);
    ``ideal = ceil(effectual / (H * W))``.
SCNN (``"scnn"``, Parashar et al., ISCA 2017)
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
Ideal (``"ideal"``)
    ``compute = ideal = ceil(effectual MACs / multipliers)`` per problem, ``base =
    ceil(dense MACs / multipliers)``: every effectual product (both operands non-zero) and
    nothing else, perfectly balanced.  No design with the same peak can be faster
    (:func:`accelsim.spec.hardware.ideal_bound`).

Memory and energy (:mod:`accelsim.pipeline.memory`, :mod:`accelsim.pipeline.energy`): every problem is cut into
blocks (systolic: folds -- filter folds outer; SCNN: output-channel groups; ideal: one block)
whose operand bytes are the dense operands (filters as lowered, windows' source elements,
``pe_bits`` each) and whose outputs are written back; ``[memory] kind = "dram"`` runs the same
SimPy pipeline as for Bit-Tactical.  Energy counts: systolic -- every MAC of every fold at
``pe_bits`` (no zero gating), the streamed operands read once per fold of the other operand,
the stationary one once, partial sums re-read and re-written once per reduction fold (ws, is);
SCNN -- every Cartesian product at ``pe_bits``, the F + I operands of every vector pair read
with their ``SCNN_INDEX_BITS``-bit zero-run indices (metadata), and an accumulator read and
write per kept product; ideal -- effectual MACs and each non-zero lowered operand read once.
The base energy is that of the dense machine with the same multipliers (systolic: itself).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from accelsim.arrays.bittactical import ZERO, CycleBreakdown, ProblemTiming
from accelsim.kernels import scheduler as _kernels
from accelsim.lowering.lower import LoweredProblem, _phases, lower_pass
from accelsim.pipeline.energy import AccessCounts, energy_pj
from accelsim.pipeline.memory import blocks_of, pass_memory, window_source_elements
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware, ScnnSpec, SystolicSpec

__all__ = ["ARRAY_PASSES", "SCNN_INDEX_BITS", "ScnnProblem", "ideal_pass", "ideal_pass_cycles",
           "scnn_pass", "scnn_pass_cycles", "scnn_problems", "systolic_pass",
           "systolic_pass_cycles", "systolic_problem_cycles"]

SCNN_INDEX_BITS = 4  # SCNN's compressed-sparse encoding: a 4-bit zero run before each non-zero


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---- systolic -----------------------------------------------------------------------------
def _systolic_shape(n_filters: int, n_windows: int, reduction: int,
                    spec: SystolicSpec) -> tuple[int, int, int, int]:
    """``(Sr, Sc, T, X)`` of a GEMM on the array (see the module docstring)."""
    h, w = spec.height, spec.width
    if spec.dataflow == "os":
        return n_windows, n_filters, reduction, h + w - 2
    if spec.dataflow == "ws":
        return reduction, n_filters, n_windows, 2 * h + w - 2
    return reduction, n_windows, n_filters, 2 * h + w - 2


def _fold_cycles(n_filters: int, n_windows: int, reduction: int,
                 spec: SystolicSpec) -> np.ndarray:
    """Cycles of every fold, ``[filter rounds, window sets]``-blocked for the memory model:
    os -> ``[ceil(F / W), ceil(n_windows / H)]`` (one fold per block); ws ->
    ``[ceil(F / W), 1]``; is -> ``[1, ceil(n_windows / W)]`` (the ``ceil(K / H)`` reduction
    folds of a block summed).  The cycles sum to :func:`systolic_problem_cycles`."""
    if min(n_filters, n_windows, reduction) == 0:
        return np.zeros((0, 0), np.int64)
    h, w = spec.height, spec.width
    sr, sc, t, x = _systolic_shape(n_filters, n_windows, reduction, spec)
    if spec.dataflow == "os":
        shape, per_block = (_ceil_div(sc, w), _ceil_div(sr, h)), 1
    elif spec.dataflow == "ws":
        shape, per_block = (_ceil_div(sc, w), 1), _ceil_div(sr, h)
    else:
        shape, per_block = (1, _ceil_div(sc, w)), _ceil_div(sr, h)
    if spec.compat == "scalesim":
        block = np.full(shape, per_block * (t + x), np.int64)
        block[-1, -1] -= 1
    else:
        block = np.full(shape, per_block * max(t, h), np.int64)
        block[0, 0] += x - 1
    return block


def systolic_problem_cycles(n_filters: int, n_windows: int, reduction: int,
                            spec: SystolicSpec) -> int:
    """Compute cycles of one GEMM (``n_filters`` x ``n_windows``, reduction length
    ``reduction``) on the systolic array, 0 for an empty one::

        folds = ceil(Sr / H) * ceil(Sc / W)
        scalesim:  folds * (T + X) - 1          pipelined: folds * max(T, H) + X - 1

    with (Sr, Sc, T, X) = (windows, filters, K, H+W-2) for os, (K, filters, windows, 2H+W-2)
    for ws and (K, windows, filters, 2H+W-2) for is."""
    if min(n_filters, n_windows, reduction) == 0:
        return 0
    h, w = spec.height, spec.width
    sr, sc, t, x = _systolic_shape(n_filters, n_windows, reduction, spec)
    folds = _ceil_div(sr, h) * _ceil_div(sc, w)
    if spec.compat == "scalesim":
        return folds * (t + x) - 1
    return folds * max(t, h) + x - 1


def _dense_bytes(filters_per_round: np.ndarray, filter_elems: int, n_filters: int,
                 windows_per_set: np.ndarray, window_source: int, n_windows: int,
                 bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(round bytes, window-set bytes, out bytes per block) of dense operands: a round of
    ``f`` filters holds ``f * filter_elems / n_filters`` elements, a set of ``w`` windows reads
    ``w * window_source / n_windows`` source elements, a block writes ``f * w`` outputs."""
    f = np.asarray(filters_per_round, np.int64)
    w = np.asarray(windows_per_set, np.int64)
    round_bytes = -(-f * filter_elems * bits // (8 * max(n_filters, 1)))
    set_bytes = -(-w * window_source * bits // (8 * max(n_windows, 1)))
    return round_bytes, set_bytes, -(-np.outer(f, w) * bits // 8)


def _split(total: int, parts: int) -> np.ndarray:
    """``total`` items in ``parts`` consecutive chunks of ``ceil(total / parts)``."""
    size = _ceil_div(total, parts) if parts else 0
    return np.minimum(size, total - size * np.arange(parts)).astype(np.int64)


def _effectual(f: np.ndarray, x: np.ndarray) -> int:
    """Products with both operands non-zero of a lowered problem."""
    return int(f.sum(axis=0, dtype=np.int64).ravel() @ x.sum(axis=0, dtype=np.int64).ravel())


def _systolic_timing(p: LoweredProblem, hw: Hardware, source: int | None,
                     key: object) -> ProblemTiming:
    spec, bits = hw.systolic, hw.array.pe_bits
    f, x = p.filters != 0, p.windows != 0
    n_f, n_w, k = f.shape[0], x.shape[0], f.shape[1] * f.shape[2]
    block = _fold_cycles(n_f, n_w, k, spec)
    compute = int(block.sum())
    effectual = _effectual(f, x)
    macs = spec.multipliers
    breakdown = CycleBreakdown(compute, compute, _ceil_div(effectual, macs), effectual,
                               compute * macs)
    rounds, sets = block.shape
    src = n_w * k if source is None else min(source, n_w * k)
    round_bytes, set_bytes, out_bytes = _dense_bytes(_split(n_f, rounds), n_f * k, n_f,
                                                     _split(n_w, sets), src, n_w, bits)
    dense = n_f * n_w * k
    k_folds = _ceil_div(k, spec.height)
    if spec.dataflow == "os":
        reads = n_w * k * _ceil_div(n_f, spec.width) + n_f * k * _ceil_div(n_w, spec.height)
        writes = n_f * n_w
    elif spec.dataflow == "ws":
        reads = n_f * k + n_w * k * _ceil_div(n_f, spec.width) + n_f * n_w * (k_folds - 1)
        writes = n_f * n_w * k_folds
    else:
        reads = n_w * k + n_f * k * _ceil_div(n_w, spec.width) + n_f * n_w * (k_folds - 1)
        writes = n_f * n_w * k_folds
    counts = AccessCounts(mac_bit_ops=dense * bits, buffer_read_bits=reads * bits,
                          buffer_write_bits=writes * bits)
    return ProblemTiming(breakdown, block, round_bytes, set_bytes, out_bytes, counts, counts,
                         id(p.filters), key)


def systolic_pass_cycles(problems: Sequence[LoweredProblem], hw: Hardware, *,
                         window_sources: Sequence[int | None] | None = None,
                         window_keys: Sequence[object] | None = None) -> CycleBreakdown:
    """Cycles of a pass lowered with ``lanes = 1`` on the systolic array ``hw.systolic``
    (the sum of :func:`systolic_problem_cycles` over the problems), its memory stalls and
    energy; ``window_sources`` / ``window_keys`` as for :func:`accelsim.arrays.bittactical.pass_cycles`."""
    sources, keys = _sources_keys(problems, window_sources, window_keys)
    return _finish([_systolic_timing(p, hw, s, k) for p, s, k in zip(problems, sources, keys,
                                                                     strict=True)], hw)


# ---- ideal --------------------------------------------------------------------------------
def _ideal_timing(p: LoweredProblem, hw: Hardware, source: int | None,
                  key: object) -> ProblemTiming:
    bits, macs = hw.array.pe_bits, hw.ideal.multipliers
    f, x = p.filters != 0, p.windows != 0
    n_f, n_w, k = f.shape[0], x.shape[0], f.shape[1] * f.shape[2]
    effectual = _effectual(f, x)
    dense = n_f * n_w * k
    compute = _ceil_div(effectual, macs)
    breakdown = CycleBreakdown(_ceil_div(dense, macs), compute, compute, effectual,
                               compute * macs)
    src = n_w * k if source is None else min(source, n_w * k)
    round_bytes, set_bytes, out_bytes = _dense_bytes(np.array([n_f]), n_f * k, n_f,
                                                     np.array([n_w]), src, n_w, bits)
    nnz = int(np.count_nonzero(f)) + int(np.count_nonzero(x))
    counts = AccessCounts(mac_bit_ops=effectual * bits, buffer_read_bits=nnz * bits,
                          buffer_write_bits=n_f * n_w * bits)
    base = AccessCounts(mac_bit_ops=dense * bits, buffer_read_bits=(f.size + x.size) * bits,
                        buffer_write_bits=n_f * n_w * bits)
    return ProblemTiming(breakdown, np.array([[compute]], np.int64), round_bytes, set_bytes,
                         out_bytes, counts, base, id(p.filters), key)


def ideal_pass_cycles(problems: Sequence[LoweredProblem], hw: Hardware, *,
                      window_sources: Sequence[int | None] | None = None,
                      window_keys: Sequence[object] | None = None) -> CycleBreakdown:
    """Cycles of a pass on the ideal array: ``sum ceil(effectual / multipliers)`` over the
    problems (base: ``sum ceil(dense MACs / multipliers)``), memory stalls and energy."""
    sources, keys = _sources_keys(problems, window_sources, window_keys)
    return _finish([_ideal_timing(p, hw, s, k) for p, s, k in zip(problems, sources, keys,
                                                                  strict=True)], hw)


# ---- SCNN ---------------------------------------------------------------------------------
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


def _scnn_problem(w_nz: tuple[np.ndarray, ...], n_out: int, n_in: int,
                  a_nz: tuple[np.ndarray, np.ndarray, np.ndarray], a_pe: np.ndarray,
                  spec: ScnnSpec, mapping: tuple[int, ...], out_hw: tuple[int, int],
                  dense_macs: int, filter_elems: int, window_source: int, filters_key: object,
                  window_key: object) -> ScnnProblem:
    """Build the CSR work: ``w_nz = (k, c, r, s)`` of the non-zero weights (``n_out`` output,
    ``n_in`` reduction channels), ``a_nz = (c, y, x)`` of the non-zero activations with their
    PE ``a_pe``; ``mapping = (my, by, cy, dy, mx, bx, cx, dx)``; ``out_hw = (OH, OW)``."""
    k, c, r, s = (np.asarray(v, np.int64) for v in w_nz)
    ac, ay, ax = (np.asarray(v, np.int64) for v in a_nz)
    groups = _ceil_div(n_out, spec.output_channel_group)
    w_order, w_ptr = _csr((k // spec.output_channel_group) * n_in + c, groups * n_in, k, r, s)
    a_order, a_ptr = _csr(np.asarray(a_pe, np.int64) * n_in + ac, spec.pes * n_in, ay, ax)
    geo = np.array([n_in, groups, spec.pes, spec.weights_per_cycle, spec.activations_per_cycle,
                    spec.accumulator_banks, spec.output_channel_group, out_hw[0], out_hw[1],
                    *mapping], np.int64)
    return ScnnProblem(w_ptr, k[w_order], r[w_order], s[w_order], a_ptr, ay[a_order],
                       ax[a_order], geo, dense_macs, filter_elems, n_out, window_source,
                       out_hw[0] * out_hw[1] * n_out, filters_key, window_key)


def _plane_pe(y: np.ndarray, x: np.ndarray, h: int, w: int, spec: ScnnSpec) -> np.ndarray:
    """Planar tiling: PE of pixel (y, x) of an h x w plane."""
    th, tw = _ceil_div(h, spec.pe_rows), _ceil_div(w, spec.pe_columns)
    return (y // th) * spec.pe_columns + x // tw


def _gemm_problem(p: LoweredProblem, spec: ScnnSpec, source: int | None,
                  key: object) -> ScnnProblem:
    """A lowered problem as a Cartesian product: channel = reduction element, weights = the
    filters, the plane = the windows (1 x n_windows) split evenly over all PEs."""
    f = (p.filters != 0).reshape(p.n_filters, -1)
    x = (p.windows != 0).reshape(p.n_windows, -1)
    n_f, n_w, k = f.shape[0], x.shape[0], f.shape[1]
    wk, wc = np.nonzero(f)
    zeros_w = np.zeros_like(wk)
    aw, ac = np.nonzero(x)
    per_pe = _ceil_div(n_w, spec.pes)
    src = n_w * k if source is None else min(source, n_w * k)
    return _scnn_problem((wk, wc, zeros_w, zeros_w), n_f, k, (ac, np.zeros_like(aw), aw),
                         aw // per_pe, spec, (1, 0, 0, 1, 1, 0, 0, 1), (1, n_w),
                         n_f * n_w * k, n_f * k, src, id(p.filters), key)


def scnn_problems(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
                  second: np.ndarray, spec: ScnnSpec) -> list[ScnnProblem]:
    """The SCNN work of one pass from its operand masks (trace roles, see
    :func:`accelsim.lowering.lower.iter_problems`): the planar form for forward and backward-input
    of a convolution (one problem per sample and group), the lowered GEMM form otherwise."""
    g = geometry
    if g.kind != "conv" or pass_name == "backward_weight":
        problems = lower_pass(g, pass_name, first, second, lanes=1)
        return [_gemm_problem(p, spec, window_source_elements(g, p.tag), p.tag[:4])
                for p in problems]
    cg, mg = g.in_channels // g.groups, g.out_channels // g.groups
    weight = np.asarray(first) != 0
    plane = np.asarray(second) != 0
    taps = g.kernel_h * g.kernel_w
    out = []
    for gi in range(g.groups):
        w = weight[gi * mg:(gi + 1) * mg]  # [Mg, Cg, kh, kw]
        m_nz, c_nz, r_nz, s_nz = np.nonzero(w)
        for n in range(plane.shape[0]):
            if pass_name == "forward":
                a = plane[n, gi * cg:(gi + 1) * cg]  # [Cg, H, W]
                ac, ay, ax = np.nonzero(a)
                pe = _plane_pe(ay, ax, g.input_h, g.input_w, spec)
                mapping = (1, -g.dilation_h, g.padding_h, g.stride_h,
                           1, -g.dilation_w, g.padding_w, g.stride_w)
                dense = g.output_h * g.output_w * mg * cg * taps
                out.append(_scnn_problem((m_nz, c_nz, r_nz, s_nz), mg, cg, (ac, ay, ax), pe,
                                         spec, mapping, (g.output_h, g.output_w), dense,
                                         mg * cg * taps, cg * g.input_h * g.input_w,
                                         ("scnn-w", gi), ("forward", n, n + 1, gi)))
            else:
                a = plane[n, gi * mg:(gi + 1) * mg]  # output gradient [Mg, Ho, Wo]
                ac, ay, ax = np.nonzero(a)
                pe = _plane_pe(ay, ax, g.output_h, g.output_w, spec)
                mapping = (g.stride_h, g.dilation_h, -g.padding_h, 1,
                           g.stride_w, g.dilation_w, -g.padding_w, 1)
                dense = sum(ny * nx * len(ty) * len(tx) for _, ny, ty, _ in _phases(g, "h")
                            for _, nx, tx, _ in _phases(g, "w")) * mg * cg
                out.append(_scnn_problem((c_nz, m_nz, r_nz, s_nz), cg, mg, (ac, ay, ax), pe,
                                         spec, mapping, (g.input_h, g.input_w), dense,
                                         mg * cg * taps, mg * g.output_h * g.output_w,
                                         ("scnn-w", gi), ("backward_input", n, n + 1, gi)))
    return out


def _scnn_timing(p: ScnnProblem, hw: Hardware) -> ProblemTiming:
    spec, bits = hw.scnn, hw.array.pe_bits
    groups, products, kept, pairs = _kernels._scnn_cycles(p.w_ptr, p.w_k, p.w_r, p.w_s,
                                                          p.a_ptr, p.a_y, p.a_x, p.geo)
    compute = int(groups.sum())
    macs = spec.multipliers
    breakdown = CycleBreakdown(_ceil_div(p.dense_macs, macs), compute, _ceil_div(int(kept), macs),
                               int(kept), compute * macs)
    per_round = _split(p.n_out, groups.size)
    n_planes = p.out_elems // max(p.n_out, 1)
    round_bytes, set_bytes, _ = _dense_bytes(per_round, p.filter_elems, p.n_out,
                                             np.array([1]), p.window_source, 1, bits)
    out_bytes = -(-per_round[:, None] * n_planes * bits // 8)
    operand_bits = int(pairs) * (spec.weights_per_cycle + spec.activations_per_cycle)
    counts = AccessCounts(mac_bit_ops=int(products) * bits,
                          buffer_read_bits=operand_bits * bits + int(kept) * bits,
                          buffer_write_bits=int(kept) * bits + p.out_elems * bits,
                          metadata_bits=operand_bits * SCNN_INDEX_BITS)
    base = AccessCounts(mac_bit_ops=p.dense_macs * bits,
                        buffer_read_bits=(p.filter_elems + p.window_source) * bits,
                        buffer_write_bits=p.out_elems * bits)
    return ProblemTiming(breakdown, groups.astype(np.int64)[:, None], round_bytes, set_bytes,
                         out_bytes.astype(np.int64), counts, base, p.filters_key, p.window_key)


def scnn_pass_cycles(problems: Sequence[ScnnProblem], hw: Hardware) -> CycleBreakdown:
    """Cycles of a pass's SCNN work (:func:`scnn_problems`) on ``hw.scnn``: the sum over the
    problems of ``sum_groups max_PE cycles`` (:func:`accelsim.kernels.scheduler._scnn_cycles`), memory
    stalls and energy."""
    return _finish([_scnn_timing(p, hw) for p in problems], hw)


# ---- pass level ---------------------------------------------------------------------------
def _sources_keys(problems: Sequence, sources: Sequence | None,
                  keys: Sequence | None) -> tuple[list, list]:
    n = len(problems)
    return (list(sources) if sources is not None else [None] * n,
            list(keys) if keys is not None else [None] * n)


def _finish(timings: list[ProblemTiming], hw: Hardware) -> CycleBreakdown:
    """Sum the problems, add the memory pipeline's stalls and DRAM traffic, and the energy of
    the machine and of its dense baseline (each dense operand loaded once)."""
    if not timings:
        return ZERO
    total = ZERO
    counts = base_counts = AccessCounts()
    base_read = 0
    seen: set = set()
    for i, t in enumerate(timings):
        total = total + t.breakdown
        counts = counts + t.counts
        base_counts = base_counts + t.base_counts
        fkey = ("f", t.filters_key)
        if fkey not in seen:
            seen.add(fkey)
            base_read += int(t.round_bytes.sum())
        wkey = ("w", i) if t.window_key is None else ("w", t.window_key)
        if wkey not in seen:
            seen.add(wkey)
            base_read += int(t.window_set_bytes.sum())
    mem = pass_memory(blocks_of(timings, hw), hw)
    counts = counts + AccessCounts(buffer_write_bits=8 * mem.dram_read_bytes,
                                   dram_bits=8 * (mem.dram_read_bytes + mem.dram_write_bytes))
    if hw.array.kind == "systolic":
        base_counts = counts  # a systolic array is its own dense baseline
    else:
        base_counts = base_counts + AccessCounts(
            buffer_write_bits=8 * base_read, dram_bits=8 * (base_read + mem.dram_write_bytes))
    return CycleBreakdown(total.base_cycles, total.compute_cycles, total.ideal_cycles,
                          total.effectual_macs, total.pe_lane_cycles, mem.stall_cycles, "",
                          energy_pj(counts, hw.energy), energy_pj(base_counts, hw.energy))


def _lowered(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
             second: np.ndarray) -> tuple[list[LoweredProblem], list[int], list[tuple]]:
    problems = lower_pass(geometry, pass_name, first, second, lanes=1)
    return (problems, [window_source_elements(geometry, p.tag) for p in problems],
            [p.tag[:4] for p in problems])


def systolic_pass(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
                  second: np.ndarray, hw: Hardware) -> CycleBreakdown:
    """Lower one pass's operand masks (``lanes = 1``) and run :func:`systolic_pass_cycles`."""
    problems, sources, keys = _lowered(geometry, pass_name, first, second)
    return systolic_pass_cycles(problems, hw, window_sources=sources, window_keys=keys)


def ideal_pass(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
               second: np.ndarray, hw: Hardware) -> CycleBreakdown:
    """Lower one pass's operand masks (``lanes = 1``) and run :func:`ideal_pass_cycles`."""
    problems, sources, keys = _lowered(geometry, pass_name, first, second)
    return ideal_pass_cycles(problems, hw, window_sources=sources, window_keys=keys)


def scnn_pass(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
              second: np.ndarray, hw: Hardware) -> CycleBreakdown:
    """Build the pass's SCNN work (:func:`scnn_problems`) and run :func:`scnn_pass_cycles`."""
    return scnn_pass_cycles(scnn_problems(geometry, pass_name, first, second, hw.scnn), hw)


ARRAY_PASSES: dict[str, Callable[[LayerGeometry, str, np.ndarray, np.ndarray, Hardware],
                                 CycleBreakdown]] = {
    "systolic": systolic_pass, "scnn": scnn_pass, "ideal": ideal_pass,
}
"""``[array] kind`` -> ``f(geometry, pass_name, first, second, hw) -> CycleBreakdown`` for
the kinds other than ``"bit-tactical"`` (:func:`accelsim.arrays.bittactical.pass_cycles`); ``first`` and
``second`` are the pass's operand masks in trace role order."""
