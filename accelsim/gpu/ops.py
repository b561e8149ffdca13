"""Torch launchers of the Triton kernels (:mod:`accelsim.gpu.kernels`) for one layer.

:class:`SparseConv` holds a layer's host tables on the device and launches the kernels on
contiguous float32 tensors: NCHW activations ``[N, C, H, W]`` / weights ``[O, C/groups, KH,
KW]``, or a linear layer's ``[N, C]`` / ``[O, C]``.  Nothing synchronises.  On a CUDA device
the kernels are compiled by triton; with ``TRITON_INTERPRET=1`` (set before triton is
imported) they run on CPU tensors through triton's interpreter, which is how CI tests them.

Per training step the formats are rebuilt by kernels: the producer writes the activation and
its bitmap (:meth:`SparseConv.produce`), and weights are condensed after every optimizer step
(:meth:`SparseConv.condense`, :meth:`SparseConv.condense_tiles`).
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from typing import Any

from accelsim.gpu import GpuError
from accelsim.gpu.reference import UNIT, ConvParams, layer_tables

PRECISIONS = ("fp32", "tf32", "bf16")
#: Weight density at or above which the forward pass takes the dense-tile ``tl.dot`` path
#: instead of the CUDA-core sparse path, per precision.  Stated from peak-rate ratios of an
#: H100/H200 (fp32 FFMA 67 TFLOP/s; tf32 ~7x, bf16 ~15x that on tensor cores) times a guessed
#: 1/3 efficiency of the gathering sparse loop; not yet tuned on a GPU.
DENSE_TILE_DENSITY = {"fp32": 0.5, "tf32": 0.15, "bf16": 0.07}
PRODUCER_MODES = {"relu": 0, "topk": 1, "none": 2}


def interpreting() -> bool:
    """True when triton runs kernels through its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _torch():
    try:
        import torch
    except ImportError:
        raise GpuError("the GPU kernels need torch (pip install torch)") from None
    return torch


def require_cuda():
    """torch, after checking a CUDA device is usable (one-line GpuError otherwise)."""
    torch = _torch()
    if not torch.cuda.is_available():
        build = torch.version.cuda or "a CPU-only build"
        raise GpuError(f"no CUDA GPU available (torch {torch.__version__}, {build}); run on a "
                       "machine with an NVIDIA GPU, or set TRITON_INTERPRET=1 to run the "
                       "kernels on CPU through triton's interpreter")
    return torch


def default_device() -> str:
    """``"cpu"`` under the interpreter, else ``"cuda"`` (checked)."""
    if interpreting():
        _torch()
        return "cpu"
    require_cuda()
    return "cuda"


def _kernels():
    """accelsim.gpu.kernels, loaded on first use: it needs triton, an optional dependency
    (the module is imported by name so that importing ops never loads triton)."""
    try:
        kernels = importlib.import_module("accelsim.gpu.kernels")
    except ImportError as exc:
        raise GpuError(f"the GPU kernels need triton (pip install triton): {exc}") from None
    return kernels


def pick_path(weight_density: float, precision: str = "fp32") -> str:
    """``"tiles"`` (tensor-core / dense-tile path) or ``"sparse"`` (CUDA-core path)."""
    if precision not in PRECISIONS:
        raise GpuError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    return "tiles" if weight_density >= DENSE_TILE_DENSITY[precision] else "sparse"


@dataclass(frozen=True)
class Condensed:
    """Condensed rows (``cols``, ``vals``, ``count``; capacity ``cap``) or, with ``block_o``,
    condensed tiles (``vals`` is ``[blocks, cap, block_o]``)."""

    cols: Any
    vals: Any
    count: Any
    cap: int
    transposed: bool = False
    block_o: int = 0


@dataclass(frozen=True)
class Blocks:
    """Block sizes (powers of two; ``tile_*`` for the ``tl.dot`` path, each >= 16)."""

    q: int = 128
    e: int = 16
    word_block: int = 4
    condense_a: int = 32
    tile_q: int = 64
    tile_o: int = 32
    tile_k: int = 32


def _p2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class SparseConv:
    """One layer (weight shape, input shape, stride/padding/dilation/groups) on a device."""

    def __init__(self, weight_shape: tuple[int, ...], input_shape: tuple[int, ...],
                 params: ConvParams = UNIT, device: str | None = None,
                 blocks: Blocks = Blocks()) -> None:
        torch = _torch()
        self.k = _kernels()
        self.weight_shape, self.input_shape = tuple(weight_shape), tuple(input_shape)
        self.params, self.blocks = params, blocks
        self.device = device or default_device()
        tables = layer_tables(self.weight_shape, self.input_shape, params)
        self.d = tables.dims
        self.tab = {k: torch.from_numpy(v).to(self.device) for k, v in tables.arrays.items()}
        self.linear = bool(self.d["linear"])
        self._all_rows: Condensed | None = None

    # ---- views --------------------------------------------------------------------------
    @property
    def output_shape(self) -> tuple[int, ...]:
        d = self.d
        return (self.input_shape[0], d["O"]) if self.linear else (d["N"], d["O"], d["OH"], d["OW"])

    def _x_strides(self) -> tuple[int, int, int, int]:
        d = self.d
        if self.linear:
            return 0, 1, 0, d["C"]
        return d["C"] * d["P"], d["P"], d["W"], 1

    def _g_strides(self) -> tuple[int, int, int, int]:
        d = self.d
        if self.linear:
            return 0, 1, 0, d["O"]
        return d["O"] * d["Q"], d["Q"], d["OW"], 1

    def _check(self, t: Any, shape: tuple[int, ...], name: str) -> None:
        torch = _torch()
        if not isinstance(t, torch.Tensor) or t.dtype != torch.float32 or not t.is_contiguous():
            raise GpuError(f"{name} must be a contiguous float32 tensor")
        if tuple(t.shape) != tuple(shape):
            raise GpuError(f"{name} has shape {tuple(t.shape)}, the layer needs {tuple(shape)}")
        if str(t.device).split(":")[0] != self.device.split(":")[0]:
            raise GpuError(f"{name} is on {t.device}, the layer on {self.device}")

    # ---- formats (every training step) -------------------------------------------------
    def produce(self, x: Any, mode: str = "relu", threshold: float = 0.0) -> tuple[Any, Any]:
        """The producer step fused with the bitmap: ``(activation, bits)`` (``mode`` relu,
        topk with ``threshold``, or none: bitmap of ``x`` as it is, returned unchanged)."""
        torch = _torch()
        self._check(x, self.input_shape, "activation")
        if mode not in PRODUCER_MODES:
            raise GpuError(f"unknown producer mode {mode!r}; use relu, topk or none")
        d, bw = self.d, self.blocks.word_block
        y = x if mode == "none" else torch.empty_like(x)
        bits = torch.empty((d["N"], d["C"], d["WPP"]), dtype=torch.int32, device=x.device)
        s_n, s_c, _, s_p = self._x_strides()
        self.k.producer_bitmap_kernel[(triton_cdiv(d["WPP"], bw), d["C"], d["N"])](
            x, y, bits, float(threshold), d["C"], d["P"], d["WPP"], s_n, s_c, s_p,
            MODE=PRODUCER_MODES[mode], BLOCK_W=bw)
        return y, bits

    def condense(self, w: Any, transpose: bool = False) -> Condensed:
        """Condensed rows of the weight (per output channel, or per input channel)."""
        torch = _torch()
        self._check(w, self.weight_shape, "weight")
        d = self.d
        rows, a, s_a = (d["C"], d["Og"], d["Cg"] * d["KK"]) if transpose \
            else (d["O"], d["Cg"], d["KK"])
        pre = "t_" if transpose else ""
        cap = a * d["KK"]
        cols = torch.empty((rows, cap), dtype=torch.int32, device=w.device)
        vals = torch.empty((rows, cap), dtype=torch.float32, device=w.device)
        count = torch.empty(rows, dtype=torch.int32, device=w.device)
        ba = max(1, self.blocks.condense_a // _p2(d["KK"]))
        self.k.condense_rows_kernel[(rows,)](
            w, self.tab[pre + "row_base"], self.tab[pre + "col_base"], cols, vals, count, a,
            d["KK"], s_a, cap, BLOCK_A=_p2(ba), KKP=_p2(d["KK"]))
        return Condensed(cols, vals, count, cap, transpose)

    def condense_tiles(self, w: Any) -> Condensed:
        """Condensed tiles of ``blocks.tile_o`` output channels (the ``tl.dot`` operand)."""
        torch = _torch()
        self._check(w, self.weight_shape, "weight")
        d, bo = self.d, self.blocks.tile_o
        nb, ckk = triton_cdiv(d["O"], bo), d["C"] * d["KK"]
        ucols = torch.empty((nb, ckk), dtype=torch.int32, device=w.device)
        uvals = torch.empty((nb, ckk, bo), dtype=torch.float32, device=w.device)
        ucount = torch.empty(nb, dtype=torch.int32, device=w.device)
        self.k.condense_tiles_kernel[(nb,)](
            w, self.tab["row_base"], self.tab["col_first"], ucols, uvals, ucount, d["O"], ckk,
            d["Cg"] * d["KK"], ckk, BLOCK_O=bo, BLOCK_K=self.blocks.tile_k)
        return Condensed(ucols, uvals, ucount, ckk, False, bo)

    def all_rows(self) -> Condensed:
        """Condensed rows of every weight position (for a dense ``dW``; built once)."""
        if self._all_rows is None:
            torch = _torch()
            self._all_rows = self.condense(torch.ones(self.weight_shape, device=self.device))
        return self._all_rows

    # ---- the three passes --------------------------------------------------------------
    def forward(self, x: Any, bits: Any | None, weight: Condensed,
                precision: str = "fp32") -> Any:
        """``Y`` from the activation (its bitmap masks the loads when given) and condensed
        rows (CUDA-core path, fp32) or condensed tiles (``tl.dot`` path in ``precision``)."""
        torch = _torch()
        self._check(x, self.input_shape, "activation")
        if precision not in PRECISIONS:
            raise GpuError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
        if weight.transposed:
            raise GpuError("forward needs the weight condensed per output channel, not transposed")
        d, b, t = self.d, self.blocks, self.tab
        y = torch.empty(self.output_shape, dtype=torch.float32, device=x.device)
        use_bits = bits is not None
        bits = bits if use_bits else self.tab["q_y"]
        common = (t["tap_c"], t["tap_dy"], t["tap_dx"], t["q_y"], t["q_x"])
        s_yn, s_yo, _, s_yq = self._g_strides()
        if weight.block_o:
            grid = (triton_cdiv(d["Q"], b.tile_q), d["N"], triton_cdiv(d["O"], weight.block_o))
            self.k.forward_tiles_kernel[grid](
                x, bits, weight.cols, weight.vals, weight.count, y, *common, d["Q"], d["O"],
                d["H"], d["W"], d["C"], d["WPP"], weight.cap, *self._x_strides(), s_yn, s_yo,
                s_yq, PRECISION=PRECISIONS.index(precision), EMULATE_BF16=interpreting(),
                USE_BITS=use_bits, BLOCK_Q=b.tile_q, BLOCK_O=weight.block_o, BLOCK_K=b.tile_k)
            return y
        grid = (triton_cdiv(d["Q"], b.q), d["N"], d["O"])
        self.k.forward_sparse_kernel[grid](
            x, bits, weight.cols, weight.vals, weight.count, y, *common, d["Q"], d["H"], d["W"],
            d["C"], d["WPP"], weight.cap, *self._x_strides(), s_yn, s_yo, s_yq,
            USE_BITS=use_bits, BLOCK_Q=b.q, BLOCK_E=b.e)
        return y

    def backward_input(self, grad: Any, weight_t: Condensed, mask_bits: Any | None = None) -> Any:
        """``dX`` from the output gradient and the transposed condensed weight; with
        ``mask_bits`` (the saved activation's bitmap) ``dX * (X != 0)``, only those computed."""
        torch = _torch()
        self._check(grad, self.output_shape, "grad")
        if not weight_t.transposed:
            raise GpuError("backward-input needs the transposed condensed weight "
                           "(condense(w, transpose=True))")
        d, b, t = self.d, self.blocks, self.tab
        dx = torch.empty(self.input_shape, dtype=torch.float32, device=grad.device)
        use_mask = mask_bits is not None
        s_gn, s_go, s_gh, s_gw = self._g_strides()
        self.k.backward_input_kernel[(triton_cdiv(d["P"], b.q), d["N"], d["C"])](
            grad, weight_t.cols, weight_t.vals, weight_t.count,
            mask_bits if use_mask else t["p_y"], dx, t["tap_o"], t["tap_kh"], t["tap_kw"],
            t["y_of"], t["x_of"], t["p_y"], t["p_x"], d["P"], d["H"], d["W"], d["C"], d["WPP"],
            weight_t.cap, s_gn, s_go, s_gh, s_gw, *self._x_strides(), USE_MASK=use_mask,
            BLOCK_P=b.q, BLOCK_E=b.e)
        return dx

    def splits(self, weight_density: float = 1.0) -> tuple[int, int]:
        """``(sample_splits, pixel_splits)`` of backward-weight: about 4 programs per SM on a
        GPU; ``(1, 1)`` under the interpreter (programs run one after another there)."""
        d, b = self.d, self.blocks
        if interpreting():
            return 1, 1
        torch = require_cuda()
        sms = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
        active = d["O"] * max(1, math.ceil(weight_density * d["Cg"] * d["KK"] / b.e))
        want = max(1, math.ceil(4 * sms / active))
        ns = min(d["N"], want)
        qs = min(triton_cdiv(d["Q"], b.q), max(1, math.ceil(want / ns)))
        return ns, qs

    def backward_weight(self, x: Any, bits: Any | None, grad: Any,
                        rows: Condensed | None = None,
                        splits: tuple[int, int] | None = None) -> Any:
        """``dW`` (weight shape) at the entries of ``rows`` (SDDMM: the mask's gradients; zero
        elsewhere) or everywhere (``rows=None``), from the saved activation (its bitmap masks
        the loads when given) and the output gradient."""
        torch = _torch()
        self._check(x, self.input_shape, "activation")
        self._check(grad, self.output_shape, "grad")
        rows = rows if rows is not None else self.all_rows()
        if rows.transposed or rows.block_o:
            raise GpuError("backward-weight needs condensed rows per output channel")
        d, b, t = self.d, self.blocks, self.tab
        ns, qs = splits or self.splits()
        spl_n, spl_q = triton_cdiv(d["N"], ns), triton_cdiv(triton_cdiv(d["Q"], qs), b.q) * b.q
        ns, qs = triton_cdiv(d["N"], spl_n), triton_cdiv(d["Q"], spl_q)
        atomic = ns * qs > 1
        dw = torch.zeros(self.weight_shape, dtype=torch.float32, device=x.device)
        s_gn, s_go, _, s_gq = self._g_strides()
        use_bits = bits is not None
        self.k.backward_weight_kernel[(d["O"], triton_cdiv(rows.cap, b.e), ns * qs)](
            x, bits if use_bits else t["q_y"], grad, rows.cols, rows.count, dw, t["dw_base"],
            t["tap_c"], t["tap_dy"], t["tap_dx"], t["q_y"], t["q_x"], d["N"], d["Q"], d["H"],
            d["W"], d["C"], d["WPP"], rows.cap, spl_n, spl_q, qs, *self._x_strides(), s_gn,
            s_go, s_gq, USE_BITS=use_bits, ATOMIC=atomic, BLOCK_E=b.e, BLOCK_Q=b.q)
        return dw


def triton_cdiv(a: int, b: int) -> int:
    """``ceil(a / b)`` for grid sizes."""
    return -(-a // b)
