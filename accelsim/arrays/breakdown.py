"""The records every array model produces: :class:`CycleBreakdown` (cycles and energy of a
pass, or of a sum of passes) and :class:`ProblemTiming` (one lowered problem, as the pass
assembler :func:`accelsim.arrays.assemble.assemble_pass` takes it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.pipeline.energy import ENERGY_PARTS, AccessCounts

__all__ = ["ZERO", "CycleBreakdown", "ProblemTiming"]


@dataclass(frozen=True)
class CycleBreakdown:
    """Cycles of one pass (or a sum of passes).  Cycles are array clock cycles."""

    base_cycles: int
    compute_cycles: int
    ideal_cycles: int
    effectual_macs: int
    pe_lane_cycles: int  # compute_cycles x PEs x lanes of the array
    stall_cycles: int = 0
    scheduled: str = ""
    energy_pj: float = 0.0       # pJ, this machine: the sum of energy_parts_pj
    base_energy_pj: float = 0.0  # pJ, its own dense twin: every slot at full width, dense
                                 # weights, each operand loaded once
    quantisation: str = ""       # rule that made the serial operand's magnitudes ("" none)
    energy_parts_pj: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)  # pJ, per ENERGY_PARTS

    @property
    def energy_breakdown_pj(self) -> dict[str, float]:
        """The energy in pJ per part (:data:`~accelsim.pipeline.energy.ENERGY_PARTS`:
        compute, frontend, buffers, dram)."""
        return dict(zip(ENERGY_PARTS, self.energy_parts_pj, strict=True))

    @property
    def energy_total_pj(self) -> float:
        """``sum(energy_breakdown_pj.values())`` exactly (pJ)."""
        return sum(self.energy_breakdown_pj.values())

    @property
    def total_cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def speedup(self) -> float:
        """base / (compute + stalls): the speedup over the machine's own dense twin (its
        ``speedup_vs_own_dense`` in reports); 1.0 for an empty pass."""
        return self.base_cycles / self.total_cycles if self.total_cycles else 1.0

    @property
    def exploited_sparsity(self) -> float:
        """(base - compute) / (base - ideal): the share of the skippable lines skipped."""
        room = self.base_cycles - self.ideal_cycles
        return (self.base_cycles - self.compute_cycles) / room if room > 0 else 0.0

    @property
    def energy_efficiency(self) -> float:
        """base_energy / energy: how many times less energy than the dense baseline."""
        return self.base_energy_pj / self.energy_pj if self.energy_pj else 1.0

    @property
    def pe_utilisation(self) -> float:
        """Effectual MACs / (compute cycles x PEs x lanes)."""
        return self.effectual_macs / self.pe_lane_cycles if self.pe_lane_cycles else 0.0

    def __add__(self, other: CycleBreakdown) -> CycleBreakdown:
        kinds = {self.scheduled, other.scheduled} - {""}
        scheduled = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")
        rules = {self.quantisation, other.quantisation} - {""}
        quantisation = rules.pop() if len(rules) == 1 else ("mixed" if rules else "")
        return CycleBreakdown(self.base_cycles + other.base_cycles,
                              self.compute_cycles + other.compute_cycles,
                              self.ideal_cycles + other.ideal_cycles,
                              self.effectual_macs + other.effectual_macs,
                              self.pe_lane_cycles + other.pe_lane_cycles,
                              self.stall_cycles + other.stall_cycles, scheduled,
                              self.energy_pj + other.energy_pj,
                              self.base_energy_pj + other.base_energy_pj, quantisation,
                              tuple(a + b for a, b in zip(self.energy_parts_pj,
                                                          other.energy_parts_pj, strict=True)))

    def to_dict(self) -> dict:
        """The machine's own figures as a dict (``speedup`` and ``energy_efficiency`` against
        its own dense twin, as a sweep store keeps them); ``"quantisation"`` only for a
        bit-serial pass.  Reports show :func:`accelsim.yardstick.pass_figures` instead."""
        extra = {"quantisation": self.quantisation} if self.quantisation else {}
        return {**extra, "base_cycles": self.base_cycles, "compute_cycles": self.compute_cycles,
                "ideal_cycles": self.ideal_cycles, "stall_cycles": self.stall_cycles,
                "speedup": self.speedup, "exploited_sparsity": self.exploited_sparsity,
                "pe_utilisation": self.pe_utilisation, "effectual_macs": self.effectual_macs,
                "scheduled": self.scheduled, "energy_pj": self.energy_pj,
                "base_energy_pj": self.base_energy_pj,
                "energy_efficiency": self.energy_efficiency}


ZERO = CycleBreakdown(0, 0, 0, 0, 0)


@dataclass(frozen=True, eq=False)
class ProblemTiming:
    """Everything the pass level needs about one lowered problem.

    ``block_cycles[round, window set]``: compute cycles of each block in processing order
    (filter rounds outer), summing to ``breakdown.compute_cycles``.  ``round_bytes`` /
    ``window_set_bytes``: bytes of each filter round as stored and of each window set's source
    data; ``out_bytes[round, window set]``: results written per block.  ``counts`` /
    ``base_counts``: on-chip access counts of this machine and of the dense baseline (no DRAM:
    the memory model adds it).  ``filters_key`` identifies the filter array (shared by the
    problems of a pass that use the same weights), ``window_key`` the source tensor behind the
    windows (shared e.g. by the kernel-tap problems of backward-weight); ``None``: this
    problem's own.  ``base_filter_bytes``: bytes of the filters as the dense baseline loads
    them (``None``: ``round_bytes.sum()``, the filters are stored dense already)."""

    breakdown: CycleBreakdown
    block_cycles: np.ndarray
    round_bytes: np.ndarray
    window_set_bytes: np.ndarray
    out_bytes: np.ndarray
    counts: AccessCounts = field(default_factory=AccessCounts)
    base_counts: AccessCounts = field(default_factory=AccessCounts)
    filters_key: object = 0
    window_key: object = None
    base_filter_bytes: int | None = None
