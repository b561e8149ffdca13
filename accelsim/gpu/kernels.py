"""Triton kernels of the sparse-weight x sparse-activation convolution (linear = 1x1).

Imported only by :mod:`accelsim.gpu.ops` (triton is an optional dependency).  With
``TRITON_INTERPRET=1`` set before triton is imported, the very same source runs on CPU
tensors through triton's numpy interpreter; that is how CI checks it.

Views (element strides are arguments, so NCHW, NHWC and linear ``[N, C]`` share the code):
an activation is ``X[n, c, iy, ix]`` at ``n*s_xn + c*s_xc + iy*s_xh + ix*s_xw``; a linear
layer's ``[N, C]`` is one "sample" whose ``N`` rows are the pixels of a ``1 x N`` image.

Formats (numpy twins in :mod:`accelsim.gpu.reference`):

* **activation bitmap** ``bits[n, c, w]`` (int32 words): bit ``b`` of word ``w`` is set iff
  pixel ``p = 32*w + b`` (``p = iy*W + ix``) of channel ``c`` of sample ``n`` is non-zero;
  written by the producer kernel (ReLU / Top-K threshold / plain) that computes the values.
* **condensed rows** (``cols``, ``vals``, ``count``): row ``r`` holds ``count[r]`` entries at
  ``[r*cap, r*cap + count[r])``, in increasing column order; the column is an index into the
  per-layer tap table (forward rows: ``k = c*KK + kh*KW + kw``; transposed rows:
  ``j = o*KK + kh*KW + kw``).  One pass, no global scan: the capacity is the row length.
* **tile-condensed weight** (``ucols``, ``uvals``, ``ucount``): per block of ``BLOCK_O``
  output channels the union of their non-zero ``k`` and the ``[count, BLOCK_O]`` weight slab
  over it (zeros kept), the operand of the tensor-core path.

Index maths in the inner loops is division-free: tap offsets (``tap_*``), output-pixel
origins (``q_y``, ``q_x``), input-pixel coordinates (``p_y``, ``p_x``) and, for
backward-input, the output row/column reached from an input row/column through each tap
(``y_of``, ``x_of``: ``-1`` when not an integer or outside) are host tables built once per
layer (:func:`accelsim.gpu.reference.layer_tables`).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def producer_bitmap_kernel(x_ptr, y_ptr, bits_ptr, threshold, C, P, WPP,
                           s_xn, s_xc, s_xp, MODE: tl.constexpr, BLOCK_W: tl.constexpr):
    """``y = relu(x)`` (MODE 0), ``x * (|x| >= threshold)`` (MODE 1, Top-K) or ``x`` (MODE 2)
    and its bitmap; grid ``(cdiv(WPP, BLOCK_W), C, N)``, pixel ``p`` at ``p*s_xp``."""
    pw, c, n = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    words = pw * BLOCK_W + tl.arange(0, BLOCK_W)
    bit = tl.arange(0, 32)
    p = words[:, None] * 32 + bit[None, :]
    inside = p < P
    addr = n * s_xn + c * s_xc + p * s_xp
    x = tl.load(x_ptr + addr, mask=inside, other=0.0)
    if MODE == 0:
        y = tl.maximum(x, 0.0)
    elif MODE == 1:
        y = tl.where(tl.abs(x) >= threshold, x, 0.0)
    else:
        y = x
    if MODE != 2:
        tl.store(y_ptr + addr, y, mask=inside)
    nz = ((y != 0.0) & inside).to(tl.int32)
    word = tl.sum(nz << bit[None, :], axis=1)  # distinct powers of two: the sum is the OR
    tl.store(bits_ptr + (n * C + c) * WPP + words, word, mask=words < WPP)


@triton.jit
def condense_rows_kernel(w_ptr, row_base_ptr, col_base_ptr, cols_ptr, vals_ptr, count_ptr,
                         A, KK, s_a, cap, BLOCK_A: tl.constexpr, KKP: tl.constexpr):
    """Row ``r`` (one program) of the weight as ``[A, KK]`` at ``row_base[r] + a*s_a + k``;
    column stored ``(col_base[r] + a)*KK + k``."""
    r = tl.program_id(0)
    row_base = tl.load(row_base_ptr + r)
    col_base = tl.load(col_base_ptr + r)
    k = tl.arange(0, KKP)
    base = 0
    for a0 in range(0, A, BLOCK_A):
        a = a0 + tl.arange(0, BLOCK_A)
        inside = (a < A)[:, None] & (k < KK)[None, :]
        v = tl.load(w_ptr + row_base + a[:, None] * s_a + k[None, :], mask=inside, other=0.0)
        nz = ((v != 0.0) & inside).to(tl.int32)
        nz1 = tl.reshape(nz, [BLOCK_A * KKP])
        pos = base + tl.cumsum(nz1, 0) - nz1
        col = tl.reshape((col_base + a[:, None]) * KK + k[None, :], [BLOCK_A * KKP])
        keep = nz1 != 0
        tl.store(cols_ptr + r * cap + pos, col, mask=keep)
        tl.store(vals_ptr + r * cap + pos, tl.reshape(v, [BLOCK_A * KKP]), mask=keep)
        base += tl.sum(nz1, 0)
    tl.store(count_ptr + r, base)


@triton.jit
def condense_tiles_kernel(w_ptr, row_base_ptr, col_first_ptr, ucols_ptr, uvals_ptr,
                          ucount_ptr, OUT, CKK, GKK, ucap, BLOCK_O: tl.constexpr,
                          BLOCK_K: tl.constexpr):
    """Block ``ob`` of ``BLOCK_O`` output channels: union of their non-zero columns and the
    weight slab over it.  Output channel ``o`` covers global columns
    ``[col_first[o], col_first[o] + GKK)`` (its group) at ``row_base[o] + local``."""
    ob = tl.program_id(0)
    o = ob * BLOCK_O + tl.arange(0, BLOCK_O)
    o_in = o < OUT
    row_base = tl.load(row_base_ptr + o, mask=o_in, other=0)
    first = tl.load(col_first_ptr + o, mask=o_in, other=0)
    base = 0
    for k0 in range(0, CKK, BLOCK_K):
        kg = k0 + tl.arange(0, BLOCK_K)
        local = kg[:, None] - first[None, :]
        inside = o_in[None, :] & (local >= 0) & (local < GKK) & (kg < CKK)[:, None]
        v = tl.load(w_ptr + row_base[None, :] + local, mask=inside, other=0.0)
        used = tl.max((v != 0.0).to(tl.int32), axis=1)
        pos = base + tl.cumsum(used, 0) - used
        keep = used != 0
        tl.store(ucols_ptr + ob * ucap + pos, kg, mask=keep)
        slab = (ob * ucap + pos[:, None]) * BLOCK_O + tl.arange(0, BLOCK_O)[None, :]
        tl.store(uvals_ptr + slab, v, mask=keep[:, None])
        base += tl.sum(used, 0)
    tl.store(ucount_ptr + ob, base)


@triton.jit
def _gather_x(x_ptr, bits_ptr, n, col, ok, iy0, ix0, tap_c, tap_dy, tap_dx, H, W, C, WPP,
              s_xn, s_xc, s_xh, s_xw, USE_BITS: tl.constexpr):
    """``X[n, c(col), iy0 + dy(col), ix0 + dx(col)]`` for a [cols, pixels] block, zero
    outside the image and (USE_BITS) where the bitmap says zero (no load issued)."""
    c = tl.load(tap_c + col)
    iy = iy0[None, :] + tl.load(tap_dy + col)[:, None]
    ix = ix0[None, :] + tl.load(tap_dx + col)[:, None]
    ok = ok & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    if USE_BITS:
        p = iy * W + ix
        word = tl.load(bits_ptr + (n * C + c[:, None]) * WPP + (p >> 5), mask=ok, other=0)
        ok = ok & (((word >> (p & 31)) & 1) != 0)
    return tl.load(x_ptr + n * s_xn + c[:, None] * s_xc + iy * s_xh + ix * s_xw, mask=ok,
                   other=0.0)


@triton.jit
def forward_sparse_kernel(x_ptr, bits_ptr, cols_ptr, vals_ptr, count_ptr, y_ptr,
                          tap_c, tap_dy, tap_dx, q_y, q_x, Q, H, W, C, WPP, cap,
                          s_xn, s_xc, s_xh, s_xw, s_yn, s_yo, s_yq,
                          USE_BITS: tl.constexpr, BLOCK_Q: tl.constexpr,
                          BLOCK_E: tl.constexpr):
    """CUDA-core path, one output channel ``o`` x ``BLOCK_Q`` output pixels of sample ``n``
    per program (grid ``(cdiv(Q, BLOCK_Q), N, O)``): loop over the condensed row of ``o``."""
    pq, n, o = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    q = pq * BLOCK_Q + tl.arange(0, BLOCK_Q)
    q_in = q < Q
    iy0 = tl.load(q_y + q, mask=q_in, other=0)
    ix0 = tl.load(q_x + q, mask=q_in, other=0)
    acc = tl.zeros([BLOCK_Q], dtype=tl.float32)
    count = tl.load(count_ptr + o)
    for e0 in range(0, count, BLOCK_E):
        e = e0 + tl.arange(0, BLOCK_E)
        e_in = e < count
        col = tl.load(cols_ptr + o * cap + e, mask=e_in, other=0)
        v = tl.load(vals_ptr + o * cap + e, mask=e_in, other=0.0)
        a = _gather_x(x_ptr, bits_ptr, n, col, e_in[:, None] & q_in[None, :], iy0, ix0, tap_c,
                      tap_dy, tap_dx, H, W, C, WPP, s_xn, s_xc, s_xh, s_xw, USE_BITS)
        acc += tl.sum(a * v[:, None], axis=0)
    tl.store(y_ptr + n * s_yn + o * s_yo + q * s_yq, acc, mask=q_in)


@triton.jit
def forward_tiles_kernel(x_ptr, bits_ptr, ucols_ptr, uvals_ptr, ucount_ptr, y_ptr,
                         tap_c, tap_dy, tap_dx, q_y, q_x, Q, OUT, H, W, C, WPP, ucap,
                         s_xn, s_xc, s_xh, s_xw, s_yn, s_yo, s_yq,
                         PRECISION: tl.constexpr, EMULATE_BF16: tl.constexpr,
                         USE_BITS: tl.constexpr, BLOCK_Q: tl.constexpr,
                         BLOCK_O: tl.constexpr, BLOCK_K: tl.constexpr):
    """Dense-tile path: ``tl.dot`` of gathered activations ``[BLOCK_Q, BLOCK_K]`` with the
    block's condensed slab ``[BLOCK_K, BLOCK_O]`` over the union of its non-zero columns;
    PRECISION 0 ieee fp32, 1 tf32, 2 bf16 operands (fp32 accumulation).  Grid
    ``(cdiv(Q, BLOCK_Q), N, cdiv(O, BLOCK_O))``."""
    pq, n, ob = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    q = pq * BLOCK_Q + tl.arange(0, BLOCK_Q)
    q_in = q < Q
    iy0 = tl.load(q_y + q, mask=q_in, other=0)
    ix0 = tl.load(q_x + q, mask=q_in, other=0)
    j = tl.arange(0, BLOCK_O)
    acc = tl.zeros([BLOCK_Q, BLOCK_O], dtype=tl.float32)
    count = tl.load(ucount_ptr + ob)
    for k0 in range(0, count, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)
        k_in = kk < count
        col = tl.load(ucols_ptr + ob * ucap + kk, mask=k_in, other=0)
        a = _gather_x(x_ptr, bits_ptr, n, col, k_in[:, None] & q_in[None, :], iy0, ix0, tap_c,
                      tap_dy, tap_dx, H, W, C, WPP, s_xn, s_xc, s_xh, s_xw, USE_BITS)
        w = tl.load(uvals_ptr + (ob * ucap + kk[:, None]) * BLOCK_O + j[None, :],
                    mask=k_in[:, None], other=0.0)
        a = tl.trans(a)
        if PRECISION == 0:
            acc += tl.dot(a, w, input_precision="ieee")
        elif PRECISION == 1:
            acc += tl.dot(a, w, input_precision="tf32")
        elif EMULATE_BF16:  # the interpreter's bf16 dot is wrong: round, then fp32 dot
            a16 = a.to(tl.bfloat16).to(tl.float32)
            acc += tl.dot(a16, w.to(tl.bfloat16).to(tl.float32), input_precision="ieee")
        else:
            acc += tl.dot(a.to(tl.bfloat16), w.to(tl.bfloat16))
    o = ob * BLOCK_O + j
    out = y_ptr + n * s_yn + o[None, :] * s_yo + q[:, None] * s_yq
    tl.store(out, acc, mask=q_in[:, None] & (o < OUT)[None, :])


@triton.jit
def backward_input_kernel(g_ptr, cols_ptr, vals_ptr, count_ptr, mask_bits_ptr, dx_ptr,
                          tap_o, tap_kh, tap_kw, y_of, x_of, p_y, p_x, P, H, W, C, WPP, cap,
                          s_gn, s_go, s_gh, s_gw, s_dn, s_dc, s_dh, s_dw,
                          USE_MASK: tl.constexpr, BLOCK_P: tl.constexpr,
                          BLOCK_E: tl.constexpr):
    """``dX`` of input channel ``c`` at ``BLOCK_P`` input pixels of sample ``n`` (grid
    ``(cdiv(P, BLOCK_P), N, C)``) from the transposed condensed row of ``c``; with USE_MASK
    only pixels whose bit is set in ``mask_bits`` (the saved activation: ReLU's backward
    fused in) are computed, the others are written as zero and a block of zeros skips the
    loop entirely."""
    pp, n, c = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    p = pp * BLOCK_P + tl.arange(0, BLOCK_P)
    live = p < P
    if USE_MASK:
        word = tl.load(mask_bits_ptr + (n * C + c) * WPP + (p >> 5), mask=live, other=0)
        live = live & (((word >> (p & 31)) & 1) != 0)
    y = tl.load(p_y + p, mask=p < P, other=0)
    x = tl.load(p_x + p, mask=p < P, other=0)
    count = tl.load(count_ptr + c)
    count = tl.where(tl.max(live.to(tl.int32), 0) > 0, count, 0)
    acc = tl.zeros([BLOCK_P], dtype=tl.float32)
    for e0 in range(0, count, BLOCK_E):
        e = e0 + tl.arange(0, BLOCK_E)
        e_in = e < count
        col = tl.load(cols_ptr + c * cap + e, mask=e_in, other=0)
        v = tl.load(vals_ptr + c * cap + e, mask=e_in, other=0.0)
        o = tl.load(tap_o + col)
        oy = tl.load(y_of + tl.load(tap_kh + col)[:, None] * H + y[None, :])
        ox = tl.load(x_of + tl.load(tap_kw + col)[:, None] * W + x[None, :])
        ok = e_in[:, None] & live[None, :] & (oy >= 0) & (ox >= 0)
        g = tl.load(g_ptr + n * s_gn + o[:, None] * s_go + oy * s_gh + ox * s_gw, mask=ok,
                    other=0.0)
        acc += tl.sum(g * v[:, None], axis=0)
    tl.store(dx_ptr + n * s_dn + c * s_dc + y * s_dh + x * s_dw, acc, mask=p < P)


@triton.jit
def backward_weight_kernel(x_ptr, bits_ptr, g_ptr, cols_ptr, count_ptr, dw_ptr, dw_base_ptr,
                           tap_c, tap_dy, tap_dx, q_y, q_x, N, Q, H, W, C, WPP, cap,
                           samples_per_split, q_per_split, q_splits,
                           s_xn, s_xc, s_xh, s_xw, s_gn, s_go, s_gq,
                           USE_BITS: tl.constexpr, ATOMIC: tl.constexpr,
                           BLOCK_E: tl.constexpr, BLOCK_Q: tl.constexpr):
    """SDDMM: ``dW[o, col]`` for the ``BLOCK_E`` condensed entries of row ``o`` in entry block
    ``eb``, reduced over the samples and output pixels of split ``s`` (grid
    ``(O, cdiv(cap, BLOCK_E), sample_splits * q_splits)``; atomics when splits > 1).  Activation loads are
    masked by the saved activation's bitmap (a gather over its non-zeros); blocks past the
    row's count do no work."""
    o, eb, s = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    count = tl.load(count_ptr + o)
    e = eb * BLOCK_E + tl.arange(0, BLOCK_E)
    e_in = e < count
    col = tl.load(cols_ptr + o * cap + e, mask=e_in, other=0)
    sn = s // q_splits
    q_lo = (s - sn * q_splits) * q_per_split
    q_hi = tl.minimum(q_lo + q_per_split, Q)
    n_lo = sn * samples_per_split
    n_hi = tl.minimum(n_lo + samples_per_split, N)
    n_hi = tl.where(eb * BLOCK_E < count, n_hi, n_lo)
    acc = tl.zeros([BLOCK_E], dtype=tl.float32)
    for n in range(n_lo, n_hi):
        for q0 in range(q_lo, q_hi, BLOCK_Q):
            q = q0 + tl.arange(0, BLOCK_Q)
            q_in = q < q_hi
            g = tl.load(g_ptr + n * s_gn + o * s_go + q * s_gq, mask=q_in, other=0.0)
            iy0 = tl.load(q_y + q, mask=q_in, other=0)
            ix0 = tl.load(q_x + q, mask=q_in, other=0)
            a = _gather_x(x_ptr, bits_ptr, n, col, e_in[:, None] & q_in[None, :], iy0, ix0,
                          tap_c, tap_dy, tap_dx, H, W, C, WPP, s_xn, s_xc, s_xh, s_xw,
                          USE_BITS)
            acc += tl.sum(a * g[None, :], axis=1)
    dst = dw_ptr + tl.load(dw_base_ptr + o) + col
    if ATOMIC:
        tl.atomic_add(dst, acc, mask=e_in)
    else:
        tl.store(dst, acc, mask=e_in)
