"""The one energy model: access counts x the per-event energies of the machine's technology
table (:mod:`accelsim.spec.technology`, selected by ``[energy] technology``).  Pure functions.

Every array model (:mod:`accelsim.arrays`) counts the same events, so every machine -- the
design, its reference, the ideal bound -- goes through the same accounting:

``mac_ops`` (compute)
    Bit-parallel products performed, each a ``pe_bits`` x ``pe_bits`` multiplier and its
    share of the adder tree (:meth:`~accelsim.spec.technology.Technology.mac`).  A product
    whose operand was skipped by a front end (a zero never sent to a lane) is not performed.
``serial_ops`` (compute)
    Bit-serial lane cycles, each ``pe_bits`` AND gates and an adder-tree share
    (:meth:`~accelsim.spec.technology.Technology.serial_lane`): TCLp one per activation bit
    of an active lane, TCLe one per term.  The ideal array counts one per effectual product:
    the least any modelled PE pays for a product.
``shift_bits`` (compute)
    Bits passing one 2:1 stage of TCLe's term shifter (``pe_bits x bits_first_stage`` per
    term).
``mux_bits`` (front end)
    Bits passing one 2:1 stage of a front-end multiplexer: the TCL (offsets + 1)-input
    multiplexers (``ceil(log2(offsets + 1))`` stages per selection), SCNN's crossbar.
``metadata_bits`` (front end)
    Scheduler multiplexer-select bits and SCNN's coordinate indices read from SRAM.
``buffer_read_bits`` / ``buffer_write_bits`` (buffers)
    Operand bits read from the on-chip buffers; bits written into them (DRAM loads, outputs).
``dram_bits`` (dram)
    Bits moved over the DRAM interface (:mod:`accelsim.pipeline.memory`).

:func:`energy_parts` prices the counts into the parts of :data:`ENERGY_PARTS` (pJ); the total
energy is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from accelsim.spec.hardware import Hardware
from accelsim.spec.technology import load_technology

__all__ = ["ENERGY_PARTS", "AccessCounts", "energy_parts"]

ENERGY_PARTS = ("compute", "frontend", "buffers", "dram")
"""The parts of a machine's energy, in the order of ``CycleBreakdown.energy_parts_pj``."""


@dataclass(frozen=True)
class AccessCounts:
    """Counts of energy-bearing events (see the module docstring); operations or bits."""

    mac_ops: int = 0
    serial_ops: int = 0
    shift_bits: int = 0
    mux_bits: int = 0
    metadata_bits: int = 0
    buffer_read_bits: int = 0
    buffer_write_bits: int = 0
    dram_bits: int = 0

    def __add__(self, other: AccessCounts) -> AccessCounts:
        return AccessCounts(*(getattr(self, f.name) + getattr(other, f.name)
                              for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def energy_parts(counts: AccessCounts, hw: Hardware) -> tuple[float, float, float, float]:
    """(compute, front end, buffers, DRAM) energy in pJ of ``counts`` on ``hw``::

        compute  = mac_ops x mac(pe_bits) + serial_ops x serial_lane(pe_bits)
                   + shift_bits x mux_energy_pj_per_bit
        frontend = mux_bits x mux_energy_pj_per_bit + metadata_bits x sram_read_pj_per_bit
        buffers  = buffer_read_bits x sram_read_pj_per_bit
                   + buffer_write_bits x sram_write_pj_per_bit
        dram     = dram_bits x dram_energy_pj_per_bit
    """
    tech = load_technology(hw.energy.technology)
    bits = hw.array.pe_bits
    compute = (counts.mac_ops * tech.mac(bits)[0] + counts.serial_ops * tech.serial_lane(bits)[0]
               + counts.shift_bits * tech.mux_energy_pj_per_bit)
    frontend = (counts.mux_bits * tech.mux_energy_pj_per_bit
                + counts.metadata_bits * tech.sram_read_pj_per_bit)
    buffers = (counts.buffer_read_bits * tech.sram_read_pj_per_bit
               + counts.buffer_write_bits * tech.sram_write_pj_per_bit)
    return float(compute), float(frontend), float(buffers), float(counts.dram_bits
                                                                  * tech.dram_energy_pj_per_bit)
