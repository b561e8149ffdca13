"""numpy twins of the Triton kernels' formats and per-layer tables, and float64 dense
references of the three passes (no torch, no triton).

Formats (see :mod:`accelsim.gpu.kernels` for the kernels that write and read them):

* **activation bitmap** ``bits[n, c, w]`` (int32 words holding uint32 bit patterns): bit
  ``b`` of word ``w`` set iff pixel ``32*w + b`` (row-major ``iy*W + ix``) of channel ``c``,
  sample ``n`` is non-zero; ``WPP = ceil(H*W / 32)`` words per plane.  A linear layer's
  ``[N, C]`` is one sample of ``C`` planes of ``1 x N`` pixels.
* **condensed rows** ``cols[R, cap]``, ``vals[R, cap]``, ``count[R]``: row ``r``'s first
  ``count[r]`` entries are its non-zeros in increasing column order (the rest unspecified;
  zero here).  Forward rows ``r = o``, column ``k = c*KK + kh*KW + kw`` (global ``c``);
  transposed rows ``r = c``, column ``j = o*KK + kh*KW + kw``.
* **condensed tiles** ``ucols[B, CKK]``, ``uvals[B, CKK, BLOCK_O]``, ``ucount[B]``: for block
  ``b`` of ``BLOCK_O`` output channels, the union of their non-zero columns (increasing) and
  the weights of the block's channels over it (zeros kept; 0 outside a channel's group).

Passes (``iy = oy*sh - ph + kh*dh``, ``ix = ox*sw - pw + kw*dw``; ``g(o)`` the group):
forward ``Y[n,o,oy,ox] = sum W[o,c',kh,kw] X[n,g(o)*Cg + c',iy,ix]``, backward-input its
transpose, backward-weight ``dW[o,c',kh,kw] = sum_{n,oy,ox} dY[n,o,oy,ox] X[n,...,iy,ix]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import ConfigError

WORD = 32


@dataclass(frozen=True)
class ConvParams:
    """Stride, padding and dilation ``(h, w)`` and groups of a convolution."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @classmethod
    def from_geometry(cls, g) -> ConvParams:
        """From an :class:`accelsim.spec.geometry.LayerGeometry`."""
        return cls((g.stride_h, g.stride_w), (g.padding_h, g.padding_w),
                   (g.dilation_h, g.dilation_w), g.groups)

    def output_size(self, h: int, w: int, kh: int, kw: int) -> tuple[int, int]:
        """``floor((size + 2*pad - dil*(k-1) - 1)/stride) + 1`` per axis."""
        oh = (h + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        ow = (w + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        if oh < 1 or ow < 1:
            raise ConfigError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input with padding "
                              f"{self.padding} and dilation {self.dilation}")
        return oh, ow


#: Stride 1, no padding, dilation 1, one group.
UNIT = ConvParams()


def as_nchw(x: np.ndarray) -> np.ndarray:
    """A linear layer's ``[N, C]`` as ``[N, C, 1, 1]``; 4-d arrays unchanged."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        return x[:, :, None, None]
    if x.ndim != 4:
        raise ConfigError(f"expected a [N, C] or [N, C, H, W] array, got shape {x.shape}")
    return x


def planes(x: np.ndarray) -> np.ndarray:
    """The ``[samples, channels, pixels]`` view the kernels use (linear: ``[1, C, N]``)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        return x.T[None]
    n, c, h, w = as_nchw(x).shape
    return x.reshape(n, c, h * w)


# ---- per-layer tables ------------------------------------------------------------------


@dataclass(frozen=True)
class LayerTables:
    """Host tables of one layer and input shape (int32 arrays; see the module docstring)."""

    dims: dict[str, int]
    arrays: dict[str, np.ndarray]


def layer_tables(weight_shape: tuple[int, ...], input_shape: tuple[int, ...],
                 params: ConvParams = UNIT) -> LayerTables:
    """Tables for a weight ``[O, Cg, KH, KW]`` (or ``[O, C]``) on an input ``[N, C, H, W]``
    (or ``[N, C]``: ``1 x N`` pixels of one sample)."""
    linear = len(weight_shape) == 2
    if linear and params != UNIT:
        raise ConfigError("a linear layer has no stride, padding, dilation or groups")
    o, cg, kh, kw = (tuple(weight_shape) + (1, 1))[:4]
    if linear:
        nb, c, h, w = 1, input_shape[1], 1, input_shape[0]
    else:
        nb, c, h, w = input_shape
    g = params.groups
    if o % g or c != cg * g:
        raise ConfigError(f"weight {tuple(weight_shape)} with {g} groups does not fit an input "
                          f"of {c} channels; the weight needs [O, C/groups, KH, KW], O % groups 0")
    oh, ow = params.output_size(h, w, kh, kw)
    (sh, sw), (ph, pw), (dh, dw) = params.stride, params.padding, params.dilation
    kk, og = kh * kw, o // g
    tap_kh, tap_kw = np.divmod(np.arange(kk), kw)
    cols = np.arange(c * kk)
    oy, ox = np.divmod(np.arange(oh * ow), ow)
    py, px = np.divmod(np.arange(h * w), w)

    def back(size, k_count, s, p, d, out):  # [k, size]: output index or -1
        t = np.arange(size)[None, :] + p - np.arange(k_count)[:, None] * d
        ok = (t >= 0) & (t % s == 0) & (t // s < out)
        return np.where(ok, t // s, -1)

    ro = np.arange(o)
    rc = np.arange(c)
    arrays = {
        "tap_c": cols // kk, "tap_dy": tap_kh[cols % kk] * dh - ph,
        "tap_dx": tap_kw[cols % kk] * dw - pw,
        "q_y": oy * sh, "q_x": ox * sw, "p_y": py, "p_x": px,
        "tap_o": np.arange(o * kk) // kk, "tap_kh": tap_kh[np.arange(o * kk) % kk],
        "tap_kw": tap_kw[np.arange(o * kk) % kk],
        "y_of": back(h, kh, sh, ph, dh, oh).reshape(-1),
        "x_of": back(w, kw, sw, pw, dw, ow).reshape(-1),
        "row_base": ro * cg * kk, "col_base": ro // og * cg,
        "col_first": ro // og * cg * kk, "dw_base": ro * cg * kk - ro // og * cg * kk,
        "t_row_base": rc // cg * og * cg * kk + rc % cg * kk, "t_col_base": rc // cg * og,
    }
    dims = {"N": nb, "C": c, "H": h, "W": w, "O": o, "Cg": cg, "Og": og, "KH": kh, "KW": kw,
            "KK": kk, "OH": oh, "OW": ow, "P": h * w, "Q": oh * ow,
            "WPP": -(-(h * w) // WORD), "linear": int(linear)}
    return LayerTables(dims, {k: np.ascontiguousarray(v, dtype=np.int32)
                              for k, v in arrays.items()})


# ---- formats ---------------------------------------------------------------------------


def producer(x: np.ndarray, mode: str = "relu", threshold: float = 0.0) -> np.ndarray:
    """What the producer kernel writes: ``relu(x)``, ``x * (|x| >= threshold)`` (topk) or
    ``x`` (none), float32."""
    x = np.asarray(x, dtype=np.float32)
    if mode == "relu":
        return np.maximum(x, np.float32(0))
    if mode == "topk":
        return np.where(np.abs(x) >= np.float32(threshold), x, np.float32(0))
    if mode == "none":
        return x.copy()
    raise ConfigError(f"unknown producer mode {mode!r}; use relu, topk or none")


def activation_bitmap(x: np.ndarray) -> np.ndarray:
    """int32 words ``[samples, C, WPP]`` of an activation (see the module docstring)."""
    pl = planes(x) != 0
    n, c, p = pl.shape
    wpp = -(-p // WORD)
    padded = np.zeros((n, c, wpp * WORD), dtype=np.uint64)
    padded[:, :, :p] = pl
    weights = np.uint64(1) << np.arange(WORD, dtype=np.uint64)
    words = (padded.reshape(n, c, wpp, WORD) * weights).sum(axis=-1, dtype=np.uint64)
    return words.astype(np.uint32).view(np.int32)


def _weight_rows(w: np.ndarray, t: LayerTables, transpose: bool) -> tuple[np.ndarray, np.ndarray]:
    """Dense rows ``[R, A*KK]`` of the weight and their global column ids."""
    d = t.dims
    w4 = as_nchw(w).reshape(d["O"], d["Cg"], d["KK"])
    if not transpose:
        ids = (t.arrays["col_base"][:, None] + np.arange(d["Cg"])[None, :])[:, :, None] \
            * d["KK"] + np.arange(d["KK"])
        return w4.reshape(d["O"], -1), ids.reshape(d["O"], -1)
    g = d["O"] // d["Og"]
    grouped = w4.reshape(g, d["Og"], d["Cg"], d["KK"]).transpose(0, 2, 1, 3)
    rows = grouped.reshape(d["C"], d["Og"] * d["KK"])
    ids = (t.arrays["t_col_base"][:, None] + np.arange(d["Og"])[None, :])[:, :, None] \
        * d["KK"] + np.arange(d["KK"])
    return rows, ids.reshape(d["C"], -1)


def condense_rows(w: np.ndarray, t: LayerTables, transpose: bool = False):
    """``(cols, vals, count)`` of the forward (rows O) or transposed (rows C) weight."""
    rows, ids = _weight_rows(w, t, transpose)
    nz = rows != 0
    count = nz.sum(axis=1).astype(np.int32)
    cols = np.zeros(rows.shape, dtype=np.int32)
    vals = np.zeros(rows.shape, dtype=np.float32)
    for r in range(rows.shape[0]):
        cols[r, :count[r]] = ids[r][nz[r]]
        vals[r, :count[r]] = rows[r][nz[r]]
    return cols, vals, count


def condense_tiles(w: np.ndarray, t: LayerTables, block_o: int):
    """``(ucols, uvals, ucount)`` of the weight in blocks of ``block_o`` output channels."""
    d = t.dims
    dense = np.zeros((-(-d["O"] // block_o) * block_o, d["C"] * d["KK"]), dtype=np.float32)
    rows, ids = _weight_rows(w, t, False)
    np.put_along_axis(dense[:d["O"]], ids.astype(np.int64), rows, axis=1)
    blocks = dense.reshape(-1, block_o, dense.shape[1]).transpose(0, 2, 1)  # [B, CKK, bo]
    used = (blocks != 0).any(axis=2)
    ucount = used.sum(axis=1).astype(np.int32)
    ucols = np.zeros(used.shape, dtype=np.int32)
    uvals = np.zeros(blocks.shape, dtype=np.float32)
    for b in range(blocks.shape[0]):
        ucols[b, :ucount[b]] = np.nonzero(used[b])[0]
        uvals[b, :ucount[b]] = blocks[b][used[b]]
    return ucols, uvals, ucount


# ---- float64 dense references ---------------------------------------------------------


def _taps(h: int, w: int, kh_count: int, kw_count: int, params: ConvParams):
    oh, ow = params.output_size(h, w, kh_count, kw_count)
    (sh, sw), (dh, dw) = params.stride, params.dilation
    for kh in range(kh_count):
        for kw in range(kw_count):
            yield (kh, kw, slice(kh * dh, kh * dh + sh * (oh - 1) + 1, sh),
                   slice(kw * dw, kw * dw + sw * (ow - 1) + 1, sw))


def _split(a: np.ndarray, axis: int, groups: int) -> list[np.ndarray]:
    return np.split(a, groups, axis=axis)


def dense_conv2d(x: np.ndarray, w: np.ndarray, params: ConvParams = UNIT) -> np.ndarray:
    """Dense ``Y = conv2d(X, W)`` in float64 (``[N, C]`` / ``[O, C]`` give ``[N, O, 1, 1]``)."""
    x, w = as_nchw(x).astype(np.float64), as_nchw(w).astype(np.float64)
    (ph, pw) = params.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = params.output_size(x.shape[2], x.shape[3], w.shape[2], w.shape[3])
    outs = []
    for xg, wg in zip(_split(xp, 1, params.groups), _split(w, 0, params.groups), strict=True):
        y = np.zeros((x.shape[0], wg.shape[0], oh, ow))
        for kh, kw, ys, xs in _taps(x.shape[2], x.shape[3], w.shape[2], w.shape[3], params):
            y += np.einsum("nchw,oc->nohw", xg[:, :, ys, xs], wg[:, :, kh, kw], optimize=True)
        outs.append(y)
    return np.concatenate(outs, axis=1)


def dense_conv2d_backward_input(grad: np.ndarray, w: np.ndarray, input_hw: tuple[int, int],
                                params: ConvParams = UNIT) -> np.ndarray:
    """Dense ``dX`` of ``conv2d`` in float64."""
    grad, w = as_nchw(grad).astype(np.float64), as_nchw(w).astype(np.float64)
    h, wd = input_hw
    (ph, pw) = params.padding
    outs = []
    for gg, wg in zip(_split(grad, 1, params.groups), _split(w, 0, params.groups), strict=True):
        dxp = np.zeros((grad.shape[0], w.shape[1], h + 2 * ph, wd + 2 * pw))
        for kh, kw, ys, xs in _taps(h, wd, w.shape[2], w.shape[3], params):
            dxp[:, :, ys, xs] += np.einsum("nohw,oc->nchw", gg, wg[:, :, kh, kw], optimize=True)
        outs.append(dxp[:, :, ph:ph + h, pw:pw + wd])
    return np.concatenate(outs, axis=1)


def dense_conv2d_backward_weight(x: np.ndarray, grad: np.ndarray, kernel_hw: tuple[int, int],
                                 params: ConvParams = UNIT) -> np.ndarray:
    """Dense ``dW`` of ``conv2d`` in float64 (summed over batch and pixels)."""
    x, grad = as_nchw(x).astype(np.float64), as_nchw(grad).astype(np.float64)
    (ph, pw) = params.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    outs = []
    for xg, gg in zip(_split(xp, 1, params.groups), _split(grad, 1, params.groups), strict=True):
        dw = np.zeros((gg.shape[1], xg.shape[1], *kernel_hw))
        for kh, kw, ys, xs in _taps(x.shape[2], x.shape[3], kernel_hw[0], kernel_hw[1], params):
            dw[:, :, kh, kw] = np.einsum("nohw,nchw->oc", gg, xg[:, :, ys, xs], optimize=True)
        outs.append(dw)
    return np.concatenate(outs, axis=0)
