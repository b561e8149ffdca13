"""Energy model: access counts x the per-access energies of ``[energy]``.  Pure functions.

Counts (per lowered problem, summed per pass; see :func:`accelsim.arrays.bittactical.problem_timing`):

``mac_bit_ops``
    Serial-bit multiply-accumulates.  Bit-parallel: every effectual product (both operands
    non-zero; zero operands are gated) is ``pe_bits`` of them.  TCLp: every active lane with a
    non-zero activation runs the step's cycles; TCLe: every term of an active lane is one.
    Dense baseline: every lane slot of every dense step at ``pe_bits``.
``buffer_read_bits``
    Operand bits read from the on-chip buffers into the array: the scheduled operand once per
    step for every set of the streamed operand (weights are re-read for each window set,
    ``pe_bits`` per slot), the streamed operand's dense lines once per set of the other.
``metadata_bits``
    The scheduler's multiplexer-select bits, ``ceil(log2(offsets + 1))`` per scheduled slot
    read (3 for T<2,5>); 0 for the dense front end.
``buffer_write_bits``
    Bits written into on-chip buffers: everything loaded from DRAM plus the outputs.
``dram_bits``
    Bits moved over the DRAM interface (loads and output stores; :mod:`accelsim.pipeline.memory`).

``energy_pj = sum(count x [energy] <count>_pj_per_bit)``; the defaults and their source are
documented on :class:`accelsim.spec.hardware.EnergySpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from accelsim.spec.sections import EnergySpec

__all__ = ["AccessCounts", "energy_pj"]


@dataclass(frozen=True)
class AccessCounts:
    """Counts of energy-bearing events, all in bits (``mac_bit_ops`` in serial-bit MACs)."""

    mac_bit_ops: int = 0
    buffer_read_bits: int = 0
    buffer_write_bits: int = 0
    dram_bits: int = 0
    metadata_bits: int = 0

    def __add__(self, other: AccessCounts) -> AccessCounts:
        return AccessCounts(*(getattr(self, f.name) + getattr(other, f.name)
                              for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def energy_pj(counts: AccessCounts, spec: EnergySpec) -> float:
    """Energy in pJ::

        mac_bit_ops * mac_pj_per_bit + buffer_read_bits * buffer_read_pj_per_bit
        + buffer_write_bits * buffer_write_pj_per_bit + dram_bits * dram_pj_per_bit
        + metadata_bits * metadata_pj_per_bit
    """
    return (counts.mac_bit_ops * spec.mac_pj_per_bit
            + counts.buffer_read_bits * spec.buffer_read_pj_per_bit
            + counts.buffer_write_bits * spec.buffer_write_pj_per_bit
            + counts.dram_bits * spec.dram_pj_per_bit
            + counts.metadata_bits * spec.metadata_pj_per_bit)
