"""SCNN's Cartesian-product PE array with accumulator-bank conflicts (Parashar et al., ISCA
2017): the cycle counts of one problem (the numba kernels: :mod:`accelsim.kernels.scnn_banks`),
a closed form for lowered GEMMs, and the numpy reference (:mod:`accelsim.arrays.scnn`
builds the work).
"""

from __future__ import annotations

import numpy as np

from accelsim.kernels.scnn_banks import (
    _count_cycles,
    _group_cycles,
    _product_cycles,
    _tap_masks,
)
from accelsim.kernels.threads import split_run

__all__ = ["scnn_count_cycles", "scnn_cycles"]

# Work of one problem (built by :func:`accelsim.arrays.scnn.scnn_work`), in CSR form:
#
# * weights, sorted by (group g, reduction channel c, output channel k, r, s): the non-zeros of
#   (g, c) are ``w_kk/w_tap[w_ptr[g*C + c]:w_ptr[g*C + c + 1]]`` (``w_kk = k mod Kc``; group g
#   holds the output channels ``[g*Kc, (g+1)*Kc)``; the tap ``w_tap`` is ``(tap_r, tap_s)[w_tap]``,
#   the reference takes ``w_k/w_r/w_s`` per weight);
# * activations, sorted by (channel c, PE p, y, x): the non-zeros of (c, p) are
#   ``a_y/a_x[a_ptr[c*P + p]:a_ptr[c*P + p + 1]]``;
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


def _totals(w_ptr, a_ptr, geo) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero weights ``[G, C]`` and activations ``[C, P]`` of every (group, channel) and
    (channel, PE)."""
    n_c, n_g, n_p = int(geo[0]), int(geo[1]), int(geo[2])
    return np.diff(w_ptr).reshape(n_g, n_c), np.diff(a_ptr).reshape(n_c, n_p)


def scnn_cycles(w_ptr, w_kk, w_tap, tap_r, tap_s, a_ptr, a_y, a_x, geo
                ) -> tuple[np.ndarray, int, int, int]:
    """The SCNN work of one problem (see above) -> ``(group_cycles[G], products, kept,
    vector_pairs)``.  The groups are independent: they are split among the kernel threads
    (:func:`accelsim.kernels.threads.split_run`), each writing its own rows, and reduced here
    in order (the same result for any thread count)."""
    n_c, n_g, n_p, f_vec, i_vec, banks = (int(v) for v in geo[:6])
    cyc = np.zeros((n_g, n_p), np.int64)
    kept = np.zeros(n_g, np.int64)
    nw, na = _totals(w_ptr, a_ptr, geo)
    nav = -(-na // i_vec)
    if banks <= 64:
        work = _tap_masks(a_ptr, a_y, a_x, tap_r, tap_s, geo, 1)
        if work[4] > 1:  # products of one weight meet in a bank: layered masks
            work = _tap_masks(a_ptr, a_y, a_x, tap_r, tap_s, geo, i_vec)
            work = work[:2] + (work[2][:work[4]].copy(),) + work[3:]
        v_ptr, v_pe, masks, kept_ct, _ = work
        split_run(lambda g0, g1: _group_cycles(w_ptr, w_kk, w_tap, v_ptr, v_pe, masks, kept_ct,
                                               geo, g0, g1, cyc, kept), n_g)
    else:
        w_r, w_s = tap_r[w_tap], tap_s[w_tap]
        split_run(lambda g0, g1: _product_cycles(w_ptr, w_kk, w_r, w_s, a_ptr, a_y, a_x, geo,
                                                 g0, g1, cyc, kept), n_g)
    products = int(nw.sum(axis=0) @ na.sum(axis=1))
    pairs = int((-(-nw // f_vec)).sum(axis=0) @ nav.sum(axis=1))
    group_cycles = cyc.max(axis=1) if n_p else np.zeros(n_g, np.int64)
    return group_cycles, products, int(kept.sum()), pairs


def scnn_count_cycles(nw: np.ndarray, na: np.ndarray, f_vec: int, i_vec: int,
                      per_weight: bool) -> tuple[np.ndarray, int, int, int]:
    """:func:`scnn_cycles` in closed form from the counts alone -- non-zero weights ``nw[G, C]``
    and activations ``na[C, P]`` -- for work where every product is kept and a vector pair
    costs a cycle per weight (``per_weight``: all its products meet in one bank per
    activation) or one cycle (else: no two of its products meet).  The caller proves which
    (:func:`accelsim.arrays.scnn.scnn_closed_form`)."""
    nw, na = np.asarray(nw, np.int64), np.asarray(na, np.int64)
    nav, nwv = -(-na // i_vec), -(-nw // f_vec)
    per_pair = nw if per_weight else nwv
    busy = np.flatnonzero(nav.any(axis=0))  # PEs without activations have no cycles
    nav_busy = np.ascontiguousarray(nav[:, busy])
    cyc = np.zeros((nw.shape[0], busy.size), np.int64)
    split_run(lambda g0, g1: _count_cycles(per_pair, nav_busy, g0, g1, cyc), nw.shape[0])
    group_cycles = cyc.max(axis=1) if cyc.shape[1] else np.zeros(nw.shape[0], np.int64)
    products = int(nw.sum(axis=0) @ na.sum(axis=1))
    return group_cycles, products, products, int(nwv.sum(axis=0) @ nav.sum(axis=1))


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
