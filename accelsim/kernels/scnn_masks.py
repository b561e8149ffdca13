"""Building SCNN's work for its numba kernels (:mod:`accelsim.kernels.scnn_banks`): the
non-zero weights in CSR form, the activation vectors of a plane and their per-tap bank masks.
"""

from __future__ import annotations

import numba
import numpy as np

ONE = np.uint64(1)
ZERO = np.uint64(0)


@numba.njit(cache=True, nogil=True)
def _axis_taps(n, b, d, stride, banks):
    """Per tap index ``r < n`` of one axis (``b``, ``d``: its mapping, see
    :mod:`accelsim.kernels.scnn`): the remainder mod ``d`` an activation must have to keep a
    product (``need``), the tap's part of the output coordinate (``q``; see
    :func:`_plane_masks`), and ``q * stride mod banks`` (its part of the output address)."""
    out = np.empty((3, n), np.int64)
    for r in range(n):
        q, rem = r * b // d, r * b % d
        out[0, r], out[1, r] = (d - rem) % d, q + (rem > 0)
        out[2, r] = out[1, r] * stride % banks
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
def _plane_masks(plane, rows, cols, v_ptr, kh, kw, geo, c0, c1, v_pe, masks, nonempty, kept,
                 depth):
    """Channels ``c0:c1``: the activation vectors of ``plane [C, H, W]`` (tiled as in
    :func:`_plane_counts`; one (channel, PE)'s activations I at a time in (y, x) order,
    channel c's ``v_ptr[c]:v_ptr[c+1]``) on PEs ``v_pe``, and their banks per tap ``t = r *
    kw + s``: bit b of ``masks[d, t, v]`` (zero on entry) when more than d activations keep
    a product of tap t in bank b (before the weight's rotation); ``nonempty[d, t, c]`` when
    one of channel c's layer-d masks is (layer 0: set on entry); ``kept[c, t]`` the kept
    products of a tap-t weight with channel c; ``depth[c]`` the layers used (``layers + 1``:
    too few).  Activation (y, x) meets tap (r, s) on row ``oy = (y*my + cy + r*by) / dy``
    when exact, i.e. when ``(y*my + cy) mod dy`` is the tap's need (then ``oy = (y*my + cy)
    // dy + q``); likewise the column."""
    n_c, h, w = plane.shape
    th, tw = (h + rows - 1) // rows, (w + cols - 1) // cols
    i_vec, banks, oh, ow = geo[4], geo[5], geo[7], geo[8]
    my, cy, dy, mx, cx, dx = geo[9], geo[11], geo[12], geo[13], geo[15], geo[16]
    ty, tx = _axis_taps(kh, geo[10], dy, ow, banks), _axis_taps(kw, geo[14], dx, 1, banks)
    layers = masks.shape[0]
    for c in range(c0, c1):
        v = v_ptr[c] - 1
        depth[c] = 1
        for p in range(rows * cols):
            in_vec = i_vec
            for y in range((p // cols) * th, min(h, (p // cols) * th + th)):
                ny = y * my + cy
                qy, ry = ny // dy, ny % dy
                for x in range((p % cols) * tw, min(w, (p % cols) * tw + tw)):
                    if not plane[c, y, x]:
                        continue
                    if in_vec == i_vec:
                        v, in_vec = v + 1, 0
                        v_pe[v] = p
                    in_vec += 1
                    nx = x * mx + cx
                    qx, rx = nx // dx, nx % dx
                    base = (qy * ow + qx) % banks
                    for r in range(kh):
                        oy = qy + ty[1, r]
                        if ry != ty[0, r] or np.uint64(oy) >= np.uint64(oh):
                            continue
                        for s in range(kw):
                            ox = qx + tx[1, s]
                            if rx != tx[0, s] or np.uint64(ox) >= np.uint64(ow):
                                continue
                            t = r * kw + s
                            kept[c, t] += 1
                            b = base + ty[2, r] + tx[2, s]  # (oy * OW + ox) mod A
                            b = b - banks if b >= banks else b
                            bit = ONE << np.uint64(b - banks if b >= banks else b)
                            if not masks[0, t, v] & bit:
                                masks[0, t, v] |= bit
                                continue
                            d = 1  # another product of this tap in the bank: the next layer
                            while d < layers and masks[d, t, v] & bit:
                                d += 1
                            if d == layers:
                                depth[c] = layers + 1
                                return
                            masks[d, t, v] |= bit
                            nonempty[d, t, c] = True
                            depth[c] = max(depth[c], d + 1)
