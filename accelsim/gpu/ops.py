"""Torch wrappers of the sparse CUDA kernels (formats: :mod:`accelsim.gpu.reference`).

Every function takes contiguous float32 CUDA tensors, enqueues the launcher on
``torch.cuda.current_stream()`` and returns without synchronising.  Value buffers are sized for
the dense upper bound, so compression never waits for the device to learn ``nnz``
(``GpuTiles.nnz()`` / ``GpuCsr.nnz()`` synchronise when asked).  Linear layers pass ``[N, C]``
activations / ``[O, C]`` weights (a 1x1 convolution of a 1x1 image).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from accelsim.gpu import GpuError
from accelsim.gpu.reference import TILE, UNIT, ConvParams, Csr, TileBitmaps

_LIB: ctypes.CDLL | None = None


def _torch():
    try:
        import torch
    except ImportError:
        raise GpuError("the GPU kernels need torch with CUDA (pip install torch)") from None
    return torch


def require_cuda():
    """torch, after checking a CUDA device is usable (one-line GpuError otherwise)."""
    torch = _torch()
    if not torch.cuda.is_available():
        build = torch.version.cuda or "a CPU-only build"
        raise GpuError(f"no CUDA GPU available (torch {torch.__version__}, {build}); run on a "
                       "machine with an NVIDIA GPU and a CUDA build of torch")
    return torch


def library() -> ctypes.CDLL:
    """The compiled kernels for the current GPU (built on first use, cached on disk)."""
    global _LIB
    if _LIB is None:
        require_cuda()
        from accelsim.gpu.build import load_library

        _LIB = load_library()
    return _LIB


def _stream() -> int:
    return int(_torch().cuda.current_stream().cuda_stream)


def _check(t: Any, name: str, ndims: tuple[int, ...] = (2, 4)) -> None:
    torch = _torch()
    if not isinstance(t, torch.Tensor) or not t.is_cuda:
        raise GpuError(f"{name} must be a CUDA tensor")
    if t.dtype != torch.float32:
        raise GpuError(f"{name} must be float32, not {t.dtype}")
    if not t.is_contiguous():
        raise GpuError(f"{name} must be contiguous (call .contiguous())")
    if t.dim() not in ndims:
        raise GpuError(f"{name} has {t.dim()} dimensions, expected {' or '.join(map(str, ndims))}")
    if t.numel() >= 2**31:
        raise GpuError(f"{name} has {t.numel()} elements; the int32 offsets need < 2**31")


def _call(fn_name: str, *args: Any) -> None:
    lib = library()
    code = getattr(lib, fn_name)(*args)
    if code:
        msg = lib.accelsim_error_string(code).decode()
        raise GpuError(f"{fn_name} failed: CUDA error {code} ({msg})")


def _shape4(t: Any) -> tuple[int, int, int, int]:
    s = tuple(t.shape)
    return (s[0], s[1], 1, 1) if len(s) == 2 else s  # type: ignore[return-value]


@dataclass(frozen=True)
class GpuTiles:
    """Tile bitmaps on the GPU: ``bitmaps`` (int32 tensor holding the uint32 words),
    ``offsets`` (int32, T+1), ``values`` (float32, capacity >= nnz)."""

    bitmaps: Any
    offsets: Any
    values: Any
    outer: int
    channels: int
    inner: int

    def nnz(self) -> int:
        """Non-zeros (synchronises)."""
        return int(self.offsets[-1].item())

    def to_reference(self) -> TileBitmaps:
        """Copy to a numpy :class:`TileBitmaps` (values trimmed to nnz)."""
        nnz = self.nnz()
        return TileBitmaps(self.bitmaps.cpu().numpy().view("uint32"),
                           self.offsets.cpu().numpy(), self.values[:nnz].cpu().numpy(),
                           self.outer, self.channels, self.inner)


@dataclass(frozen=True)
class GpuCsr:
    """CSR rows on the GPU: ``row_ptr`` (int32, rows+1), ``col_idx`` (int32), ``values``
    (float32); capacity >= nnz."""

    row_ptr: Any
    col_idx: Any
    values: Any
    rows: int
    cols: int

    def nnz(self) -> int:
        """Non-zeros (synchronises)."""
        return int(self.row_ptr[-1].item())

    def to_reference(self) -> Csr:
        nnz = self.nnz()
        return Csr(self.row_ptr.cpu().numpy(), self.col_idx[:nnz].cpu().numpy(),
                   self.values[:nnz].cpu().numpy(), self.rows, self.cols)


def _workspace(n: int) -> Any:
    torch = _torch()
    ints = int(library().accelsim_scan_workspace_ints(n))
    return torch.empty(ints, dtype=torch.int32, device="cuda")


def compress_tiles(x: Any, outer: int, channels: int, inner: int,
                   strides: tuple[int, int, int]) -> GpuTiles:
    """Tile bitmaps of ``x`` viewed as ``[outer, channels, inner]`` with element strides
    ``(so, sc, si)`` (count, scan, write: 4-5 launches)."""
    torch = _torch()
    cb = -(-channels // TILE)
    tiles = outer * inner * cb
    bitmaps = torch.empty(tiles, dtype=torch.int32, device=x.device)
    offsets = torch.empty(tiles + 1, dtype=torch.int32, device=x.device)
    values = torch.empty(max(x.numel(), 1), dtype=torch.float32, device=x.device)
    ws = _workspace(tiles + 1)
    _call("accelsim_compress_tiles", x.data_ptr(), outer, channels, inner, *strides,
          bitmaps.data_ptr(), offsets.data_ptr(), values.data_ptr(), ws.data_ptr(), _stream())
    return GpuTiles(bitmaps, offsets, values, outer, channels, inner)


def compress_activation(x: Any, layout: str = "nchw") -> GpuTiles:
    """Tile bitmaps of an activation ``[N, C, H, W]`` (``layout="nhwc"``: ``[N, H, W, C]``) or
    ``[N, C]``: tiles ``(n, pixel, cb)``, identical for both layouts."""
    _check(x, "activation")
    if layout not in ("nchw", "nhwc"):
        raise GpuError(f"unknown activation layout {layout!r}; use nchw or nhwc")
    if x.dim() == 4 and layout == "nhwc":
        n, h, w, c = x.shape
        return compress_tiles(x, n, c, h * w, (h * w * c, 1, c))
    n, c, h, w = _shape4(x)
    return compress_tiles(x, n, c, h * w, (c * h * w, h * w, 1))


def compress_weight_tiles(w: Any) -> GpuTiles:
    """Tile bitmaps of a weight ``[O, C, KH, KW]`` / ``[O, C]`` (tiles ``(o, k, cb)``)."""
    _check(w, "weight")
    o, c, kh, kw = _shape4(w)
    return compress_tiles(w, o, c, kh * kw, (c * kh * kw, kh * kw, 1))


def compress_weight_csr(w: Any, transpose: bool = False) -> GpuCsr:
    """CSR of a weight per output channel (``j = c*K + k``) or, with ``transpose``, per input
    channel (``j = o*K + k``), one warp per row."""
    torch = _torch()
    _check(w, "weight")
    o, c, kh, kw = _shape4(w)
    k = kh * kw
    if transpose:
        rows, a_count, strides = c, o, (k, c * k, 1)
    else:
        rows, a_count, strides = o, c, (c * k, k, 1)
    row_ptr = torch.empty(rows + 1, dtype=torch.int32, device=w.device)
    col_idx = torch.empty(max(w.numel(), 1), dtype=torch.int32, device=w.device)
    values = torch.empty(max(w.numel(), 1), dtype=torch.float32, device=w.device)
    ws = _workspace(rows + 1)
    _call("accelsim_compress_csr", w.data_ptr(), rows, a_count, k, *strides, row_ptr.data_ptr(),
          col_idx.data_ptr(), values.data_ptr(), ws.data_ptr(), _stream())
    return GpuCsr(row_ptr, col_idx, values, rows, a_count * k)


def _geometry(weight_shape: tuple[int, ...], n: int, input_hw: tuple[int, int],
              params: ConvParams) -> list[int]:
    o, c, kh, kw = (tuple(weight_shape) + (1, 1))[:4]
    h, w = input_hw
    oh, ow = params.output_size(h, w, kh, kw)
    return [n, c, h, w, o, kh, kw, oh, ow, *params.stride, *params.padding, *params.dilation]


def conv_forward(wt: GpuTiles, at: GpuTiles, weight_shape: tuple[int, ...],
                 input_hw: tuple[int, int], params: ConvParams = UNIT) -> Any:
    """``Y[N, O, OH, OW]`` (``[N, O]`` for a 2-d weight) = sparse W x sparse X."""
    torch = _torch()
    geo = _geometry(weight_shape, at.outer, input_hw, params)
    n, c, h, w, o, kh, kw, oh, ow = geo[:9]
    if wt.channels != c or at.channels != c or wt.outer != o or wt.inner != kh * kw \
            or at.inner != h * w:
        raise GpuError(f"forward: weight tiles ({wt.outer}x{wt.channels}x{wt.inner}) and "
                       f"activation tiles ({at.outer}x{at.channels}x{at.inner}) do not fit "
                       f"weight {tuple(weight_shape)} and input {h}x{w}")
    y = torch.empty((n, o, oh, ow), dtype=torch.float32, device=at.values.device)
    _call("accelsim_conv_forward", *geo, wt.bitmaps.data_ptr(), wt.offsets.data_ptr(),
          wt.values.data_ptr(), at.bitmaps.data_ptr(), at.offsets.data_ptr(),
          at.values.data_ptr(), y.data_ptr(), _stream())
    return y.view(n, o) if len(weight_shape) == 2 else y


def conv_backward_input(wt_csr: GpuCsr, grad: Any, weight_shape: tuple[int, ...],
                        input_hw: tuple[int, int], params: ConvParams = UNIT) -> Any:
    """``dX[N, C, H, W]`` (``[N, C]`` for a 2-d weight) = sparse W^T x dense dY, from the
    transposed CSR (``compress_weight_csr(w, transpose=True)``)."""
    torch = _torch()
    _check(grad, "grad")
    geo = _geometry(weight_shape, grad.shape[0], input_hw, params)
    n, c, h, w, o, kh, kw, oh, ow = geo[:9]
    if _shape4(grad) != (n, o, oh, ow) or wt_csr.rows != c or wt_csr.cols != o * kh * kw:
        raise GpuError(f"backward-input: gradient {tuple(grad.shape)} or transposed CSR "
                       f"({wt_csr.rows}x{wt_csr.cols}) does not fit weight "
                       f"{tuple(weight_shape)} and input {h}x{w}")
    dx = torch.empty((n, c, h, w), dtype=torch.float32, device=grad.device)
    _call("accelsim_conv_backward_input", *geo, wt_csr.row_ptr.data_ptr(),
          wt_csr.col_idx.data_ptr(), wt_csr.values.data_ptr(), grad.data_ptr(), dx.data_ptr(),
          _stream())
    return dx.view(n, c) if len(weight_shape) == 2 else dx


def default_splits(weight_shape: tuple[int, ...], positions: int) -> int:
    """Position splits of backward-weight: enough blocks for ~4 waves on the GPU, each split
    at least 256 positions long."""
    torch = _torch()
    o, c, kh, kw = (tuple(weight_shape) + (1, 1))[:4]
    threads = o * kh * kw * -(-c // TILE) * TILE
    blocks = -(-threads // 256)
    sms = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    want = max(1, -(-4 * sms // blocks))
    return int(max(1, min(want, positions // 256, 65535)))


def conv_backward_weight(grad: Any, at: GpuTiles, weight_shape: tuple[int, ...],
                         input_hw: tuple[int, int], params: ConvParams = UNIT,
                         splits: int | None = None) -> Any:
    """``dW`` of shape ``weight_shape`` = dense dY x sparse saved X, reduced over batch and
    pixels (``splits`` position ranges, atomics when > 1; default :func:`default_splits`)."""
    torch = _torch()
    _check(grad, "grad")
    geo = _geometry(weight_shape, grad.shape[0], input_hw, params)
    n, c, h, w, o, kh, kw, oh, ow = geo[:9]
    if _shape4(grad) != (n, o, oh, ow) or at.channels != c or at.outer != n \
            or at.inner != h * w:
        raise GpuError(f"backward-weight: gradient {tuple(grad.shape)} or activation tiles "
                       f"({at.outer}x{at.channels}x{at.inner}) do not fit weight "
                       f"{tuple(weight_shape)} and input {h}x{w}")
    if splits is None:
        splits = default_splits(weight_shape, n * oh * ow)
    dw = torch.empty(tuple(weight_shape), dtype=torch.float32, device=grad.device)
    _call("accelsim_conv_backward_weight", *geo, at.bitmaps.data_ptr(), at.offsets.data_ptr(),
          at.values.data_ptr(), grad.data_ptr(), dw.data_ptr(), int(splits), _stream())
    return dw
