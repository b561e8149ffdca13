"""The area model: a machine's silicon area from its description and its technology table
(:mod:`accelsim.spec.technology`), per part (:data:`AREA_PARTS`), in mm2.  Pure functions.

``compute``
    The PE lanes: bit-parallel lanes (Bit-Tactical with the bit-parallel back end, the
    systolic array, SCNN's multipliers, the ideal array's multipliers) are
    :meth:`~accelsim.spec.technology.Technology.mac` each; bit-serial lanes (TCLp, TCLe) are
    :meth:`~accelsim.spec.technology.Technology.serial_lane`, TCLe's with its term shifter
    (``pe_bits x bits_first_stage`` 2:1 mux cells).
``frontend``
    Bit-Tactical's TCL multiplexers: one ``(offsets + 1)``-input multiplexer per lane of every
    PE, as wide as the value it selects (:func:`mux_width`), so it
    grows with lookahead and lookaside; none for the dense front end.  SCNN's crossbar: per PE,
    one ``F x I``-input multiplexer of ``2 pe_bits`` bits per accumulator bank.
``buffers``
    The on-chip weight and activation buffers (``[memory] *_buffer_bytes``) as SRAM.

A k-input, b-bit multiplexer is ``(k - 1) x b`` 2:1 cells.  The ideal array is a bound, not a
design: its area is that of its multipliers as bit-parallel lanes, with the same buffers.
"""

from __future__ import annotations

from accelsim.spec.hardware import Hardware
from accelsim.spec.technology import load_technology

__all__ = ["AREA_PARTS", "area_breakdown_mm2", "area_mm2", "mux_width"]

AREA_PARTS = ("compute", "frontend", "buffers")
UM2_PER_MM2 = 1e6


def mux_width(hw: Hardware) -> int:
    """Bits of the operand a TCL multiplexer selects: the full value (bit-parallel), one bit
    (TCLp: activations stream bit-serially), or a term (TCLe: its power of two and sign,
    ``ceil(log2 pe_bits) + 1`` bits)."""
    bits = hw.array.pe_bits
    return {"bit-parallel": bits, "tclp": 1}.get(hw.backend.kind,
                                                 max(bits - 1, 1).bit_length() + 1)


def _lanes_um2(hw: Hardware) -> tuple[float, float]:
    """(compute, front end) area in um2 of the PE array."""
    tech, bits, kind = load_technology(hw.energy.technology), hw.array.pe_bits, hw.array.kind
    if kind == "bit-tactical":
        lanes = hw.array.macs_per_cycle
        if hw.backend.serial:
            lane = tech.serial_lane(bits)[1]
            if hw.backend.kind == "tcle":
                lane += bits * hw.backend.bits_first_stage * tech.mux_area_um2_per_bit
        else:
            lane = tech.mac(bits)[1]
        inputs = len(hw.frontend.offsets()) + 1 if hw.frontend.kind != "dense" else 1
        mux = lanes * (inputs - 1) * mux_width(hw) * tech.mux_area_um2_per_bit
        return lanes * lane, mux
    compute = hw.multipliers * tech.mac(bits)[1]
    if kind == "scnn":
        s = hw.scnn
        cells = s.accumulator_banks * (s.weights_per_cycle * s.activations_per_cycle - 1) * 2 * bits
        return compute, s.pes * cells * tech.mux_area_um2_per_bit
    return compute, 0.0


def area_breakdown_mm2(hw: Hardware) -> dict[str, float]:
    """The area of ``hw`` in mm2 per part of :data:`AREA_PARTS`."""
    tech = load_technology(hw.energy.technology)
    compute, frontend = _lanes_um2(hw)
    kib = (hw.memory.weight_buffer_bytes + hw.memory.activation_buffer_bytes) / 1024
    return {"compute": compute / UM2_PER_MM2, "frontend": frontend / UM2_PER_MM2,
            "buffers": kib * tech.sram_area_mm2_per_kib}


def area_mm2(hw: Hardware) -> float:
    """The area of ``hw`` in mm2: ``sum(area_breakdown_mm2(hw).values())`` exactly."""
    return sum(area_breakdown_mm2(hw).values())
