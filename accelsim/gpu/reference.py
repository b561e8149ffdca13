"""Plain numpy references of the GPU kernels: the same compressed formats, bit for bit, and
the same algorithms in the same summation order (no torch).

Formats (identical to ``csrc/compress.cu``):

* **Tile bitmaps** of a float32 tensor viewed as ``X[outer, C, inner]`` (activations NCHW:
  ``outer = N, inner = H*W``; forward weights ``[O, C, KH, KW]``: ``outer = O, inner = KH*KW``).
  Channels are cut into ``CB = ceil(C/32)`` tiles; tile ``t = (o*inner + i)*CB + cb`` has
  ``bitmaps[t]`` (uint32, bit ``b`` set iff ``X[o, 32*cb + b, i] != 0``), ``offsets[t]``
  (int32 exclusive prefix sum of the popcounts, ``offsets[T] = nnz``) and its values packed in
  ``values[offsets[t]:offsets[t+1]]`` by increasing channel.  The value of channel
  ``32*cb + b`` is ``values[offsets[t] + popcount(bitmaps[t] & (2**b - 1))]``.
* **CSR rows** of a weight ``[O, C, KH, KW]``: per output channel (rows ``O``, column
  ``j = c*K + k``) or transposed (rows ``C``, column ``j = o*K + k``), ``K = KH*KW``;
  ``row_ptr[R+1]``, ``col_idx[nnz]`` increasing within a row, ``values[nnz]``.

Passes (``P = H*W``, ``Q = OH*OW``, input pixel of output pixel ``(oy, ox)`` and tap
``(kh, kw)``: ``iy = oy*sh - ph + kh*dh``, ``ix = ox*sw - pw + kw*dw``):

* forward ``Y[n,o,oy,ox] = sum_{c,kh,kw} W[o,c,kh,kw] X[n,c,iy,ix]`` over the products whose
  weight and activation bits are both set (order kh, kw, cb, channel);
* backward-input ``dX[n,c,iy,ix] = sum_{o,kh,kw} W[o,c,kh,kw] dY[n,o,oy,ox]`` over the
  transposed CSR row ``c`` (CSR order), ``oy = (iy + ph - kh*dh)/sh`` when integral and inside;
* backward-weight ``dW[o,c,kh,kw] = sum_{n,oy,ox} dY[n,o,oy,ox] X[n,c,iy,ix]`` over the set bits
  of the saved activation (order n, oy, ox).

Accumulation is float32 as on the GPU (which may contract ``acc += w*a`` into an FMA, so
results agree to rounding, not bit for bit).  Groups must be 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import ConfigError

TILE = 32
_BIT_WEIGHTS = (np.uint32(1) << np.arange(TILE, dtype=np.uint32)).astype(np.uint32)


@dataclass(frozen=True)
class TileBitmaps:
    """Tile-bitmap compression of ``X[outer, channels, inner]`` (see the module docstring)."""

    bitmaps: np.ndarray  # uint32 [outer*inner*CB]
    offsets: np.ndarray  # int32 [outer*inner*CB + 1]
    values: np.ndarray   # float32 [nnz]
    outer: int
    channels: int
    inner: int

    @property
    def tiles_per_position(self) -> int:
        """``CB = ceil(channels / 32)``."""
        return -(-self.channels // TILE)

    @property
    def nnz(self) -> int:
        return int(self.offsets[-1])


@dataclass(frozen=True)
class Csr:
    """CSR rows: ``row_ptr[rows+1]``, ``col_idx[nnz]`` (int32), ``values[nnz]`` (float32)."""

    row_ptr: np.ndarray
    col_idx: np.ndarray
    values: np.ndarray
    rows: int
    cols: int

    @property
    def nnz(self) -> int:
        return int(self.row_ptr[-1])


@dataclass(frozen=True)
class ConvParams:
    """Stride, padding and dilation ``(h, w)`` of a groups-1 convolution."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)

    @classmethod
    def from_geometry(cls, g) -> ConvParams:
        """From an :class:`accelsim.spec.geometry.LayerGeometry` (groups must be 1)."""
        if g.groups != 1:
            raise ConfigError(f"layer {g.name!r}: the sparse GPU kernels need groups = 1, "
                              f"not {g.groups}")
        return cls((g.stride_h, g.stride_w), (g.padding_h, g.padding_w),
                   (g.dilation_h, g.dilation_w))

    def output_size(self, h: int, w: int, kh: int, kw: int) -> tuple[int, int]:
        """``floor((size + 2*pad - dil*(k-1) - 1)/stride) + 1`` per axis."""
        oh = (h + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        ow = (w + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        if oh < 1 or ow < 1:
            raise ConfigError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input with padding "
                              f"{self.padding} and dilation {self.dilation}")
        return oh, ow


#: Stride 1, no padding, dilation 1.
UNIT = ConvParams()


def popcount(a: np.ndarray) -> np.ndarray:
    """Bits set per uint32 element, as int64."""
    return np.bitwise_count(a.astype(np.uint32)).astype(np.int64)


def as_nchw(x: np.ndarray) -> np.ndarray:
    """A linear layer's ``[N, C]`` as ``[N, C, 1, 1]``; 4-d arrays unchanged."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        return x[:, :, None, None]
    if x.ndim != 4:
        raise ConfigError(f"expected a [N, C] or [N, C, H, W] array, got shape {x.shape}")
    return x


# ---- compression ----------------------------------------------------------------------


def compress_tiles(x3: np.ndarray) -> TileBitmaps:
    """Tile bitmaps of ``x3[outer, C, inner]`` (float32)."""
    x3 = np.asarray(x3, dtype=np.float32)
    outer, channels, inner = x3.shape
    cb = -(-channels // TILE)
    padded = np.zeros((outer, cb * TILE, inner), dtype=np.float32)
    padded[:, :channels] = x3
    tiles = padded.reshape(outer, cb, TILE, inner).transpose(0, 3, 1, 2)  # [outer, inner, CB, 32]
    nz = tiles != 0
    bitmaps = (nz.astype(np.uint32) * _BIT_WEIGHTS).sum(axis=-1, dtype=np.uint32).reshape(-1)
    offsets = np.zeros(bitmaps.size + 1, dtype=np.int64)
    np.cumsum(popcount(bitmaps), out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ConfigError(f"{offsets[-1]} non-zeros do not fit the int32 offsets")
    values = tiles[nz].astype(np.float32)
    return TileBitmaps(bitmaps.astype(np.uint32), offsets.astype(np.int32), values, outer,
                       channels, inner)


def compress_activation(x: np.ndarray, layout: str = "nchw") -> TileBitmaps:
    """Tile bitmaps of an activation ``[N, C, H, W]`` (``layout="nhwc"``: ``[N, H, W, C]``)
    or ``[N, C]``; the result is the same for both layouts (tiles index ``(n, pixel, cb)``)."""
    x = np.asarray(x, dtype=np.float32)
    if layout == "nhwc" and x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    elif layout not in ("nchw", "nhwc"):
        raise ConfigError(f"unknown activation layout {layout!r}; use nchw or nhwc")
    x = as_nchw(x)
    n, c, h, w = x.shape
    return compress_tiles(x.reshape(n, c, h * w))


def compress_weight_tiles(w: np.ndarray) -> TileBitmaps:
    """Tile bitmaps of a weight ``[O, C, KH, KW]`` or ``[O, C]`` (outer = O, inner = KH*KW)."""
    w = as_nchw(w)
    o, c, kh, kw = w.shape
    return compress_tiles(w.reshape(o, c, kh * kw))


def compress_weight_csr(w: np.ndarray, transpose: bool = False) -> Csr:
    """CSR of a weight per output channel (``j = c*K + k``) or, with ``transpose``, per input
    channel (``j = o*K + k``)."""
    w = as_nchw(w)
    o, c, kh, kw = w.shape
    k = kh * kw
    rows = w.reshape(o, c, k).transpose(1, 0, 2).reshape(c, o * k) if transpose \
        else w.reshape(o, c * k)
    nz = rows != 0
    row_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(nz.sum(axis=1), out=row_ptr[1:])
    col_idx = np.nonzero(nz)[1].astype(np.int32)
    return Csr(row_ptr.astype(np.int32), col_idx, rows[nz].astype(np.float32), rows.shape[0],
               rows.shape[1])


def decompress_tiles(t: TileBitmaps) -> np.ndarray:
    """Dense ``[outer, C, inner]`` back from tile bitmaps (for round-trip checks)."""
    cb = t.tiles_per_position
    bits = ((t.bitmaps[:, None] >> np.arange(TILE, dtype=np.uint32)) & 1).astype(bool)
    dense = np.zeros((t.bitmaps.size, TILE), dtype=np.float32)
    dense[bits] = t.values[:t.nnz]
    dense = dense.reshape(t.outer, t.inner, cb * TILE)[:, :, :t.channels]
    return np.ascontiguousarray(dense.transpose(0, 2, 1))


def decompress_csr(m: Csr) -> np.ndarray:
    """Dense ``[rows, cols]`` back from CSR."""
    dense = np.zeros((m.rows, m.cols), dtype=np.float32)
    rows = np.repeat(np.arange(m.rows), np.diff(m.row_ptr))
    dense[rows, m.col_idx[:m.nnz]] = m.values[:m.nnz]
    return dense


# ---- the three passes, as the kernels compute them --------------------------------------


def _input_index(out_size: int, k: int, stride: int, pad: int, dil: int, size: int):
    pos = np.arange(out_size) * stride - pad + k * dil
    valid = (pos >= 0) & (pos < size)
    return pos, valid


def conv_forward(wt: TileBitmaps, at: TileBitmaps, weight_shape: tuple[int, ...],
                 input_hw: tuple[int, int], params: ConvParams = UNIT) -> np.ndarray:
    """``Y[N, O, OH, OW]`` (``[N, O]`` for a 2-d weight) from weight tile bitmaps (inner = KH*KW) and activation tile bitmaps
    (inner = H*W), intersecting the bitmaps exactly as ``forward_kernel``."""
    o_count, c, kh_count, kw_count = (tuple(weight_shape) + (1, 1))[:4]
    h, w = input_hw
    if wt.channels != c or at.channels != c or wt.inner != kh_count * kw_count \
            or at.inner != h * w or wt.outer != o_count:
        raise ConfigError("forward: weight and activation tiles do not match the shapes")
    n = at.outer
    oh, ow = params.output_size(h, w, kh_count, kw_count)
    cb_count = wt.tiles_per_position
    wbits = wt.bitmaps.reshape(o_count, kh_count * kw_count, cb_count)
    woffs = wt.offsets[:-1].reshape(wbits.shape).astype(np.int64)
    abits = at.bitmaps.reshape(n, h * w, cb_count)
    aoffs = at.offsets[:-1].reshape(abits.shape).astype(np.int64)
    acc = np.zeros((n, o_count, oh, ow), dtype=np.float32)
    (sh, sw), (ph, pw), (dh, dw) = params.stride, params.padding, params.dilation
    for kh in range(kh_count):
        iy, vy = _input_index(oh, kh, sh, ph, dh, h)
        for kw in range(kw_count):
            ix, vx = _input_index(ow, kw, sw, pw, dw, w)
            if not vy.any() or not vx.any():
                continue
            pix = (iy[vy][:, None] * w + ix[vx][None, :]).reshape(-1)  # valid output pixels
            k = kh * kw_count + kw
            region = acc[:, :, vy][:, :, :, vx]  # copy [N, O, oh', ow']
            flat = region.reshape(n, o_count, -1)
            for cb in range(cb_count):
                wb = wbits[:, k, cb][None, :, None]
                wo = woffs[:, k, cb][None, :, None]
                ab = abits[:, pix, cb][:, None, :]
                ao = aoffs[:, pix, cb][:, None, :]
                both = wb & ab
                if not both.any():
                    continue
                wb_b, ab_b = np.broadcast_arrays(wb, ab)
                wo_b, ao_b = np.broadcast_arrays(wo, ao)
                for b in range(TILE):
                    sel = ((both >> np.uint32(b)) & 1).astype(bool)
                    if not sel.any():
                        continue
                    below = np.uint32((1 << b) - 1)
                    wv = wt.values[wo_b[sel] + popcount(wb_b[sel] & below)]
                    av = at.values[ao_b[sel] + popcount(ab_b[sel] & below)]
                    flat[sel] += wv * av
            region = flat.reshape(region.shape)
            sub = acc[:, :, vy]
            sub[:, :, :, vx] = region
            acc[:, :, vy] = sub
    return acc.reshape(n, o_count) if len(weight_shape) == 2 else acc


def conv_backward_input(wt_csr: Csr, grad: np.ndarray, weight_shape: tuple[int, ...],
                        input_hw: tuple[int, int],
                        params: ConvParams = UNIT) -> np.ndarray:
    """``dX[N, C, H, W]`` (``[N, C]`` for a 2-d weight) from the transposed weight CSR (rows C, ``j = o*K + k``) and the
    dense output gradient ``[N, O, OH, OW]``, gathering in CSR order as
    ``backward_input_kernel``."""
    o_count, c, kh_count, kw_count = (tuple(weight_shape) + (1, 1))[:4]
    grad = as_nchw(grad)
    n, og, oh, ow = grad.shape
    h, w = input_hw
    k_count = kh_count * kw_count
    if og != o_count or wt_csr.rows != c or wt_csr.cols != o_count * k_count \
            or (oh, ow) != params.output_size(h, w, kh_count, kw_count):
        raise ConfigError("backward-input: weight CSR, gradient and input shape do not match")
    (sh, sw), (ph, pw), (dh, dw) = params.stride, params.padding, params.dilation
    dx = np.zeros((n, c, h, w), dtype=np.float32)
    ys, xs = np.arange(h), np.arange(w)
    for ch in range(c):
        for e in range(int(wt_csr.row_ptr[ch]), int(wt_csr.row_ptr[ch + 1])):
            j = int(wt_csr.col_idx[e])
            o, k = divmod(j, k_count)
            kh, kw = divmod(k, kw_count)
            ty, tx = ys + ph - kh * dh, xs + pw - kw * dw
            vy = (ty >= 0) & (ty % sh == 0) & (ty // sh < oh)
            vx = (tx >= 0) & (tx % sw == 0) & (tx // sw < ow)
            if not vy.any() or not vx.any():
                continue
            g = grad[:, o][:, ty[vy] // sh][:, :, tx[vx] // sw]
            region = dx[:, ch][:, vy][:, :, vx] + np.float32(wt_csr.values[e]) * g
            sub = dx[:, ch][:, vy]
            sub[:, :, vx] = region
            dx[:, ch, vy] = sub
    return dx.reshape(n, c) if len(weight_shape) == 2 else dx


def conv_backward_weight(grad: np.ndarray, at: TileBitmaps, weight_shape: tuple[int, ...],
                         input_hw: tuple[int, int],
                         params: ConvParams = UNIT) -> np.ndarray:
    """``dW`` of shape ``weight_shape`` from the dense output gradient and the saved activation's tile
    bitmaps, reducing over positions ``(n, oy, ox)`` in order as ``backward_weight_kernel``
    with ``splits = 1``."""
    o_count, c, kh_count, kw_count = (tuple(weight_shape) + (1, 1))[:4]
    grad = as_nchw(grad)
    n, og, oh, ow = grad.shape
    h, w = input_hw
    if og != o_count or at.channels != c or at.outer != n or at.inner != h * w \
            or (oh, ow) != params.output_size(h, w, kh_count, kw_count):
        raise ConfigError("backward-weight: gradient, activation tiles and shapes do not match")
    (sh, sw), (ph, pw), (dh, dw) = params.stride, params.padding, params.dilation
    cb_count = at.tiles_per_position
    abits = at.bitmaps.reshape(n, h * w, cb_count)
    aoffs = at.offsets[:-1].reshape(abits.shape).astype(np.int64)
    lanes = np.arange(cb_count * TILE)
    lane_cb, lane_b = lanes // TILE, (lanes % TILE).astype(np.uint32)
    below = ((np.uint32(1) << lane_b) - np.uint32(1)).astype(np.uint32)
    dwt = np.zeros((o_count, cb_count * TILE, kh_count * kw_count), dtype=np.float32)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                g = grad[b, :, oy, ox][:, None]
                for kh in range(kh_count):
                    iy = oy * sh - ph + kh * dh
                    if not 0 <= iy < h:
                        continue
                    for kw in range(kw_count):
                        ix = ox * sw - pw + kw * dw
                        if not 0 <= ix < w:
                            continue
                        p = iy * w + ix
                        ab = abits[b, p][lane_cb]
                        sel = ((ab >> lane_b) & 1).astype(bool)
                        if not sel.any():
                            continue
                        a = np.zeros(lanes.size, dtype=np.float32)
                        a[sel] = at.values[aoffs[b, p][lane_cb[sel]]
                                           + popcount(ab[sel] & below[sel])]
                        k = kh * kw_count + kw
                        dwt[:, :, k] += np.where(sel[None, :], a[None, :] * g, np.float32(0))
    return dwt[:, :c].reshape(tuple(weight_shape))


# ---- dense references (float64, direct convolution) -----------------------------------


def _taps(h: int, w: int, kh_count: int, kw_count: int, params: ConvParams):
    oh, ow = params.output_size(h, w, kh_count, kw_count)
    (sh, sw), (ph, pw), (dh, dw) = params.stride, params.padding, params.dilation
    for kh in range(kh_count):
        for kw in range(kw_count):
            ys = slice(kh * dh, kh * dh + sh * (oh - 1) + 1, sh)
            xs = slice(kw * dw, kw * dw + sw * (ow - 1) + 1, sw)
            yield kh, kw, ys, xs
    del ph, pw


def dense_conv2d(x: np.ndarray, w: np.ndarray, params: ConvParams = UNIT) -> np.ndarray:
    """Dense ``Y = conv2d(X, W)`` in float64 (``[N, C]`` / ``[O, C]`` give ``[N, O, 1, 1]``)."""
    x, w = as_nchw(x).astype(np.float64), as_nchw(w).astype(np.float64)
    (ph, pw) = params.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = params.output_size(x.shape[2], x.shape[3], w.shape[2], w.shape[3])
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for kh, kw, ys, xs in _taps(x.shape[2], x.shape[3], w.shape[2], w.shape[3], params):
        y += np.einsum("nchw,oc->nohw", xp[:, :, ys, xs], w[:, :, kh, kw], optimize=True)
    return y


def dense_conv2d_backward_input(grad: np.ndarray, w: np.ndarray, input_hw: tuple[int, int],
                                params: ConvParams = UNIT) -> np.ndarray:
    """Dense ``dX`` of ``conv2d`` in float64."""
    grad, w = as_nchw(grad).astype(np.float64), as_nchw(w).astype(np.float64)
    h, wd = input_hw
    (ph, pw) = params.padding
    dxp = np.zeros((grad.shape[0], w.shape[1], h + 2 * ph, wd + 2 * pw))
    for kh, kw, ys, xs in _taps(h, wd, w.shape[2], w.shape[3], params):
        dxp[:, :, ys, xs] += np.einsum("nohw,oc->nchw", grad, w[:, :, kh, kw], optimize=True)
    return dxp[:, :, ph:ph + h, pw:pw + wd]


def dense_conv2d_backward_weight(x: np.ndarray, grad: np.ndarray, kernel_hw: tuple[int, int],
                                 params: ConvParams = UNIT) -> np.ndarray:
    """Dense ``dW`` of ``conv2d`` in float64 (summed over batch and pixels)."""
    x, grad = as_nchw(x).astype(np.float64), as_nchw(grad).astype(np.float64)
    (ph, pw) = params.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dw = np.zeros((grad.shape[1], x.shape[1], *kernel_hw))
    for kh, kw, ys, xs in _taps(x.shape[2], x.shape[3], kernel_hw[0], kernel_hw[1], params):
        dw[:, :, kh, kw] = np.einsum("nohw,nchw->oc", grad, xp[:, :, ys, xs], optimize=True)
    return dw
