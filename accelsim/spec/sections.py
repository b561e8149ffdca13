"""The sections of a hardware description: one frozen, validated dataclass per TOML table
(``[array]``, ``[frontend]``, ``[backend]`` in :mod:`accelsim.spec.array_sections`;
``[systolic]``, ``[scnn]``, ``[ideal]`` in :mod:`accelsim.spec.kind_sections`; ``[memory]`` and
``[energy]``, which every kind has, here), and which of them each ``[array] kind`` takes
(:data:`KIND_SECTIONS`, :data:`SECTION_CLASSES`).  The whole machine and its loader:
:mod:`accelsim.spec.hardware`."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.spec.array_sections import ArraySpec, BackendSpec, FrontendSpec
from accelsim.spec.checks import (
    check_bool,
    check_choice,
    check_int,
    check_nonneg_float,
    check_positive_float,
)
from accelsim.spec.kind_sections import IdealSpec, ScnnSpec, SystolicSpec
from accelsim.spec.technology import load_technology

MEMORY_KINDS = ("ideal", "dram")
SECTIONS = ("array", "frontend", "backend", "memory", "energy", "systolic", "scnn", "ideal")
KIND_SECTIONS = {
    "bit-tactical": ("array", "frontend", "backend", "memory", "energy"),
    "systolic": ("array", "systolic", "memory", "energy"),
    "scnn": ("array", "scnn", "memory", "energy"),
    "ideal": ("array", "ideal", "memory", "energy"),
}
COMMON_ARRAY_KEYS = ("kind", "pe_bits", "clock_ghz")
KIND_ARRAY_KEYS = {
    "bit-tactical": ("kind", "tiles", "rows", "columns", "lanes", "pe_bits", "clock_ghz"),
    "systolic": COMMON_ARRAY_KEYS, "scnn": COMMON_ARRAY_KEYS, "ideal": COMMON_ARRAY_KEYS,
}
MODEL_SECTIONS: dict[str, tuple[str, ...]] = {
    kind: tuple(s for s in sections if s not in ("memory", "energy")
                and (s != "array" or KIND_ARRAY_KEYS[kind] != COMMON_ARRAY_KEYS))
    for kind, sections in KIND_SECTIONS.items()}
"""The sections that size and describe the array of each kind (the first one has
``multipliers``): ``[array]``, ``[frontend]``, ``[backend]`` for Bit-Tactical, the kind's own
section for the others."""
DENSE_KINDS = ("systolic",)
"""Array kinds that are dense machines (their own dense baseline)."""
SIZE_KEYS = {"systolic": "[systolic] height and width",
              "scnn": "[scnn] pe_rows, pe_columns, weights_per_cycle and activations_per_cycle",
              "ideal": "[ideal] multipliers"}


MIB = 1 << 20


@dataclass(frozen=True)
class MemorySpec:
    """Off-chip memory and the on-chip buffers (see :mod:`accelsim.pipeline.memory`).

    * ``"ideal"``: the paper's assumption -- each buffer holds a whole layer and DRAM
      latency is hidden, so the array never stalls (the other keys are ignored for timing;
      every operand is still read from DRAM once, which the energy model counts).
    * ``"dram"``: a SimPy event model of one DRAM channel of ``bandwidth_gb_per_s`` (GB/s,
      1e9 bytes per second) with ``latency_ns`` (ns) per transfer, filling a weight buffer
      of ``weight_buffer_bytes`` and an activation buffer of ``activation_buffer_bytes``
      (bytes; each split in two halves when ``double_buffering``, so the next tile loads
      while the current one computes).

    Defaults: one 64-bit DDR4-3200 channel (25.6 GB/s), 100 ns access latency, and the
    on-chip memories of DaDianNao (Chen et al., MICRO 2014), which Bit-Tactical keeps:
    2 MiB of weight eDRAM per tile (32 MiB for 16 tiles) and a 4 MiB central activation
    eDRAM.
    """

    kind: str = "ideal"
    bandwidth_gb_per_s: float = 25.6
    latency_ns: float = 100.0
    weight_buffer_bytes: int = 32 * MIB
    activation_buffer_bytes: int = 4 * MIB
    double_buffering: bool = True

    def __post_init__(self) -> None:
        check_choice("memory", "kind", self.kind, MEMORY_KINDS)
        check_positive_float("memory", "bandwidth_gb_per_s", self.bandwidth_gb_per_s,
                              "DRAM bandwidth in GB/s")
        check_nonneg_float("memory", "latency_ns", self.latency_ns,
                            "DRAM latency per transfer in ns")
        for key in ("weight_buffer_bytes", "activation_buffer_bytes"):
            check_int("memory", key, getattr(self, key), 1, "on-chip buffer size in bytes")
        check_bool("memory", "double_buffering", self.double_buffering,
                    "split each buffer in two halves: load the next tile during compute")


@dataclass(frozen=True)
class EnergySpec:
    """Where the machine's energy and area figures come from (see
    :mod:`accelsim.pipeline.energy` and :mod:`accelsim.pipeline.area`).

    ``technology``: a built-in technology table (``"45nm"``, the default, or ``"65nm"``;
    ``accelsim/spec/data/technology/*.toml``, every number with its source) or the path of a
    TOML file with the same keys.  The per-component energies and areas live only there: to
    change one (say the DRAM energy per bit), copy ``45nm.toml``, edit it and name the copy
    here.
    """

    technology: str = "45nm"

    def __post_init__(self) -> None:
        load_technology(self.technology)  # a one-line HardwareError if it is no table

    def describe(self) -> str:
        return f"technology {self.technology}"


SECTION_CLASSES: dict[str, type] = {
    "array": ArraySpec, "frontend": FrontendSpec, "backend": BackendSpec,
    "memory": MemorySpec, "energy": EnergySpec, "systolic": SystolicSpec, "scnn": ScnnSpec,
    "ideal": IdealSpec,
}
