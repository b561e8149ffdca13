"""SCNN's numba kernels (the work layout and the rules: :mod:`accelsim.kernels.scnn`).

:func:`_plane_masks` and :func:`_group_cycles` count the bank conflicts of SCNN's vector pairs
without enumerating products.  A kept product of weight ``i`` (output channel ``k``, tap
``(r, s)``) and activation ``j`` goes to bank ``(rot(k) + b(j, r, s)) mod A``, where
``rot(k) = ((k mod Kc) * OH * OW) mod A`` depends on the weight's channel only and
``b = (oy * OW + ox) mod A`` on the activation and the tap only (which also decide whether
the product is kept).  So every activation vector gets, per tap, the set of banks its kept
products reach, an A-bit mask (:func:`_plane_masks`; when two products of one weight meet in a
bank the mask is split into layers, a bank in layer d when at least d + 1 meet); a weight's
products are that mask rotated by ``rot(k)``; and the load of the busiest bank of a vector
pair is the number of non-empty "at least n" levels of the sum of its weights' masks
(:func:`_group_cycles`, one vectorisable pass over all activation vectors of a channel per
weight).  Masks are one 64-bit word: A <= 64.  :func:`_product_cycles` enumerates the
products instead (any A; the plain numpy reference: :func:`accelsim.kernels.scnn._scnn_cycles_ref`).
"""

from __future__ import annotations

import numba
import numpy as np

ONE = np.uint64(1)
ZERO = np.uint64(0)


@numba.njit(cache=True, nogil=True)
def _tap_table(tap_r, tap_s, geo):
    """Per tap ``(r, s)``: the remainders an activation must have to keep a product
    (``need_y, need_x``), the tap's part of the output pixel (``qy, qx``; see
    :func:`_plane_masks`) and of its address mod A."""
    ow, by, dy, bx, dx, banks = geo[8], geo[10], geo[12], geo[14], geo[16], geo[5]
    n_t = tap_r.size
    out = np.empty((5, n_t), np.int64)
    for t in range(n_t):
        qy, ry = tap_r[t] * by // dy, tap_r[t] * by % dy
        qx, rx = tap_s[t] * bx // dx, tap_s[t] * bx % dx
        out[0, t], out[1, t] = (dy - ry) % dy, qy + (ry > 0)
        out[2, t], out[3, t] = (dx - rx) % dx, qx + (rx > 0)
        out[4, t] = (out[1, t] * ow + out[3, t]) % banks
    return out


@numba.njit(cache=True, nogil=True)
def _weight_csr(flat, n_k, n_c, n_t, kc):
    """The non-zeros of a weight mask ``[K, C, T]`` (T taps; ``flat``: their flat indices,
    ascending) sorted by (group of Kc output channels, channel, k, tap) -- a counting sort,
    stable: ``(w_ptr[G*C + 1], w_kk = k mod Kc, w_tap)``."""
    n_g = (n_k + kc - 1) // kc
    ptr = np.zeros(n_g * n_c + 1, np.int64)
    ct = n_c * n_t
    for i in range(flat.size):
        k = flat[i] // ct
        ptr[(k // kc) * n_c + (flat[i] - k * ct) // n_t + 1] += 1
    for i in range(n_g * n_c):
        ptr[i + 1] += ptr[i]
    pos = ptr[:-1].copy()
    kk = np.empty(flat.size, np.int64)
    tap = np.empty(flat.size, np.int64)
    for i in range(flat.size):
        k = flat[i] // ct
        rest = flat[i] - k * ct
        c = rest // n_t
        row = (k // kc) * n_c + c
        kk[pos[row]], tap[pos[row]] = k % kc, rest - c * n_t
        pos[row] += 1
    return ptr, kk, tap


@numba.njit(cache=True, nogil=True)
def _plane_counts(plane, rows, cols):
    """Non-zero activations of ``plane [C, H, W]`` per (channel, PE) ``[C, rows * cols]``
    (planar tiling: pixel (y, x) on PE ``(y // ceil(H / rows), x // ceil(W / cols))``)."""
    n_c, h, w = plane.shape
    th, tw = (h + rows - 1) // rows, (w + cols - 1) // cols
    out = np.zeros((n_c, rows * cols), np.int64)
    for c in range(n_c):
        for p in range(rows * cols):
            y0, x0 = (p // cols) * th, (p % cols) * tw
            n = 0
            for y in range(y0, min(h, y0 + th)):
                for x in range(x0, min(w, x0 + tw)):
                    n += plane[c, y, x]
            out[c, p] = n
    return out


@numba.njit(cache=True, nogil=True)
def _plane_masks(plane, rows, cols, counts, tap_r, tap_s, geo, layers):
    """The activation vectors of ``plane [C, H, W]`` (tiled as in :func:`_plane_counts`,
    ``counts`` its result) and their per-tap bank masks: ``(v_ptr[C+1], v_pe[V],
    masks[layers, T, V], kept[C, T], depth)``.  Vector ``v`` (activations of one (channel,
    PE), I at a time, in (y, x) order) is in channel ``c`` iff ``v_ptr[c] <= v < v_ptr[c+1]``
    and on PE ``v_pe[v]``; bit b of ``masks[d, t, v]`` is set when more than d of its
    activations keep a product of tap t in bank b (mod A, before the weight's rotation);
    ``kept[c, t]``: the kept products of one tap-t weight with all of channel c; ``depth``:
    the layers used (``layers + 1`` when too few: call again with more).  An activation
    (y, x) meets tap (r, s) on output row ``oy = (y*my + cy + r*by) / dy`` when the division
    is exact, i.e. when ``(y*my + cy) mod dy`` is the tap's need (then ``oy = (y*my + cy) //
    dy + qy``); likewise the column."""
    n_c, h, w = plane.shape
    th, tw = (h + rows - 1) // rows, (w + cols - 1) // cols
    i_vec, banks, oh, ow = geo[4], geo[5], geo[7], geo[8]
    my, cy, dy, mx, cx, dx = geo[9], geo[11], geo[12], geo[13], geo[15], geo[16]
    tab = _tap_table(tap_r, tap_s, geo)
    n_t = tap_r.size
    n_v = 0
    for c in range(n_c):
        for p in range(rows * cols):
            n_v += (counts[c, p] + i_vec - 1) // i_vec
    v_ptr = np.zeros(n_c + 1, np.int64)
    v_pe = np.empty(n_v, np.int64)
    masks = np.zeros((layers, n_t, n_v), np.uint64)
    kept = np.zeros((n_c, n_t), np.int64)
    depth, v = 1, -1
    for c in range(n_c):
        for p in range(rows * cols):
            pr, pc = p // cols, p % cols
            in_vec = i_vec
            for y in range(pr * th, min(h, pr * th + th)):
                ny = y * my + cy
                qy, ry = ny // dy, ny % dy
                for x in range(pc * tw, min(w, pc * tw + tw)):
                    if not plane[c, y, x]:
                        continue
                    if in_vec == i_vec:
                        v, in_vec = v + 1, 0
                        v_pe[v] = p
                    in_vec += 1
                    nx = x * mx + cx
                    qx, rx = nx // dx, nx % dx
                    base = (qy * ow + qx) % banks
                    for t in range(n_t):
                        oy, ox = qy + tab[1, t], qx + tab[3, t]
                        if ry != tab[0, t] or rx != tab[2, t] or \
                                np.uint64(oy) >= np.uint64(oh) or np.uint64(ox) >= np.uint64(ow):
                            continue
                        kept[c, t] += 1
                        b = base + tab[4, t]
                        bit = ONE << np.uint64(b - banks if b >= banks else b)
                        d = 0
                        while d < layers and masks[d, t, v] & bit:
                            d += 1
                        if d == layers:
                            return v_ptr, v_pe, masks, kept, layers + 1
                        masks[d, t, v] |= bit
                        depth = max(depth, d + 1)
        v_ptr[c + 1] = v + 1
    return v_ptr, v_pe, masks, kept, depth


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
def _group_cycles(w_ptr, w_kk, w_tap, v_ptr, v_pe, masks, kept_ct, geo, g0, g1, cyc, kept):
    """Groups ``g0:g1``: ``cyc[g, p]`` the cycles of PE p in group g, ``kept[g]`` the kept
    products.  A vector pair costs ``max(1, busiest bank)`` = 1 + the non-empty levels
    above the first of its weights' rotated masks."""
    n_c, f_vec, banks, plane = geo[0], geo[3], geo[5], geo[7] * geo[8]
    layers = masks.shape[0]
    full = ~ZERO if banks == 64 else (ONE << np.uint64(banks)) - ONE
    width = 0
    for c in range(n_c):
        width = max(width, v_ptr[c + 1] - v_ptr[c])
    lv = np.empty((f_vec * layers, width), np.uint64)
    m = np.empty(width, np.uint64)
    acc = np.empty(width, np.int64)
    for g in range(g0, g1):
        for c in range(n_c):
            w0, w1, v0, v1 = w_ptr[g * n_c + c], w_ptr[g * n_c + c + 1], v_ptr[c], v_ptr[c + 1]
            n = v1 - v0
            if w0 == w1 or n == 0:
                continue
            acc[:n] = (w1 - w0 + f_vec - 1) // f_vec  # one cycle per pair at least
            for i0 in range(w0, w1, f_vec):
                i1 = min(w1, i0 + f_vec)
                top = 0
                for i in range(i0, i1):
                    t = w_tap[i]
                    kept[g] += kept_ct[c, t]
                    if i1 - i0 == 1 and layers == 1:
                        continue  # one mask: no bank is reached twice
                    r = np.uint64(w_kk[i] * plane % banks)
                    for d in range(layers):
                        src = masks[d, t, v0:v1]
                        if r == ZERO:
                            m[:n] = src
                        else:
                            for k in range(n):
                                m[k] = ((src[k] << r) | (src[k] >> (np.uint64(banks) - r))) & full
                        _add_level(lv, top, m, n)
                        top += 1
                for q in range(1, top):
                    for k in range(n):
                        acc[k] += lv[q, k] != ZERO
            for k in range(n):
                cyc[g, v_pe[v0 + k]] += acc[k]


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
