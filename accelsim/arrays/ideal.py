"""Ideal array model (``[array] kind = "ideal"``): the bound no design with the same peak beats.

``compute = ideal = ceil(effectual MACs / multipliers)`` per problem, ``base =
ceil(dense MACs / multipliers)``: every effectual product (both operands non-zero) and
nothing else, perfectly balanced.  No design with the same peak can be faster
(:func:`accelsim.spec.hardware.ideal_bound`).

Memory and energy as for the systolic array (:mod:`accelsim.arrays.systolic`): one block per
problem, but only the non-zero operands move (the ideal machine stores them compressed at no
cost, the source's non-zeros estimated from the lowered windows' density); energy counts each effectual product once at the price of one
bit-serial lane cycle (``serial_ops``: the least any modelled PE pays for a product, so the
ideal array's compute energy bounds every machine's from below) and each non-zero lowered
operand read once.  The base energy is that of the dense machine with the same multipliers.
"""

from __future__ import annotations

import numpy as np

from accelsim.arrays.base import GemmModel, Work
from accelsim.arrays.breakdown import CycleBreakdown, ProblemTiming
from accelsim.arrays.operands import count_effectual, dense_bytes
from accelsim.lowering.lower import LoweredProblem
from accelsim.numeric import ceil_div
from accelsim.pipeline.energy import AccessCounts
from accelsim.spec.hardware import Hardware

__all__ = ["IdealModel"]


def _ideal_timing(p: LoweredProblem, hw: Hardware, source: int | None,
                  key: object) -> ProblemTiming:
    bits, macs = hw.array.pe_bits, hw.ideal.multipliers
    f, x = p.filters != 0, p.windows != 0
    n_f, n_w, k = f.shape[0], x.shape[0], f.shape[1] * f.shape[2]
    effectual = count_effectual(f, x)
    dense = n_f * n_w * k
    compute = ceil_div(effectual, macs)
    breakdown = CycleBreakdown(ceil_div(dense, macs), compute, compute, effectual,
                               compute * macs)
    src = n_w * k if source is None else min(source, n_w * k)
    nnz_f, nnz_x = int(np.count_nonzero(f)), int(np.count_nonzero(x))
    nnz_src = ceil_div(src * nnz_x, x.size) if x.size else 0  # the source's non-zeros
    round_bytes, set_bytes, out_bytes = dense_bytes(np.array([n_f]), nnz_f, n_f,
                                                     np.array([n_w]), nnz_src, n_w, bits)
    nnz = nnz_f + nnz_x
    counts = AccessCounts(serial_ops=effectual, buffer_read_bits=nnz * bits,
                          buffer_write_bits=n_f * n_w * bits)
    base = AccessCounts(mac_ops=dense, buffer_read_bits=(f.size + x.size) * bits,
                        buffer_write_bits=n_f * n_w * bits)
    return ProblemTiming(breakdown, np.array([[compute]], np.int64), round_bytes, set_bytes,
                         out_bytes, counts, base, p.filters_key, key,
                         base_filter_bytes=ceil_div(n_f * k * bits, 8))


class IdealModel(GemmModel):
    """``[array] kind = "ideal"``: ``ceil(effectual MACs / multipliers)`` per problem."""

    kind = "ideal"
    name = "ideal"

    def problem_timing(self, work: Work, hw: Hardware) -> ProblemTiming:
        return _ideal_timing(work.problem, hw, work.source, work.key)
