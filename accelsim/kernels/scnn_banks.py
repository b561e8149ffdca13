"""SCNN's cycle kernels (the work layout and the rules: :mod:`accelsim.kernels.scnn`).

:func:`_group_cycles` counts the bank conflicts of SCNN's vector pairs without enumerating
products.  A kept product of weight ``i`` (output channel ``k``, tap ``(r, s)``) and
activation ``j`` goes to bank ``(rot(k) + b(j, r, s)) mod A``, where ``rot(k) = ((k mod Kc)
* OH * OW) mod A`` depends on the weight's channel only and ``b = (oy * OW + ox) mod A`` on the
activation and the tap only (which also decide whether the product is kept).  So every
activation vector gets, per tap, the set of banks its kept products reach, an A-bit mask
(:func:`accelsim.kernels.scnn_masks._plane_masks`; when two products of one weight meet in a
bank the mask is split into layers, a bank in layer d when at least d + 1 meet); a weight's
products are that mask rotated by ``rot(k)``; and the load of the busiest bank of a vector
pair is the number of non-empty "at least n" levels of the sum of its weights' masks (one
vectorisable pass over a block of a channel's activation vectors per weight; turning every
mask alike leaves the busiest bank's load as it is, so the masks turn by their rotation
relative to the vector's first weight).  Masks are one 64-bit word: A <= 64.
:func:`_product_cycles` enumerates the products instead (any A); :func:`_count_cycles` is the
closed form of lowered GEMMs.  The plain numpy reference of all:
:func:`accelsim.kernels.scnn._scnn_cycles_ref`.
"""

from __future__ import annotations

import numba
import numpy as np

ONE = np.uint64(1)
ZERO = np.uint64(0)
BLOCK = 512  # activation vectors per pass: the levels of a weight vector stay in L1


@numba.njit(cache=True, nogil=True)
def _add_level(lv, top, m, n):
    """Add the set ``m[:n]`` to the counts held as nested levels ``lv[q]`` (banks reached at
    least q + 1 times) of which ``top`` are in use."""
    if top == 0:
        for k in range(n):
            lv[0, k] = m[k]
        return
    for k in range(n):
        lv[top, k] = lv[top - 1, k] & m[k]
    for q in range(top - 1, 0, -1):
        for k in range(n):
            lv[q, k] |= lv[q - 1, k] & m[k]
    for k in range(n):
        lv[0, k] |= m[k]


@numba.njit(cache=True, nogil=True)
def _vector_pair_levels(w_kk, w_tap, i0, i1, masks, nonempty, c, b0, b1, geo, lv, m):
    """Add the masks of weights ``i0:i1`` (one weight vector) with activation vectors
    ``b0:b1`` of channel c into the levels ``lv``; -> the levels in use."""
    banks, plane = geo[5], geo[7] * geo[8]
    n = b1 - b0
    full = ~ZERO if banks == 64 else (ONE << np.uint64(banks)) - ONE
    r0 = w_kk[i0] * plane % banks
    top = 0
    for i in range(i0, i1):
        t = w_tap[i]
        r = np.uint64((w_kk[i] * plane - r0) % banks)
        for d in range(masks.shape[0]):
            if not nonempty[d, t, c]:
                continue
            src = masks[d, t, b0:b1]
            if r == ZERO:
                _add_level(lv, top, src, n)
            else:
                for k in range(n):
                    m[k] = ((src[k] << r) | (src[k] >> (np.uint64(banks) - r))) & full
                _add_level(lv, top, m, n)
            top += 1
    return top


@numba.njit(cache=True, nogil=True)
def _three_levels(w_kk, w_tap, i0, i1, masks, nonempty, c, b0, b1, geo, l0, l1, l2):
    """:func:`_vector_pair_levels` keeping only the first three levels (``l0``: banks
    reached, ``l1``: twice, ``l2``: three times), one pass per mask; -> ``(masks added,
    overflow)``, overflow when a bank is reached four times (then the levels are
    incomplete)."""
    banks, plane = geo[5], geo[7] * geo[8]
    n = b1 - b0
    full = ~ZERO if banks == 64 else (ONE << np.uint64(banks)) - ONE
    r0 = w_kk[i0] * plane % banks
    added = 0
    over = ZERO
    for i in range(i0, i1):
        t = w_tap[i]
        r = np.uint64((w_kk[i] * plane - r0) % banks)
        back = np.uint64(banks) - r
        for d in range(masks.shape[0]):
            if not nonempty[d, t, c]:
                continue
            src = masks[d, t, b0:b1]
            if added == 0:
                for k in range(n):
                    l0[k] = ((src[k] << r) | (src[k] >> back)) & full if r else src[k]
                    l1[k] = l2[k] = ZERO
            elif r == ZERO:
                for k in range(n):
                    x = src[k]
                    over |= l2[k] & x
                    l2[k] |= l1[k] & x
                    l1[k] |= l0[k] & x
                    l0[k] |= x
            else:
                for k in range(n):
                    x = ((src[k] << r) | (src[k] >> back)) & full
                    over |= l2[k] & x
                    l2[k] |= l1[k] & x
                    l1[k] |= l0[k] & x
                    l0[k] |= x
            added += 1
    return added, over != ZERO


@numba.njit(cache=True, nogil=True)
def _group_cycles(w_ptr, w_kk, w_tap, v_ptr, v_pe, nvec, masks, nonempty, kept_ct, geo, g0, g1,
                  cyc, kept):
    """Groups ``g0:g1``: ``cyc[g, p]`` the cycles of PE p in group g, ``kept[g]`` the kept
    products (``nvec[c, p]``: activation vectors of channel c on PE p).  A vector pair costs
    ``max(1, busiest bank)``: one cycle (added per PE at once) plus the non-empty levels
    above the first of its weights' masks (three levels, :func:`_three_levels`, unless a
    bank is reached four times: then all)."""
    n_c, f_vec = geo[0], geo[3]
    layers = masks.shape[0]
    lv = np.empty((max(3, f_vec * layers), BLOCK), np.uint64)
    m = np.empty(BLOCK, np.uint64)
    acc = np.empty(BLOCK, np.int64)
    for g in range(g0, g1):
        row = cyc[g]
        for c in range(n_c):
            w0, w1, v0, v1 = w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1], v_ptr[c], v_ptr[c + 1]
            if w0 == w1 or v0 == v1:
                continue
            for i in range(w0, w1):
                kept[g] += kept_ct[c, w_tap[i]]
            nwv = (w1 - w0 + f_vec - 1) // f_vec
            vec = nvec[c]
            for p in range(row.size):
                row[p] += nwv * vec[p]
            if w1 - w0 == 1 and layers == 1:
                continue  # one mask: no bank is reached twice
            for b0 in range(v0, v1, BLOCK):
                b1 = min(v1, b0 + BLOCK)
                n = b1 - b0
                acc[:n] = 0
                for i0 in range(w0, w1, f_vec):
                    i1 = min(w1, i0 + f_vec)
                    if i1 - i0 == 1 and layers == 1:
                        continue
                    added, over = _three_levels(w_kk, w_tap, i0, i1, masks, nonempty, c, b0,
                                                b1, geo, lv[0], lv[1], lv[2])
                    if not over:
                        if added > 1:
                            for k in range(n):
                                acc[k] += (lv[1, k] != ZERO) + (lv[2, k] != ZERO)
                        continue
                    top = _vector_pair_levels(w_kk, w_tap, i0, i1, masks, nonempty, c, b0, b1,
                                              geo, lv, m)
                    for q in range(1, top):
                        for k in range(n):
                            acc[k] += lv[q, k] != ZERO
                for k in range(n):
                    if acc[k]:
                        row[v_pe[b0 + k]] += acc[k]


@numba.njit(cache=True, nogil=True)
def _product_cycles(w_ptr, w_k, w_r, w_s, a_ptr, a_y, a_x, geo, g0, g1, cyc, kept):
    """:func:`_group_cycles` by enumerating every product of every vector pair (any number
    of banks): groups ``g0:g1``."""
    n_c, n_p, f_vec, i_vec, banks, kc = geo[0], geo[2], geo[3], geo[4], geo[5], geo[6]
    oh, ow, my, by, cy, dy, mx, bx, cx, dx = geo[7], geo[8], geo[9], geo[10], geo[11], \
        geo[12], geo[13], geo[14], geo[15], geo[16]
    load = np.zeros(banks, np.int64)
    for g in range(g0, g1):
        for c in range(n_c):
            w0, w1 = w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1]
            for p in range(n_p):
                a0, a1 = a_ptr[c * n_p + p], a_ptr[c * n_p + p + 1]
                for i0 in range(w0, w1, f_vec):
                    for j0 in range(a0, a1, i_vec):
                        worst = 0
                        for i in range(i0, min(w1, i0 + f_vec)):
                            for j in range(j0, min(a1, j0 + i_vec)):
                                ny = a_y[j] * my + w_r[i] * by + cy
                                nx = a_x[j] * mx + w_s[i] * bx + cx
                                if ny < 0 or nx < 0 or ny % dy != 0 or nx % dx != 0 or \
                                        ny // dy >= oh or nx // dx >= ow:
                                    continue
                                kept[g] += 1
                                b = ((w_k[i] % kc) * oh * ow + ny // dy * ow + nx // dx) % banks
                                load[b] += 1
                                worst = max(worst, load[b])
                        load[:] = 0
                        cyc[g, p] += max(1, worst)


@numba.njit(cache=True, nogil=True)
def _count_cycles(per_pair, w_sum, wv_sum, x, cols, i_vec, p0, p1, cyc, totals):
    """PEs ``p0:p1`` of a lowered problem in closed form: ``cyc[p, g] = sum_c per_pair[c, g]
    * ceil(n[p, c] / I)`` (``per_pair[K, G]``: cycles of a channel's weight vectors with one
    activation vector, ``n[p, c]``: non-zero windows of PE p, ``x [n_w, K]`` split evenly
    over ``cols`` PEs), ``totals[p] = (products, vector pairs)`` (``w_sum[c]``,
    ``wv_sum[c]``: weights and weight vectors of element c)."""
    n_w, n_k = x.shape
    per = (n_w + cols - 1) // cols
    cnt = np.empty(n_k, np.int64)
    for p in range(p0, p1):
        if p * per >= n_w:
            break
        cnt[:] = 0
        for w in range(p * per, min(n_w, p * per + per)):
            for c in range(n_k):
                cnt[c] += x[w, c]
        row = cyc[p]
        for c in range(n_k):
            if cnt[c] == 0:
                continue
            nav = (cnt[c] + i_vec - 1) // i_vec
            totals[p, 0] += cnt[c] * w_sum[c]
            totals[p, 1] += nav * wv_sum[c]
            weights = per_pair[c]
            for g in range(row.size):
                row[g] += weights[g] * nav
