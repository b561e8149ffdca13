"""SCNN's Cartesian-product PE array with accumulator-bank conflicts (Parashar et al., ISCA
2017): the cycle counts of one problem (the numba kernels: :mod:`accelsim.kernels.scnn_banks`),
a closed form for lowered GEMMs, and the numpy reference (:mod:`accelsim.arrays.scnn`
builds the work).
"""

from __future__ import annotations

import numpy as np

from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.scnn_banks import _count_cycles, _group_cycles, _product_cycles
from accelsim.kernels.scnn_masks import _plane_counts, _plane_masks, _weight_csr
from accelsim.kernels.signatures import INT, array_type
from accelsim.kernels.threads import split_run

__all__ = ["kernel_calls", "plane_counts", "plane_csr", "scnn_count_cycles", "scnn_cycles",
           "weight_counts", "weight_csr"]

# Work of one problem (built by :func:`accelsim.arrays.scnn.scnn_work`), in CSR form:
#
# * weights, sorted by (group g, reduction channel c, output channel k, r, s): the non-zeros of
#   (g, c) are ``w_kk/w_tap[w_ptr[g*C + c]:w_ptr[g*C + c + 1]]`` (``w_kk = k mod Kc``; group g
#   holds the output channels ``[g*Kc, (g+1)*Kc)``; the tap ``w_tap`` is ``(tap_r, tap_s)[w_tap]``,
#   the reference takes ``w_k/w_r/w_s`` per weight);
# * activations, sorted by (channel c, PE p, y, x): the non-zeros of (c, p) are
#   ``a_y/a_x[a_ptr[c*P + p]:a_ptr[c*P + p + 1]]`` (:func:`plane_csr`; the kernels read the
#   plane itself);
# * ``geo = (C, G, P, F, I, A, Kc, OH, OW, my, by, cy, dy, mx, bx, cx, dx)``: a product of
#   weight (k, r, s) and activation (y, x) lands on output row ``oy = (y*my + r*by + cy) / dy``
#   (likewise ox) when the division is exact and ``0 <= oy < OH`` (``0 <= ox < OW``); other
#   products are computed and dropped.  Its accumulator bank is
#   ``((k mod Kc) * OH * OW + oy * OW + ox) mod A`` (the linear address of the output in the
#   PE's accumulator buffer of Kc planes, banks interleaved on the low-order address bits).
#
# Per PE, group and channel the PE takes the weights F at a time and, for each such vector,
# the activations I at a time (input stationary, weights streamed); one (F, I) pair of
# vectors costs ``max(1, largest number of kept products meeting in one bank)`` cycles (the
# F x I products go through the crossbar; a bank takes one product per cycle, so a conflict
# stalls the PE).  The PEs synchronise after every output-channel group:
# ``cycles = sum_g max_p cycles(g, p)``.  Returns ``(group_cycles[G], products, kept,
# vector_pairs)``: cycles per group, Cartesian products computed, products kept (landing on an
# output: the effectual MACs), and (F, I) vector pairs processed (= cycles without conflicts).


def plane_csr(plane: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, ...]:
    """The activations of ``plane [C, H, W]`` tiled over ``rows x cols`` PEs (pixel (y, x)
    on PE ``(y // th) * cols + x // tw``, ``th = ceil(H / rows)``, ``tw = ceil(W / cols)``)
    in the CSR form above: ``(a_ptr, a_y, a_x)``."""
    n_c, h, w = plane.shape
    th, tw = -(-h // rows), -(-w // cols)
    if (th * rows, tw * cols) != (h, w):
        plane = np.pad(plane, ((0, 0), (0, th * rows - h), (0, tw * cols - w)))
    tiles = plane.reshape(n_c, rows, th, cols, tw).transpose(0, 1, 3, 2, 4)
    c, pr, pc, ty, tx = np.nonzero(tiles)  # sorted by (channel, PE, y, x)
    a_ptr = np.zeros(n_c * rows * cols + 1, np.int64)
    np.cumsum(np.bincount((c * rows + pr) * cols + pc, minlength=a_ptr.size - 1),
              out=a_ptr[1:])
    return a_ptr, pr * th + ty, pc * tw + tx


MIN_SPLIT = 2_000_000  # steps (about a nanosecond each) of a kernel call below which it runs
                       # in one thread: starting the others would cost more than they save
MASK_STEP = 8  # steps per (activation, tap) of the masks


def _run(fn, n: int, steps: int) -> None:
    """``fn(start, stop)`` over ``0:n``, split among the kernel threads when there are at
    least :data:`MIN_SPLIT` ``steps`` of work."""
    if steps < MIN_SPLIT:
        fn(0, n)
    else:
        split_run(fn, n)


def _bank_masks(plane, rows, cols, na, kh, kw, geo, layers):
    """:func:`accelsim.kernels.scnn_masks._plane_masks` of every channel, split among the
    kernel threads: ``(v_ptr, v_pe, masks, nonempty, kept, depth)``."""
    n_c, n_t = plane.shape[0], kh * kw
    v_ptr = np.zeros(n_c + 1, np.int64)
    np.cumsum((-(-na // int(geo[4]))).sum(axis=1), out=v_ptr[1:])
    v_pe = np.empty(v_ptr[-1], np.int64)
    masks = np.zeros((layers, n_t, v_ptr[-1]), np.uint64)
    nonempty = np.zeros((layers, n_t, n_c), np.bool_)
    nonempty[0] = True
    kept = np.zeros((n_c, n_t), np.int64)
    depth = np.ones(n_c, np.int64)
    _run(lambda c0, c1: _plane_masks(plane, rows, cols, v_ptr, kh, kw, geo, c0, c1, v_pe, masks,
                                     nonempty, kept, depth), n_c, int(na.sum()) * n_t * MASK_STEP)
    return v_ptr, v_pe, masks, nonempty, kept, int(depth.max(initial=1))


def scnn_cycles(w_ptr, w_kk, w_tap, tap_r, tap_s, plane, rows, cols, geo
                ) -> tuple[np.ndarray, int, int, int]:
    """The SCNN work of one problem (see above; the activations: non-zeros of ``plane [C, H,
    W]`` tiled as in :func:`plane_csr`) -> ``(group_cycles[G], products, kept,
    vector_pairs)``.  The channels (building the masks) and then the groups are independent:
    they are split among the kernel threads (:func:`accelsim.kernels.threads.split_run`),
    each writing its own rows, and reduced here in order (the same result for any thread
    count)."""
    n_c, n_g, n_p, f_vec, i_vec, banks = (int(v) for v in geo[:6])
    cyc = np.zeros((n_g, n_p), np.int64)
    kept = np.zeros(n_g, np.int64)
    na = _plane_counts(plane, rows, cols)
    nw = np.diff(w_ptr).reshape(n_g, n_c)
    if banks <= 64:
        kh, kw = int(tap_r.max()) + 1, int(tap_s.max()) + 1  # taps: t = r * kw + s
        v_ptr, v_pe, masks, nonempty, kept_ct, depth = _bank_masks(plane, rows, cols, na, kh,
                                                                   kw, geo, 1)
        if depth > 1:  # products of one weight meet in a bank: layered masks
            v_ptr, v_pe, masks, nonempty, kept_ct, depth = _bank_masks(plane, rows, cols, na, kh,
                                                                       kw, geo, i_vec)
            masks, nonempty = masks[:depth].copy(), nonempty[:depth].copy()
        steps = int(nw.sum(axis=0) @ np.diff(v_ptr)) * depth
        nvec = -(-na // i_vec)
        _run(lambda g0, g1: _group_cycles(w_ptr, w_kk, w_tap, v_ptr, v_pe, nvec, masks, nonempty,
                                          kept_ct, geo, g0, g1, cyc, kept), n_g, steps)
    else:
        a_ptr, a_y, a_x = plane_csr(plane, rows, cols)
        w_r, w_s = tap_r[w_tap], tap_s[w_tap]
        _run(lambda g0, g1: _product_cycles(w_ptr, w_kk, w_r, w_s, a_ptr, a_y, a_x, geo, g0, g1,
                                            cyc, kept), n_g, int(nw.sum(axis=0) @ na.sum(axis=1)))
    products = int(nw.sum(axis=0) @ na.sum(axis=1))
    pairs = int((-(-nw // f_vec)).sum(axis=0) @ (-(-na // i_vec)).sum(axis=1))
    group_cycles = cyc.max(axis=1) if n_p else np.zeros(n_g, np.int64)
    return group_cycles, products, int(kept.sum()), pairs


def weight_csr(w: np.ndarray, kc: int) -> tuple[np.ndarray, ...]:
    """The non-zeros of ``w [K, C, kh, kw]`` (K output channels) in the CSR form above:
    ``(w_ptr, w_kk, w_tap, tap_r, tap_s)``."""
    n_k, n_c, kh, kw = w.shape
    w_ptr, w_kk, w_tap = _weight_csr(np.flatnonzero(w), n_k, n_c, kh * kw, int(kc))
    taps = np.arange(kh * kw)
    return w_ptr, w_kk, w_tap, taps // w.shape[3], taps % w.shape[3]


def plane_counts(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Non-zero activations of ``plane [C, H, W]`` per (channel, PE) ``[C, rows * cols]``
    (tiled as in :func:`plane_csr`)."""
    return _plane_counts(np.ascontiguousarray(plane), int(rows), int(cols))


def weight_counts(nw: np.ndarray, f_vec: int) -> tuple[np.ndarray, ...]:
    """What :func:`scnn_count_cycles` needs of the non-zero weights ``nw[G, K]`` of every
    (group, element): ``(nw.T, ceil(nw / F).T, weights per element, weight vectors per
    element)``."""
    nw = np.asarray(nw, np.int64)
    nwv = -(-nw // int(f_vec))
    return (np.ascontiguousarray(nw.T), np.ascontiguousarray(nwv.T), nw.sum(axis=0),
            nwv.sum(axis=0))


def scnn_count_cycles(counts: tuple[np.ndarray, ...], x: np.ndarray, cols: int, i_vec: int,
                      per_weight: bool) -> tuple[np.ndarray, int, int, int]:
    """:func:`scnn_cycles` of a lowered problem in closed form from the counts alone --
    ``counts`` (:func:`weight_counts`) and windows ``x [n_w, K]`` split evenly over ``cols``
    PEs (the plane ``x.T [K, 1, n_w]``) -- for work where every product is kept and a vector
    pair costs a cycle per weight (``per_weight``: all its products meet in one bank per
    activation) or one cycle (else: no two of its products meet).  The caller proves which
    (:func:`accelsim.arrays.scnn.scnn_closed_form`).  The PEs are split among the kernel
    threads, each writing its own rows."""
    nw_t, nwv_t, w_sum, wv_sum = counts
    per_pair = nw_t if per_weight else nwv_t
    x = np.ascontiguousarray(x)
    cols, i_vec = int(cols), int(i_vec)
    cyc = np.zeros((cols, nw_t.shape[1]), np.int64)
    totals = np.zeros((cols, 2), np.int64)
    _run(lambda p0, p1: _count_cycles(per_pair, w_sum, wv_sum, x, cols, i_vec, p0, p1, cyc,
                                      totals), cols, x.size + per_pair.size)
    group_cycles = cyc.max(axis=0) if cols else np.zeros(nw_t.shape[1], np.int64)
    products, pairs = (int(v) for v in totals.sum(axis=0))
    return group_cycles, products, products, pairs



def kernel_calls() -> list[KernelCall]:
    """The kernels the SCNN model runs (up to 64 accumulator banks; the product-enumeration
    kernel above 64 compiles on first use) with the signatures the wrappers here normalise
    to (:func:`accelsim.kernels.ahead.compile_ahead`).  The group kernel and the helpers it
    calls, and the mask kernel and its tap helper, are one unit each (one process compiles
    a helper's index entries)."""
    i64, u64 = np.int64, np.uint64
    i1, i2 = array_type(i64, 1), array_type(i64, 2)
    b3 = array_type(bool, 3)
    return [
        KernelCall(_plane_masks, (b3, INT, INT, i1, INT, INT, i1, INT, INT, i1,
                                  array_type(u64, 3), b3, i2, i1), 0.8, "scnn-masks"),
        KernelCall(_plane_counts, (b3, INT, INT), 0.3),
        KernelCall(_group_cycles, (i1, i1, i1, i1, i1, i2, array_type(u64, 3), b3, i2, i1,
                                   INT, INT, i2, i1), 1.5, "scnn-levels"),
        KernelCall(_count_cycles, (i2, i1, i1, array_type(bool, 2), INT, INT, INT, INT, i2,
                                   i2), 0.4),
        KernelCall(_weight_csr, (i1, INT, INT, INT, INT), 0.3),
    ]


def _scnn_cycles_ref(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo):
    """numpy reference of :func:`scnn_cycles`: each (F, I) vector pair's products at once."""
    n_c, n_g, n_p, f_vec, i_vec, banks, kc, oh, ow = (int(v) for v in geo[:9])
    my, by, cy, dy, mx, bx, cx, dx = (int(v) for v in geo[9:17])
    group_cycles = np.zeros(n_g, np.int64)
    products = kept = pairs = 0
    for g in range(n_g):
        per_pe = []
        for p in range(n_p):
            cycles = 0
            for c in range(n_c):
                ws = np.arange(w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1])
                acts = np.arange(a_ptr[c * n_p + p], a_ptr[c * n_p + p + 1])
                for wv in (ws[i:i + f_vec] for i in range(0, ws.size, f_vec)):
                    for av in (acts[j:j + i_vec] for j in range(0, acts.size, i_vec)):
                        wi, aj = np.meshgrid(wv, av, indexing="ij")
                        ny = a_y[aj] * my + w_r[wi] * by + cy
                        nx = a_x[aj] * mx + w_s[wi] * bx + cx
                        ok = (ny >= 0) & (nx >= 0) & (ny % dy == 0) & (nx % dx == 0)
                        ok &= (ny // dy < oh) & (nx // dx < ow)
                        bank = ((w_k[wi] % kc) * oh * ow + (ny // dy) * ow + nx // dx) % banks
                        counts = np.bincount(bank[ok], minlength=banks)
                        cycles += max(1, int(counts.max()))
                        products += wi.size
                        kept += int(ok.sum())
                        pairs += 1
            per_pe.append(cycles)
        group_cycles[g] = max(per_pe) if per_pe else 0
    return group_cycles, products, kept, pairs
