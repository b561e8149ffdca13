"""The one pass assembler: per-problem timings of any array model -> the pass's
:class:`~accelsim.arrays.breakdown.CycleBreakdown`.

It sums the problems, runs the memory pipeline (:mod:`accelsim.pipeline.memory`) over their
blocks for the stall cycles and the DRAM traffic, and prices the access counts of the machine
and of its dense baseline (:mod:`accelsim.pipeline.energy`).  The dense baseline loads each
operand once: each distinct filter array (``filters_key``) at its ``base_filter_bytes``, each
distinct window source (``window_key``) at its window-set bytes, and stores the same outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from accelsim.arrays.breakdown import ZERO, CycleBreakdown, ProblemTiming
from accelsim.pipeline.energy import AccessCounts, energy_parts
from accelsim.pipeline.memory import blocks_of, pass_memory
from accelsim.spec.hardware import Hardware

__all__ = ["assemble_pass"]


def _base_read_bytes(timings: Sequence[ProblemTiming]) -> int:
    """DRAM bytes the dense baseline loads: every distinct operand once."""
    seen: set = set()
    total = 0
    for i, t in enumerate(timings):
        fkey = ("f", t.filters_key)
        if fkey not in seen:
            seen.add(fkey)
            total += (int(t.round_bytes.sum()) if t.base_filter_bytes is None
                      else t.base_filter_bytes)
        wkey = ("w", i) if t.window_key is None else ("w", t.window_key)
        if wkey not in seen:
            seen.add(wkey)
            total += int(t.window_set_bytes.sum())
    return total


def assemble_pass(timings: Sequence[ProblemTiming], hw: Hardware, *,
                  self_baseline: bool = False) -> CycleBreakdown:
    """Cycles and energy of a whole pass from its problems' timings on ``hw``.

    ``self_baseline``: the machine is its own dense baseline (a systolic array), so the base
    energy is its own energy.  An empty pass is :data:`~accelsim.arrays.breakdown.ZERO`."""
    if not timings:
        return ZERO
    total = ZERO
    counts = base_counts = AccessCounts()
    for t in timings:
        total = total + t.breakdown
        counts = counts + t.counts
        base_counts = base_counts + t.base_counts
    mem = pass_memory(blocks_of(timings, hw), hw)
    counts = counts + AccessCounts(buffer_write_bits=8 * mem.dram_read_bytes,
                                   dram_bits=8 * (mem.dram_read_bytes + mem.dram_write_bytes))
    if self_baseline:
        base_counts = counts
    else:
        base_read = _base_read_bytes(timings)
        base_counts = base_counts + AccessCounts(
            buffer_write_bits=8 * base_read, dram_bits=8 * (base_read + mem.dram_write_bytes))
    parts = energy_parts(counts, hw)
    return CycleBreakdown(total.base_cycles, total.compute_cycles, total.ideal_cycles,
                          total.effectual_macs, total.pe_lane_cycles, mem.stall_cycles,
                          total.scheduled, sum(parts), sum(energy_parts(base_counts, hw)),
                          total.quantisation, parts)
