"""SCNN's Cartesian-product PE array with accumulator-bank conflicts (Parashar et al., ISCA
2017): the numba kernel and its numpy reference (:mod:`accelsim.arrays.scnn` builds the work).
"""

from __future__ import annotations

import numba
import numpy as np

from accelsim.kernels.threads import split_run

# Work of one problem (built by :func:`accelsim.arrays.scnn.scnn_problems`), in CSR form:
#
# * weights, sorted by (group g, reduction channel c, output channel k, r, s): the non-zeros of
#   (g, c) are ``w_k/w_r/w_s[w_ptr[g*C + c]:w_ptr[g*C + c + 1]]``; group g holds the output
#   channels ``[g*Kc, (g+1)*Kc)``;
# * activations, sorted by (PE p, channel c, y, x): the non-zeros of (p, c) are
#   ``a_y/a_x[a_ptr[p*C + c]:a_ptr[p*C + c + 1]]``;
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


@numba.njit(cache=True, nogil=True)
def _split(v, d):
    """Floor quotient and remainder of every ``v`` by ``d > 0`` (``0 <= rem < d``)."""
    q = np.empty(v.size, np.int64)
    r = np.empty(v.size, np.int64)
    for i in range(v.size):
        q[i] = v[i] // d
        r[i] = v[i] - q[i] * d
    return q, r


@numba.njit(cache=True, nogil=True)
def _scnn_pes(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo, busy, k0, k1, cyc, counts):
    """PEs ``busy[k0:k1]`` (PEs with activations) of :func:`_scnn_cycles`: ``cyc[g, p]`` the cycles of PE ``p`` in group
    ``g``; ``counts[p] = (products, kept, vector pairs)``.  A product's output row is
    ``oy = (a_y*my + cy + w_r*by) / dy``: both parts are split once into a quotient and a
    remainder by ``dy``, so that a product lands on a row iff the remainders sum to 0 or
    ``dy`` (no division per product); likewise the columns."""
    n_c, n_g, f_vec, i_vec, banks, kc = geo[0], geo[1], geo[3], geo[4], geo[5], geo[6]
    oh, ow = geo[7], geo[8]
    my, by, cy, dy, mx, bx, cx, dx = geo[9], geo[10], geo[11], geo[12], geo[13], geo[14], \
        geo[15], geo[16]
    qay, ray = _split(a_y * my + cy, dy)
    qax, rax = _split(a_x * mx + cx, dx)
    qwy, rwy = _split(w_r * by, dy)
    qwx, rwx = _split(w_s * bx, dx)
    plane = (w_k % kc) * oh * ow
    pow2 = banks & (banks - 1) == 0
    unit = dy == 1 and dx == 1
    load = np.zeros(banks, np.int64)
    touched = np.zeros(f_vec * i_vec, np.int64)
    for k in range(k0, k1):
        p = busy[k]
        products = kept = pairs = 0
        for g in range(n_g):
            cycles = 0
            for c in range(n_c):
                w0, w1 = w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1]
                a0, a1 = a_ptr[p * n_c + c], a_ptr[p * n_c + c + 1]
                if w0 == w1 or a0 == a1:
                    continue
                for i0 in range(w0, w1, f_vec):
                    i1 = min(w1, i0 + f_vec)
                    for j0 in range(a0, a1, i_vec):
                        j1 = min(a1, j0 + i_vec)
                        products += (i1 - i0) * (j1 - j0)
                        pairs += 1
                        n_t = 0
                        worst_bank = 0
                        for i in range(i0, i1):
                            wy, wx, qy, qx = rwy[i], rwx[i], qwy[i], qwx[i]
                            for j in range(j0, j1):
                                if unit:  # stride 1: every product lands on a pixel
                                    oy = qay[j] + qy
                                    ox = qax[j] + qx
                                else:
                                    sy = ray[j] + wy
                                    sx = rax[j] + wx
                                    if (sy != 0 and sy != dy) or (sx != 0 and sx != dx):
                                        continue
                                    oy = qay[j] + qy + (sy != 0)
                                    ox = qax[j] + qx + (sx != 0)
                                # one unsigned compare: negative or past the edge
                                if np.uint64(oy) >= np.uint64(oh) or \
                                        np.uint64(ox) >= np.uint64(ow):
                                    continue
                                kept += 1
                                t = plane[i] + oy * ow + ox
                                b = t & (banks - 1) if pow2 else t % banks
                                if load[b] == 0:
                                    touched[n_t] = b
                                    n_t += 1
                                load[b] += 1
                                if load[b] > worst_bank:
                                    worst_bank = load[b]
                        for t in range(n_t):
                            load[touched[t]] = 0
                        cycles += max(1, worst_bank)
            cyc[g, p] = cycles
        counts[p, 0] = products
        counts[p, 1] = kept
        counts[p, 2] = pairs


def _scnn_cycles(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo):
    """The SCNN work of one problem (see above) -> ``(group_cycles[G], products, kept,
    vector_pairs)``.  The PEs are independent until they synchronise: they are split among
    the kernel threads (:func:`accelsim.kernels.threads.split_run`), each writing its own
    rows, and reduced here in order (the same result for any thread count)."""
    n_g, n_p = int(geo[1]), int(geo[2])
    cyc = np.zeros((n_g, n_p), np.int64)
    counts = np.zeros((n_p, 3), np.int64)
    n_c = int(geo[0])
    # only PEs with activations work (an idle PE has 0 cycles): they are what is shared
    busy = np.flatnonzero(a_ptr[n_c::n_c] > a_ptr[:-1:n_c]) if n_c else np.zeros(0, np.int64)
    split_run(lambda k0, k1: _scnn_pes(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo, busy, k0,
                                       k1, cyc, counts), busy.size)
    group_cycles = cyc.max(axis=1) if n_p else np.zeros(n_g, np.int64)
    total = counts.sum(axis=0)
    return group_cycles, int(total[0]), int(total[1]), int(total[2])


def _scnn_cycles_ref(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo):
    """numpy reference of :func:`_scnn_cycles`: each (F, I) vector pair's products at once."""
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
                acts = np.arange(a_ptr[p * n_c + c], a_ptr[p * n_c + c + 1])
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
