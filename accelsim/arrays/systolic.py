"""Systolic array model (``[array] kind = "systolic"``), SCALE-Sim v3's compute model.

Per problem, with ``(Sr, Sc, T)`` = (n_windows, n_filters, K) for ``"os"``, (K, n_filters,
n_windows) for ``"ws"`` and (K, n_windows, n_filters) for ``"is"``, ``folds =
ceil(Sr / H) * ceil(Sc / W)`` and fill/drain ``X = H + W - 2`` (os) or ``2H + W - 2``
(ws, is: H more cycles to shift the stationary operand in)::

    compat = "scalesim":  cycles = folds * (T + X) - 1
    compat = "pipelined": cycles = folds * max(T, H) + X - 1

``"scalesim"`` equals SCALE-Sim v3's compute cycles exactly (its
``compute/systolic_compute_{os,ws,is}.py`` demand matrices: every fold pays its own skew
and inter-fold gaps; no padding, so a SCALE-Sim layer matches ours with padding 0), e.g.
os: ``ceil(out_pixels / H) * ceil(out_channels / W) * (kh*kw*in + H + W - 2) - 1``.
SCALE-Sim counts the output windows of a strided layer as ``ceil((H - R) / stride) + 1``
per axis (it keeps the partial window at the edge: ResNet-50's conv1, 224 -> 110 rows for a
7x7 filter at stride 2, not 109), so with ``[systolic] output_size`` ``"scalesim"`` (the
default under ``compat = "scalesim"``) the forward problems of a convolution are timed with
that many windows per sample (:func:`scalesim_output_size`, H the padded input and R the
dilated kernel); the data and the backward passes (which SCALE-Sim does not model) are
unchanged.  ``"pipelined"`` overlaps consecutive folds (a fold occupies the array for its T streaming
cycles, at least H to swap the double-buffered stationary operand or outputs) and pays the
fill and drain once.  A systolic array is dense: base = compute (speedup 1);
``ideal = ceil(effectual / (H * W))``.

Memory and energy (:mod:`accelsim.pipeline.memory`, :mod:`accelsim.pipeline.energy`): every problem is cut into
blocks (systolic: folds -- filter folds outer; SCNN: output-channel groups; ideal: one block)
whose operand bytes are the dense operands (filters as lowered, windows' source elements,
``pe_bits`` each) and whose outputs are written back; ``[memory] kind = "dram"`` runs the same
SimPy pipeline as for Bit-Tactical.  Energy counts: systolic -- every MAC of every fold at
``pe_bits`` (no zero gating), the streamed operands read once per fold of the other operand,
the stationary one once, partial sums re-read and re-written once per reduction fold (ws, is);
SCNN -- every Cartesian product at ``pe_bits``, the F + I operands of every vector pair read
with their ``SCNN_INDEX_BITS``-bit zero-run indices (metadata), and an accumulator read and
write per kept product; ideal -- effectual MACs and each non-zero lowered operand read once.
The base energy is that of the dense machine with the same multipliers (systolic: itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from accelsim.arrays.base import GemmModel, Work
from accelsim.arrays.breakdown import CycleBreakdown, ProblemTiming
from accelsim.arrays.operands import count_effectual, dense_bytes, split_even
from accelsim.lowering.lower import LoweredProblem
from accelsim.numeric import ceil_div
from accelsim.pipeline.energy import AccessCounts
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware
from accelsim.spec.kind_sections import SystolicSpec

__all__ = ["SystolicModel", "SystolicWork", "scalesim_output_size", "systolic_problem_cycles"]


def scalesim_output_size(size: int, kernel: int, stride: int, padding: int = 0,
                         dilation: int = 1) -> int:
    """Output pixels along one axis as SCALE-Sim v3 counts them:
    ``ceil((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1`` (the partial
    window at the edge kept); ``floor`` instead of ``ceil`` is the layer's own size."""
    return ceil_div(size + 2 * padding - dilation * (kernel - 1) - 1, stride) + 1


@dataclass(frozen=True, eq=False)
class SystolicWork(Work):
    """A lowered problem timed with ``windows`` windows (SCALE-Sim's output size) instead of
    its own count when not None."""

    windows: int | None = None


def _scalesim_windows(geometry: LayerGeometry, tag: tuple) -> int | None:
    """Windows of a forward convolution problem under SCALE-Sim's output-size rule."""
    g = geometry
    if tag[0] != "forward" or g.kind != "conv":
        return None
    rows = scalesim_output_size(g.input_h, g.kernel_h, g.stride_h, g.padding_h, g.dilation_h)
    cols = scalesim_output_size(g.input_w, g.kernel_w, g.stride_w, g.padding_w, g.dilation_w)
    return (tag[2] - tag[1]) * rows * cols


def _systolic_shape(n_filters: int, n_windows: int, reduction: int,
                    spec: SystolicSpec) -> tuple[int, int, int, int]:
    """``(Sr, Sc, T, X)`` of a GEMM on the array (see the module docstring)."""
    h, w = spec.height, spec.width
    if spec.dataflow == "os":
        return n_windows, n_filters, reduction, h + w - 2
    if spec.dataflow == "ws":
        return reduction, n_filters, n_windows, 2 * h + w - 2
    return reduction, n_windows, n_filters, 2 * h + w - 2


def _fold_cycles(n_filters: int, n_windows: int, reduction: int,
                 spec: SystolicSpec) -> np.ndarray:
    """Cycles of every fold, ``[filter rounds, window sets]``-blocked for the memory model:
    os -> ``[ceil(F / W), ceil(n_windows / H)]`` (one fold per block); ws ->
    ``[ceil(F / W), 1]``; is -> ``[1, ceil(n_windows / W)]`` (the ``ceil(K / H)`` reduction
    folds of a block summed).  The cycles sum to :func:`systolic_problem_cycles`."""
    if min(n_filters, n_windows, reduction) == 0:
        return np.zeros((0, 0), np.int64)
    h, w = spec.height, spec.width
    sr, sc, t, x = _systolic_shape(n_filters, n_windows, reduction, spec)
    if spec.dataflow == "os":
        shape, per_block = (ceil_div(sc, w), ceil_div(sr, h)), 1
    elif spec.dataflow == "ws":
        shape, per_block = (ceil_div(sc, w), 1), ceil_div(sr, h)
    else:
        shape, per_block = (1, ceil_div(sc, w)), ceil_div(sr, h)
    if spec.compat == "scalesim":
        block = np.full(shape, per_block * (t + x), np.int64)
        block[-1, -1] -= 1
    else:
        block = np.full(shape, per_block * max(t, h), np.int64)
        block[0, 0] += x - 1
    return block


def systolic_problem_cycles(n_filters: int, n_windows: int, reduction: int,
                            spec: SystolicSpec) -> int:
    """Compute cycles of one GEMM (``n_filters`` x ``n_windows``, reduction length
    ``reduction``) on the systolic array, 0 for an empty one::

        folds = ceil(Sr / H) * ceil(Sc / W)
        scalesim:  folds * (T + X) - 1          pipelined: folds * max(T, H) + X - 1

    with (Sr, Sc, T, X) = (windows, filters, K, H+W-2) for os, (K, filters, windows, 2H+W-2)
    for ws and (K, windows, filters, 2H+W-2) for is."""
    if min(n_filters, n_windows, reduction) == 0:
        return 0
    h, w = spec.height, spec.width
    sr, sc, t, x = _systolic_shape(n_filters, n_windows, reduction, spec)
    folds = ceil_div(sr, h) * ceil_div(sc, w)
    if spec.compat == "scalesim":
        return folds * (t + x) - 1
    return folds * max(t, h) + x - 1


def _systolic_timing(p: LoweredProblem, hw: Hardware, source: int | None,
                     key: object, windows: int | None = None) -> ProblemTiming:
    spec, bits = hw.systolic, hw.array.pe_bits
    f, x = p.filters != 0, p.windows != 0
    n_f, k = f.shape[0], f.shape[1] * f.shape[2]
    n_w = x.shape[0] if windows is None else windows
    block = _fold_cycles(n_f, n_w, k, spec)
    compute = int(block.sum())
    effectual = count_effectual(f, x)
    macs = spec.multipliers
    breakdown = CycleBreakdown(compute, compute, ceil_div(effectual, macs), effectual,
                               compute * macs)
    rounds, sets = block.shape
    src = n_w * k if source is None else min(source, n_w * k)
    round_bytes, set_bytes, out_bytes = dense_bytes(split_even(n_f, rounds), n_f * k, n_f,
                                                     split_even(n_w, sets), src, n_w, bits)
    dense = n_f * n_w * k
    k_folds = ceil_div(k, spec.height)
    if spec.dataflow == "os":
        reads = n_w * k * ceil_div(n_f, spec.width) + n_f * k * ceil_div(n_w, spec.height)
        writes = n_f * n_w
    elif spec.dataflow == "ws":
        reads = n_f * k + n_w * k * ceil_div(n_f, spec.width) + n_f * n_w * (k_folds - 1)
        writes = n_f * n_w * k_folds
    else:
        reads = n_w * k + n_f * k * ceil_div(n_w, spec.width) + n_f * n_w * (k_folds - 1)
        writes = n_f * n_w * k_folds
    counts = AccessCounts(mac_ops=dense, buffer_read_bits=reads * bits,
                          buffer_write_bits=writes * bits)
    return ProblemTiming(breakdown, block, round_bytes, set_bytes, out_bytes, counts, counts,
                         p.filters_key, key)


class SystolicModel(GemmModel):
    """``[array] kind = "systolic"``: the GEMMs of a pass lowered with one lane, fold by fold;
    a dense machine, its own baseline."""

    kind = "systolic"
    name = "systolic"
    self_baseline = True

    def problems(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> Iterable[Work]:
        work = super().problems(geometry, pass_name, operands, hw)
        if not hw.systolic.scalesim_output_size:
            return work
        return (SystolicWork(w.problem, w.source, w.key,
                             windows=_scalesim_windows(geometry, w.problem.tag)) for w in work)

    def problem_timing(self, work: Work, hw: Hardware) -> ProblemTiming:
        windows = work.windows if isinstance(work, SystolicWork) else None
        return _systolic_timing(work.problem, hw, work.source, work.key, windows)
