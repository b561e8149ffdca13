"""One yardstick for every machine: the figures of a simulated pass against a reference
machine that ran the same operands, comparable across designs of any kind, size and clock.

``speedup = reference time / design time`` and ``energy_efficiency = reference energy /
design energy``, in seconds and pJ (clocks may differ); the default reference is the
built-in ``dadiannao`` (:data:`DEFAULT_REFERENCE`).  :func:`pass_figures` is the one place
these figures are made: the reports of :mod:`accelsim.simulate` (JSON, CSV), ``accelsim
compare`` and anything else that shows a pass use it.

Figures of a pass (units in the names; ``*_cycles`` are the machine's own clock cycles):

* the machine's own: ``base_cycles``, ``compute_cycles``, ``ideal_cycles``, ``stall_cycles``,
  ``effectual_macs``, ``exploited_sparsity``, ``pe_utilisation``, ``scheduled``,
  ``speedup_vs_own_dense`` (base / (compute + stall) cycles), ``base_energy_pj`` (its own
  dense twin's energy), ``quantisation`` (bit-serial passes only);
* ``time_s`` ((compute + stall cycles) / clock), ``energy_pj`` (the exact sum of
  ``energy_breakdown_pj``: ``compute``, ``frontend``, ``buffers``, ``dram``);
* ``effectual_gops`` (2 ops per effectual MAC / ``time_s`` / 1e9), ``gops_per_w`` (effectual
  ops per joule / 1e9, i.e. GOPS per W of average power), ``gops_per_mm2`` (``effectual_gops``
  / the machine's area);
* with a reference: ``reference`` (its name), ``reference_time_s``, ``reference_energy_pj``,
  ``speedup`` and ``energy_efficiency``.

A ratio whose denominator is 0 (an empty pass) is 1.0.
"""

from __future__ import annotations

from typing import Any

from accelsim.arrays.breakdown import CycleBreakdown
from accelsim.pipeline.area import area_breakdown_mm2, area_mm2
from accelsim.spec.hardware import Hardware, load_hardware

__all__ = ["DEFAULT_REFERENCE", "MACHINE_KEYS", "OPS_PER_MAC", "machine_figures",
           "pass_figures", "reference_hardware", "time_s"]

DEFAULT_REFERENCE = "dadiannao"
"""The reference machine when none is given: DaDianNao (the dense Bit-Tactical array)."""

OPS_PER_MAC = 2
"""A multiply-accumulate counts as two operations in GOPS figures."""

MACHINE_KEYS = ("area_mm2", "area_breakdown_mm2")
"""The machine-level figures of a report (:func:`machine_figures`)."""


def reference_hardware(reference: Any) -> Hardware:
    """The reference machine: anything :func:`accelsim.spec.hardware.load_hardware` takes (a
    built-in name, a TOML path, a dict, a Hardware); ``None`` is :data:`DEFAULT_REFERENCE`."""
    return load_hardware(DEFAULT_REFERENCE if reference is None else reference)


def time_s(b: CycleBreakdown, hw: Hardware) -> float:
    """Wall time of ``b`` on ``hw`` in seconds: (compute + stall cycles) / clock."""
    return b.total_cycles / (hw.array.clock_ghz * 1e9)


def _ratio(num: float, den: float) -> float:
    return num / den if den else 1.0


def _speedup(b: CycleBreakdown, hw: Hardware, ref: CycleBreakdown, ref_hw: Hardware) -> float:
    """Reference time / design time; at equal clocks the ratio of the cycles (exactly the
    cycle ratio, not a ratio of rounded times)."""
    if hw.array.clock_ghz == ref_hw.array.clock_ghz:
        return _ratio(ref.total_cycles, b.total_cycles)
    return _ratio(time_s(ref, ref_hw), time_s(b, hw))


def machine_figures(hw: Hardware) -> dict[str, Any]:
    """``{"area_mm2": ..., "area_breakdown_mm2": {compute, frontend, buffers}}`` of ``hw``."""
    return {"area_mm2": area_mm2(hw), "area_breakdown_mm2": area_breakdown_mm2(hw)}


def pass_figures(b: CycleBreakdown, hw: Hardware, ref: CycleBreakdown | None = None,
                 ref_hw: Hardware | None = None) -> dict[str, Any]:
    """The figures of one pass (or sum of passes) ``b`` on ``hw`` (see the module docstring),
    against ``ref`` on ``ref_hw`` (the reference on the same operands) when given."""
    t = time_s(b, hw)
    energy = b.energy_total_pj
    ops = OPS_PER_MAC * b.effectual_macs
    gops = ops / t / 1e9 if t else 0.0
    out: dict[str, Any] = {"quantisation": b.quantisation} if b.quantisation else {}
    out.update({
        "base_cycles": b.base_cycles, "compute_cycles": b.compute_cycles,
        "ideal_cycles": b.ideal_cycles, "stall_cycles": b.stall_cycles,
        "effectual_macs": b.effectual_macs, "exploited_sparsity": b.exploited_sparsity,
        "pe_utilisation": b.pe_utilisation, "scheduled": b.scheduled,
        "speedup_vs_own_dense": b.speedup, "time_s": t,
        "energy_pj": energy, "energy_breakdown_pj": b.energy_breakdown_pj,
        "base_energy_pj": b.base_energy_pj, "effectual_gops": gops,
        "gops_per_w": ops / (energy * 1e-12) / 1e9 if energy else 0.0,
        "gops_per_mm2": gops / area_mm2(hw)})
    if ref is not None and ref_hw is not None:
        ref_t, ref_e = time_s(ref, ref_hw), ref.energy_total_pj
        out.update({"reference": ref_hw.name or "reference", "reference_time_s": ref_t,
                    "reference_energy_pj": ref_e, "speedup": _speedup(b, hw, ref, ref_hw),
                    "energy_efficiency": _ratio(ref_e, energy)})
    return out
