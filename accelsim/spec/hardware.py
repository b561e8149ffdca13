"""Hardware description: the machine the simulator models, as data.

The machine is, by default (``[array] kind = "bit-tactical"``), a Bit-Tactical-style sparse PE
array (Delmas Lascorz et al., "Bit-Tactical: A Software/Hardware Approach to Exploiting Value
and Bit Sparsity in Neural Networks", ASPLOS 2019) as modelled by the public DNNsim simulator
(github.com/isakedo/DNNsim).  The other array kinds are the baselines sparse designs are
compared against (:mod:`accelsim.arrays.others`): ``"systolic"`` (a dense systolic array, SCALE-Sim
v3's compute model), ``"scnn"`` (Parashar et al., ISCA 2017) and ``"ideal"`` (effectual MACs
only).

A description is a TOML file (or the equivalent dict) with the sections ``[array]``,
``[frontend]``, ``[backend]``, ``[memory]`` and ``[energy]`` (bit-tactical), or ``[array]``,
``[systolic]`` / ``[scnn]`` / ``[ideal]``, ``[memory]`` and ``[energy]`` (the other kinds),
plus an optional top-level ``name``.  A section or an ``[array]`` key that does not belong to
the array kind is rejected (:data:`KIND_SECTIONS`, :data:`KIND_ARRAY_KEYS`).  It is loaded one way only::

    file / dict  ->  validate  ->  frozen Hardware

with :func:`load_hardware`.  Every dataclass here is frozen and validated in
``__post_init__``; constructors compute nothing.  Every missing key takes the default
(a 16-tile, 16x1, 16-lane, 16-bit, 1 GHz array with the TCL front end T<2,5>), every
unknown section or key, wrong type or bad value raises a one-line :class:`HardwareError`
naming ``[section] key``, the bad value and the fix.  The shipped descriptions live in
``accelsim/spec/data/*.toml`` (:func:`builtin_hardware`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from accelsim.errors import HardwareError

ARRAY_KINDS = ("bit-tactical", "systolic", "scnn", "ideal")
DATAFLOWS = ("os", "ws", "is")
SYSTOLIC_COMPAT = ("scalesim", "pipelined")
FRONTEND_KINDS = ("dense", "tcl")
SHAPES = ("T", "L")
PRIORITIES = ("least-flexible", "most-flexible", "non-overlapping")
SCHEDULES = ("sparser", "weights", "activations")
BACKEND_KINDS = ("bit-parallel", "tclp", "tcle")
SERIAL_BACKENDS = ("tclp", "tcle")
MEMORY_KINDS = ("ideal", "dram")
SECTIONS = ("array", "frontend", "backend", "memory", "energy", "systolic", "scnn", "ideal")
# the sections each array kind takes (in to_dict / to_toml order)
KIND_SECTIONS = {
    "bit-tactical": ("array", "frontend", "backend", "memory", "energy"),
    "systolic": ("array", "systolic", "memory", "energy"),
    "scnn": ("array", "scnn", "memory", "energy"),
    "ideal": ("array", "ideal", "memory", "energy"),
}
_COMMON_ARRAY_KEYS = ("kind", "pe_bits", "clock_ghz")
# the [array] keys each kind takes; the others (tiles, rows, columns, lanes) are Bit-Tactical's
KIND_ARRAY_KEYS = {
    "bit-tactical": ("kind", "tiles", "rows", "columns", "lanes", "pe_bits", "clock_ghz"),
    "systolic": _COMMON_ARRAY_KEYS, "scnn": _COMMON_ARRAY_KEYS, "ideal": _COMMON_ARRAY_KEYS,
}
_SIZE_KEYS = {"systolic": "[systolic] height and width",
              "scnn": "[scnn] pe_rows, pe_columns, weights_per_cycle and activations_per_cycle",
              "ideal": "[ideal] multipliers"}
BUILTIN_HARDWARE = ("bit-tactical", "dadiannao", "bit-tactical-tclp", "bit-tactical-tcle",
                    "systolic-os-32x32", "scnn", "ideal")
DEFAULT_NAME = "bit-tactical T<2,5>"
DATA_DIR = Path(__file__).resolve().parent / "data"

# Kinds that later issues add: named so that the error says "not available yet"
# instead of "unknown" (none at the moment).
_PLANNED: dict[tuple[str, str], tuple[str, ...]] = {}


# ---- validation helpers ---------------------------------------------------------------
def _toml_type(value: Any) -> str:
    """The TOML name of a value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as it would be written in TOML (strings quoted, booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    return repr(value)


def _check_int(section: str, key: str, value: Any, minimum: int, what: str,
               symbol: str = "") -> None:
    """An integer (not a bool, not a float) ``>= minimum``; ``what`` explains the key and
    ``symbol`` is its name in the paper (h, d), if any."""
    if isinstance(value, bool) or not isinstance(value, int):
        example = max(minimum, 1)
        if isinstance(value, (float, str)):
            # suggest the integer the user probably meant: "16" or 16.0 -> 16
            with contextlib.suppress(ValueError, OverflowError):
                example = int(value) if float(value).is_integer() else example
        raise HardwareError(f"[{section}] {key} = {_show(value)} must be an integer ({what}), "
                            f"not a {_toml_type(value)}; write e.g. {key} = {example}")
    if value < minimum:
        why = f": {symbol} < {minimum}" if symbol else f" must be >= {minimum} ({what})"
        raise HardwareError(f"[{section}] {key} = {value}{why}; use {key} >= {minimum}")


def _check_choice(section: str, key: str, value: Any, choices: tuple[str, ...]) -> None:
    listed = ", ".join(f'"{c}"' for c in choices)
    if not isinstance(value, str):
        raise HardwareError(f"[{section}] {key} = {_show(value)} must be a string, one of "
                            f"{listed}")
    if value in _PLANNED.get((section, key), ()):
        raise HardwareError(f'[{section}] {key} = "{value}" is not available yet; use one of '
                            f"{listed}")
    if value not in choices:
        raise HardwareError(f"[{section}] {key} = {_show(value)} is not one of {listed}; "
                            "use one of those")


def _check_positive_float(section: str, key: str, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareError(f"[{section}] {key} = {_show(value)} must be a number ({what}), "
                            f"not a {_toml_type(value)}; write e.g. {key} = 1.0")
    if not math.isfinite(value) or value <= 0:
        raise HardwareError(f"[{section}] {key} = {value!r} must be a finite number > 0 "
                            f"({what}); write e.g. {key} = 1.0")


def _check_nonneg_float(section: str, key: str, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareError(f"[{section}] {key} = {_show(value)} must be a number ({what}), "
                            f"not a {_toml_type(value)}; write e.g. {key} = 1.0")
    if not math.isfinite(value) or value < 0:
        raise HardwareError(f"[{section}] {key} = {value!r} must be a finite number >= 0 "
                            f"({what}); write e.g. {key} = 1.0")


def _check_bool(section: str, key: str, value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise HardwareError(f"[{section}] {key} = {_show(value)} must be true or false ({what}), "
                            f"not a {_toml_type(value)}; write e.g. {key} = false")


# ---- the sections ---------------------------------------------------------------------
@dataclass(frozen=True)
class ArraySpec:
    """The PE array.  ``kind`` picks the array model (:data:`ARRAY_KINDS`, see
    :mod:`accelsim.arrays.others`); ``pe_bits`` (operand width in bits) and ``clock_ghz`` (GHz)
    apply to every kind.

    ``"bit-tactical"`` (default): ``tiles`` tiles run in lockstep; a tile is ``rows`` x
    ``columns`` PEs (rows = filters, columns = windows processed concurrently); each PE takes
    ``lanes`` products per cycle along the reduction (input channels x kernel) and adds them in
    a ``pe_bits``-bit fixed-point adder tree.  The other kinds size their array in their own
    section (``[systolic]``, ``[scnn]``, ``[ideal]``) and reject ``tiles``, ``rows``,
    ``columns`` and ``lanes`` (:class:`Hardware` checks that they keep their defaults).
    """

    kind: str = "bit-tactical"
    tiles: int = 16
    rows: int = 16
    columns: int = 1
    lanes: int = 16
    pe_bits: int = 16
    clock_ghz: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("array", "kind", self.kind, ARRAY_KINDS)
        for key, what in (("tiles", "tiles"), ("rows", "filters per tile"),
                          ("columns", "windows per tile"), ("lanes", "products per PE per cycle"),
                          ("pe_bits", "fixed-point width in bits")):
            _check_int("array", key, getattr(self, key), 1, what)
        _check_positive_float("array", "clock_ghz", self.clock_ghz, "clock in GHz")

    @property
    def pes(self) -> int:
        """Processing elements in the whole array: ``tiles * rows * columns``."""
        return self.tiles * self.rows * self.columns

    @property
    def macs_per_cycle(self) -> int:
        """Peak multiply-accumulates per cycle: ``pes * lanes``."""
        return self.pes * self.lanes

    @property
    def peak_gmacs_per_s(self) -> float:
        """Peak throughput in GMAC/s: ``macs_per_cycle * clock_ghz``."""
        return self.macs_per_cycle * self.clock_ghz


@dataclass(frozen=True)
class FrontendSpec:
    """How weights are fed to the lanes.

    ``kind = "dense"`` is the DaDianNao-like baseline: every (zero or not) weight takes
    its lane slot; the other fields are then ignored (but still validated).
    ``kind = "tcl"`` is the Bit-Tactical weight-skipping front end: a zero weight slot at
    (step t, lane l) may be filled by a non-zero weight from (t + dt, l + dl) for the
    offsets of :meth:`offsets` -- ``lookahead`` h (steps ahead, >= 0) and ``lookaside`` d
    (>= 0, < lanes) in the connection pattern ``shape`` ("T" or "L").  ``priority`` says
    which zero slot is filled first when candidates compete, ``schedule`` which operand
    is scheduled ("sparser" picks the sparser of weights and activations per layer).
    """

    kind: str = "tcl"
    shape: str = "T"
    lookahead: int = 2
    lookaside: int = 5
    priority: str = "least-flexible"
    schedule: str = "sparser"

    def __post_init__(self) -> None:
        _check_choice("frontend", "kind", self.kind, FRONTEND_KINDS)
        _check_choice("frontend", "shape", self.shape, SHAPES)
        _check_int("frontend", "lookahead", self.lookahead, 0, "steps ahead", "h")
        _check_int("frontend", "lookaside", self.lookaside, 0, "lanes aside", "d")
        _check_choice("frontend", "priority", self.priority, PRIORITIES)
        _check_choice("frontend", "schedule", self.schedule, SCHEDULES)

    @property
    def label(self) -> str:
        """``"dense"`` or the pattern as the paper writes it, e.g. ``"T<2,5>"``."""
        if self.kind == "dense":
            return "dense"
        return f"{self.shape}<{self.lookahead},{self.lookaside}>"

    def offsets(self) -> tuple[tuple[int, int], ...]:
        """The offsets ``(dt, dl)`` a zero weight slot at (step t, lane l) may take a
        non-zero weight from -- source (t + dt, (l + dl) mod lanes), wrapping within the
        PE's lanes -- sorted lexicographically, which is the order the scheduler visits
        them.  Every offset has ``1 <= dt <= h`` and ``|dl| <= d``.

        * dense front end: ``()``.
        * ``h = 0``: ``()`` for both shapes -- no step ahead is buffered, so there is
          nothing to take from.  (DNNsim builds its lookaside entries at dt = 1 whatever
          h is; we keep every offset inside the lookahead window instead.)
        * ``L<h,d>``: ``(1,-d), ..., (1,-1), (1,0), (2,0), ..., (h,0)`` -- straight
          lookahead in the own lane plus lookaside to the d lanes on one side, one step
          ahead.
        * ``T<h,d>``: the straight lookahead ``(1,0), ..., (h,0)`` plus d lookaside
          offsets taken in pairs ``(dt,+k), (dt,-k)`` for k = 1, 2, 3, ... (the last pair
          cut short when d is odd), the step dt of the k-th pair cycling 1, 2, ..., h, 1,
          2, ...  so ``dt = (k - 1) mod h + 1``.  T<2,5> gives (1,-1), (1,0), (1,1),
          (1,3), (2,-2), (2,0), (2,2): the paper's T<2,5>.

        Source of the T rule: DNNsim, ``core/include/core/BitTactical.h`` (the
        ``BitTactical`` scheduler constructor that fills ``SEARCH_MAP`` and sorts it;
        ``core/src/BitTactical.cpp::search`` wraps lanes within the PE).  Older DNNsim
        versions ignored d and hard-coded T as (h',0) and (h',+-h') for h' = 1..h plus
        one extra slot -- (1,3) in most, (1,-3) or (1,h-1) in some -- i.e. they really
        supported only T<2,5>; the current general rule, implemented here, gives the
        same set for T<2,5>.
        """
        if self.kind == "dense":
            return ()
        h, d = self.lookahead, self.lookaside
        if h == 0:
            return ()
        found = {(dt, 0) for dt in range(1, h + 1)}
        if self.shape == "L":
            found.update((1, -k) for k in range(1, d + 1))
        else:
            for i in range(d):
                k = i // 2 + 1
                found.add(((k - 1) % h + 1, k if i % 2 == 0 else -k))
        return tuple(sorted(found))


@dataclass(frozen=True)
class BackendSpec:
    """How the PE multiplies (rules of the public DNNsim simulator, see :mod:`accelsim.kernels.recoding`).

    * ``"bit-parallel"``: one full-width product per lane per cycle; a step costs 1 cycle.
    * ``"tclp"`` (dynamic precision): activations are processed bit-serially; a step costs
      the largest activation precision (bit length of the magnitude) over every active
      slot of every filter, tile and window of the set, at least 1 cycle.
    * ``"tcle"`` (effectual bits): activations are recoded into signed powers of two
      ("terms") and a PE retires per cycle, in every lane, the lowest pending term that
      lies within ``2**bits_first_stage`` positions of the lowest pending term over its
      lanes.  ``column_registers`` r lets a column run up to r steps ahead of the slowest
      column (r = 0: columns synchronise every step).

    ``skip_zero_weights``: a zero weight that stayed in its slot (nothing was promoted into
    it) still occupies its lane and its activation is processed (``false``, DNNsim's choice);
    ``true`` masks such lanes.  ``bits_first_stage`` and ``column_registers`` are used by
    ``"tcle"`` only, ``skip_zero_weights`` by both serial back ends; all are validated.
    """

    kind: str = "bit-parallel"
    bits_first_stage: int = 2
    column_registers: int = 1
    skip_zero_weights: bool = False

    def __post_init__(self) -> None:
        _check_choice("backend", "kind", self.kind, BACKEND_KINDS)
        _check_int("backend", "bits_first_stage", self.bits_first_stage, 0,
                   "bits of the first-stage shifter: a lane may retire a term up to "
                   "2**bits_first_stage - 1 positions above the PE's lowest pending term")
        if self.bits_first_stage > 4:
            raise HardwareError(f"[backend] bits_first_stage = {self.bits_first_stage} must be "
                                "<= 4 (a 16-position window already spans every 16-bit term); "
                                "use bits_first_stage in 0..4")
        _check_int("backend", "column_registers", self.column_registers, 0,
                   "steps a column may run ahead of the slowest column")
        _check_bool("backend", "skip_zero_weights", self.skip_zero_weights,
                    "mask lanes whose weight is zero")

    @property
    def serial(self) -> bool:
        """True for the bit-serial back ends ("tclp", "tcle")."""
        return self.kind in SERIAL_BACKENDS


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
        _check_choice("memory", "kind", self.kind, MEMORY_KINDS)
        _check_positive_float("memory", "bandwidth_gb_per_s", self.bandwidth_gb_per_s,
                              "DRAM bandwidth in GB/s")
        _check_nonneg_float("memory", "latency_ns", self.latency_ns,
                            "DRAM latency per transfer in ns")
        for key in ("weight_buffer_bytes", "activation_buffer_bytes"):
            _check_int("memory", key, getattr(self, key), 1, "on-chip buffer size in bytes")
        _check_bool("memory", "double_buffering", self.double_buffering,
                    "split each buffer in two halves: load the next tile during compute")


@dataclass(frozen=True)
class EnergySpec:
    """Energy per operation and per access, in pJ (see :mod:`accelsim.pipeline.energy`).

    ``mac_pj_per_bit``: one multiply-accumulate per bit of the serial operand -- a
    bit-parallel ``pe_bits`` x ``pe_bits`` MAC costs ``pe_bits`` times this, a bit-serial
    lane-cycle (one activation bit or term times a full weight) costs it once.
    ``buffer_read_pj_per_bit`` / ``buffer_write_pj_per_bit``: on-chip SRAM/eDRAM access per
    bit; ``dram_pj_per_bit``: off-chip transfer per bit (read or write);
    ``metadata_pj_per_bit``: reading the scheduler's multiplexer-select bits that travel with
    every scheduled slot.

    Defaults, 45 nm, from M. Horowitz, "Computing's energy problem (and what we can do about
    it)", ISSCC 2014: a 16-bit integer multiply ~0.8 pJ (between the 8-bit 0.2 pJ and the
    32-bit 3.1 pJ, scaling with bits squared) plus a 16-bit add ~0.05 pJ -> 0.85 pJ per MAC
    = 0.053 pJ per bit; a 64-bit read from a 32 KB SRAM bank 20 pJ -> 0.3125 pJ per bit (used
    for writes and metadata too); DRAM 1.3 nJ per 64-bit access -> 20.3 pJ per bit.
    """

    mac_pj_per_bit: float = 0.053
    buffer_read_pj_per_bit: float = 0.3125
    buffer_write_pj_per_bit: float = 0.3125
    dram_pj_per_bit: float = 20.3
    metadata_pj_per_bit: float = 0.3125

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_nonneg_float("energy", f.name, getattr(self, f.name), "energy in pJ")


@dataclass(frozen=True)
class SystolicSpec:
    """A dense ``height`` x ``width`` systolic array of MACs (``[array] kind = "systolic"``),
    SCALE-Sim v3's compute model (Samajdar et al., "A Systematic Methodology for
    Characterizing Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020).

    ``dataflow``: ``"os"`` output stationary (rows = output pixels, columns = filters),
    ``"ws"`` weight stationary (rows = reduction, columns = filters), ``"is"`` input
    stationary (rows = reduction, columns = output pixels).  ``compat``: ``"scalesim"``
    (default) gives SCALE-Sim v3's compute cycles exactly (every fold pays its own pipeline
    fill and drain, no overlap between folds); ``"pipelined"`` overlaps the folds (fill and
    drain once per problem).  Formulas: :func:`accelsim.arrays.others.systolic_problem_cycles`.
    """

    height: int = 32
    width: int = 32
    dataflow: str = "os"
    compat: str = "scalesim"

    def __post_init__(self) -> None:
        _check_int("systolic", "height", self.height, 1, "rows of MACs")
        _check_int("systolic", "width", self.width, 1, "columns of MACs")
        _check_choice("systolic", "dataflow", self.dataflow, DATAFLOWS)
        _check_choice("systolic", "compat", self.compat, SYSTOLIC_COMPAT)

    @property
    def multipliers(self) -> int:
        """MACs in the array: ``height * width``."""
        return self.height * self.width


@dataclass(frozen=True)
class ScnnSpec:
    """SCNN (Parashar et al., "SCNN: An Accelerator for Compressed-sparse Convolutional
    Neural Networks", ISCA 2017), ``[array] kind = "scnn"``; defaults are the paper's.

    ``pe_rows`` x ``pe_columns`` PEs (8 x 8) share the activation plane by planar tiling;
    each PE multiplies, every cycle, a vector of ``weights_per_cycle`` (F = 4) non-zero
    weights by a vector of ``activations_per_cycle`` (I = 4) non-zero activations of the same
    input channel (the Cartesian product, F x I multipliers) and scatters the products
    through a crossbar into ``accumulator_banks`` (A = 2 F I = 32) banks; products that meet
    in one bank in one cycle stall the PE.  Output channels are processed in groups of
    ``output_channel_group`` (Kc) channels; the PEs synchronise after each group.  Cycle
    rules: :mod:`accelsim.arrays.others`.
    """

    pe_rows: int = 8
    pe_columns: int = 8
    weights_per_cycle: int = 4
    activations_per_cycle: int = 4
    accumulator_banks: int = 32
    output_channel_group: int = 8

    def __post_init__(self) -> None:
        for key, what in (("pe_rows", "PEs along the activation plane's height"),
                          ("pe_columns", "PEs along the activation plane's width"),
                          ("weights_per_cycle", "F: non-zero weights per PE per cycle"),
                          ("activations_per_cycle", "I: non-zero activations per PE per cycle"),
                          ("accumulator_banks", "A: accumulator banks per PE"),
                          ("output_channel_group", "Kc: output channels per group")):
            _check_int("scnn", key, getattr(self, key), 1, what)

    @property
    def pes(self) -> int:
        """PEs: ``pe_rows * pe_columns``."""
        return self.pe_rows * self.pe_columns

    @property
    def multipliers(self) -> int:
        """Multipliers in the array: ``pes * weights_per_cycle * activations_per_cycle``."""
        return self.pes * self.weights_per_cycle * self.activations_per_cycle


@dataclass(frozen=True)
class IdealSpec:
    """The ideal sparse array (``[array] kind = "ideal"``): ``multipliers`` MACs per cycle,
    fed with effectual products only (both operands non-zero), perfectly balanced:
    ``ceil(effectual MACs / multipliers)`` cycles per problem -- the bound every design is
    measured against at equal peak (:func:`ideal_bound`).  Default 4096, the peak of the
    default Bit-Tactical array."""

    multipliers: int = 4096

    def __post_init__(self) -> None:
        _check_int("ideal", "multipliers", self.multipliers, 1, "MACs per cycle")


_SECTION_CLASSES: dict[str, type] = {
    "array": ArraySpec, "frontend": FrontendSpec, "backend": BackendSpec,
    "memory": MemorySpec, "energy": EnergySpec, "systolic": SystolicSpec, "scnn": ScnnSpec,
    "ideal": IdealSpec,
}


@dataclass(frozen=True)
class Hardware:
    """A whole machine.  Build it with :func:`load_hardware`; ``name`` is free text.

    ``name`` takes part in equality, :meth:`to_dict` and :meth:`digest` like every other
    field.
    """

    array: ArraySpec = field(default_factory=ArraySpec)
    frontend: FrontendSpec = field(default_factory=FrontendSpec)
    backend: BackendSpec = field(default_factory=BackendSpec)
    memory: MemorySpec = field(default_factory=MemorySpec)
    energy: EnergySpec = field(default_factory=EnergySpec)
    name: str = ""
    systolic: SystolicSpec = field(default_factory=SystolicSpec)
    scnn: ScnnSpec = field(default_factory=ScnnSpec)
    ideal: IdealSpec = field(default_factory=IdealSpec)

    def __post_init__(self) -> None:
        for section, cls in _SECTION_CLASSES.items():
            value = getattr(self, section)
            if not isinstance(value, cls):
                raise HardwareError(f"[{section}] must be of type {cls.__name__}, not "
                                    f"{type(value).__name__}; build hardware with load_hardware()")
        if not isinstance(self.name, str):
            raise HardwareError(f"name = {_show(self.name)} must be a string (free text), not a "
                                f"{_toml_type(self.name)}")
        self._check_kind()
        lanes, d = self.array.lanes, self.frontend.lookaside
        if self.frontend.kind != "dense" and d >= lanes:
            raise HardwareError(f"[frontend] lookaside = {d} must be < [array] lanes = {lanes} "
                                f"(d reaches at most lanes - 1 lanes aside); use lookaside <= "
                                f"{lanes - 1} or more lanes")
        bits = self.array.pe_bits
        if self.backend.serial and not 2 <= bits <= 16:
            raise HardwareError(f'[array] pe_bits = {bits} does not fit [backend] kind = '
                                f'"{self.backend.kind}": bit-serial back ends take 2..16-bit '
                                "sign-magnitude values; use pe_bits in 2..16")

    def _check_kind(self) -> None:
        """Sections and ``[array]`` keys that do not belong to ``array.kind`` keep their
        defaults (a one-line HardwareError otherwise)."""
        kind = self.array.kind
        if kind == "bit-tactical":
            foreign: tuple[str, ...] = ("systolic", "scnn", "ideal")
        else:
            foreign = tuple(s for s in SECTIONS if s not in KIND_SECTIONS[kind])
            default = ArraySpec()
            for key in KIND_ARRAY_KEYS["bit-tactical"]:
                value = getattr(self.array, key)
                if key not in KIND_ARRAY_KEYS[kind] and value != getattr(default, key):
                    raise HardwareError(
                        f'[array] {key} = {_show(value)} does not apply to [array] kind = '
                        f'"{kind}" (it sizes the Bit-Tactical array); remove it and size the '
                        f"array with {_SIZE_KEYS[kind]}")
        for section in foreign:
            if getattr(self, section) != _SECTION_CLASSES[section]():
                raise HardwareError(_foreign_message(section, kind))

    def describe(self) -> str:
        """One line: the name and the array, e.g. ``"systolic-os-32x32 (systolic 32x32, os,
        compat scalesim, memory ideal)"``."""
        a, kind = self.array, self.array.kind
        if kind == "bit-tactical":
            fe = self.frontend
            what = (f"{a.tiles} tiles x {a.rows} rows x {a.columns} columns x {a.lanes} lanes, "
                    f"front end {fe.kind}{' ' + fe.label if fe.kind == 'tcl' else ''}, back end "
                    f"{self.backend.kind}")
        elif kind == "systolic":
            sy = self.systolic
            what = f"systolic {sy.height}x{sy.width}, {sy.dataflow}, compat {sy.compat}"
        elif kind == "scnn":
            sc = self.scnn
            what = (f"SCNN {sc.pe_rows}x{sc.pe_columns} PEs x {sc.weights_per_cycle}x"
                    f"{sc.activations_per_cycle} multipliers, {sc.accumulator_banks} banks, "
                    f"Kc {sc.output_channel_group}")
        else:
            what = f"ideal, {self.ideal.multipliers} multipliers"
        return f"{self.name or 'unnamed'} ({what}, memory {self.memory.kind})"

    @property
    def multipliers(self) -> int:
        """Peak MACs per cycle of the array, whatever its kind."""
        kind = self.array.kind
        if kind == "bit-tactical":
            return self.array.macs_per_cycle
        return getattr(self, kind).multipliers

    # ---- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "array": {...}, "frontend": {...}, ..., "energy": {}}`` with the
        sections and ``[array]`` keys of ``array.kind`` only (:data:`KIND_SECTIONS`, so a
        Bit-Tactical machine's dict and digest are those it had before the other kinds
        existed); plain JSON/TOML types, ``load_hardware(hw.to_dict()) == hw``."""
        kind = self.array.kind
        out: dict[str, Any] = {"name": self.name}
        for section in KIND_SECTIONS[kind]:
            out[section] = asdict(getattr(self, section))
            cls = _SECTION_CLASSES[section]
            for f in fields(cls):
                if isinstance(f.default, float):
                    out[section][f.name] = float(out[section][f.name])
        out["array"] = {k: v for k, v in out["array"].items() if k in KIND_ARRAY_KEYS[kind]}
        return out

    def to_toml(self) -> str:
        """The description as TOML text; ``load_hardware`` of it gives this object back."""
        data = self.to_dict()
        lines = [f"name = {_toml_string(data.pop('name'))}"]  # sections of the kind only
        for section, table in data.items():
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        return "\n".join(lines) + "\n"

    def digest(self) -> str:
        """sha256 hex digest of the canonical JSON (sorted keys, no spaces) of
        :meth:`to_dict`: stable across runs and machines, for keying results stores."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    def replace(self, **changes: Any) -> Hardware:
        """A new, validated Hardware with dotted keys changed, for sweeps::

            hw.replace(**{"frontend.lookahead": 4, "array.tiles": 8, "name": "T<4,5>"})
            systolic.replace(**{"systolic.height": 64, "systolic.dataflow": "ws"})

        Changing ``array.kind`` switches the array model: the sections and ``[array]`` keys of
        the old kind that the new one does not take are dropped (unless also changed, which
        is then an error), e.g. ``hw.replace(**{"array.kind": "systolic",
        "systolic.dataflow": "ws"})``.
        """
        full = {"name": self.name}
        for section in SECTIONS:
            full[section] = asdict(getattr(self, section))
        data = self.to_dict()
        touched: dict[str, set[str]] = {}
        for dotted, value in changes.items():
            if dotted == "name":
                data["name"] = value
                continue
            section, dot, key = dotted.partition(".")
            if not dot or section not in _SECTION_CLASSES:
                raise HardwareError(f"replace(): {dotted!r} is not a known key; use 'name' or "
                                    f"'section.key' with section one of {', '.join(SECTIONS)}")
            if key not in full[section]:
                raise HardwareError(f"replace(): [{section}] {key} is not a known key"
                                    f"{_suggest(key, full[section])}; known keys: "
                                    f"{', '.join(full[section])}")
            data.setdefault(section, {})[key] = value
            touched.setdefault(section, set()).add(key)
        kind = data["array"].get("kind", "bit-tactical")
        if isinstance(kind, str) and kind in KIND_SECTIONS:
            for section in list(data):
                if section in _SECTION_CLASSES and section not in KIND_SECTIONS[kind] \
                        and section not in touched:
                    del data[section]
            keep = set(KIND_ARRAY_KEYS[kind]) | touched.get("array", set())
            data["array"] = {k: v for k, v in data["array"].items() if k in keep}
        return load_hardware(data)


# ---- TOML writing (tomllib only reads) ------------------------------------------------
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise HardwareError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


# ---- loading --------------------------------------------------------------------------
def _suggest(key: Any, known: Any) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _foreign_message(section: str, kind: str) -> str:
    """Error text for a section that ``[array] kind`` does not take."""
    owners = [k for k, secs in KIND_SECTIONS.items() if section in secs]
    listed = " or ".join(f'"{k}"' for k in owners)
    return (f'[{section}] does not apply to [array] kind = "{kind}" (it belongs to kind '
            f"{listed}); remove the [{section}] section or set [array] kind = {listed}")


def _section_of(key: str) -> str | None:
    for section, cls in _SECTION_CLASSES.items():
        if key in {f.name for f in fields(cls)} and key != "kind":
            return section
    return None


def _from_dict(data: Any) -> Hardware:
    if not isinstance(data, dict):
        raise HardwareError(f"a hardware description must be a table (dict), not "
                            f"{type(data).__name__}")
    for key, value in data.items():
        if key == "name" or key in _SECTION_CLASSES:
            continue
        if isinstance(value, dict):
            raise HardwareError(f"[{key}] is not a known section{_suggest(key, SECTIONS)}; known "
                                f"sections: {', '.join(f'[{s}]' for s in SECTIONS)}")
        home = _section_of(str(key))
        hint = f"; put it under the [{home}] header" if home else ""
        raise HardwareError(f"{key} is not a known top-level key{hint}; known top-level keys: "
                            f"name, and the sections {', '.join(f'[{s}]' for s in SECTIONS)}")
    parts: dict[str, Any] = {}
    array_table = data.get("array", {})
    kind = array_table.get("kind", "bit-tactical") if isinstance(array_table, dict) else None
    for section, cls in _SECTION_CLASSES.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise HardwareError(f"[{section}] must be a table of keys, not {_show(table)} "
                                f"(a {_toml_type(table)})")
        if isinstance(kind, str) and kind in KIND_SECTIONS:
            if section in data and section not in KIND_SECTIONS[kind]:
                raise HardwareError(_foreign_message(section, kind))
            if section == "array":
                for key in table:
                    if key in ArraySpec.__dataclass_fields__ and key not in KIND_ARRAY_KEYS[kind]:
                        raise HardwareError(
                            f'[array] {key} does not apply to [array] kind = "{kind}" (it sizes '
                            f"the Bit-Tactical array); remove it and size the array with "
                            f"{_SIZE_KEYS[kind]}")
        known = [f.name for f in fields(cls)]
        for key in table:
            if key in known:
                continue
            if not known:
                raise HardwareError(f"[{section}] {key}: the [{section}] section is reserved and "
                                    f"must be empty for now; remove {key}")
            if section == "array" and isinstance(kind, str) and kind in KIND_ARRAY_KEYS:
                known = list(KIND_ARRAY_KEYS[kind])
            home = _section_of(str(key))
            where = f"; it belongs under the [{home}] header" if home and home != section else ""
            raise HardwareError(f"[{section}] {key} is not a known key{_suggest(key, known)}"
                                f"{where}; known keys: {', '.join(known)}")
        values = dict(table)
        for f in fields(cls):  # TOML `clock_ghz = 1` is an integer: floats take integers
            value = values.get(f.name)
            if (isinstance(f.default, float) and isinstance(value, int)
                    and not isinstance(value, bool)):
                values[f.name] = float(value)
        parts[section] = cls(**values)
    return Hardware(name=data.get("name", ""), **parts)


def _from_file(path: str | os.PathLike) -> Hardware:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise HardwareError(f"hardware file {p} not found; give a TOML file or one of the "
                            f"built-in names {', '.join(BUILTIN_HARDWARE)}") from None
    except OSError as exc:
        raise HardwareError(f"hardware file {p} cannot be read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HardwareError(f"{p}: not UTF-8 text (bad byte at offset {exc.start}); save the "
                            "hardware file as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise HardwareError(f"{p}: TOML syntax error: {exc}; fix the file") from None
    try:
        return _from_dict(data)
    except HardwareError as exc:
        raise HardwareError(f"{p}: {exc}") from None


def load_hardware(source: str | os.PathLike | dict | Hardware | None = None) -> Hardware:
    """The one way to build a :class:`Hardware`.

    * ``None`` -> :func:`default_hardware`;
    * a :class:`Hardware` -> itself (already validated);
    * a dict -> validated like a parsed TOML file (missing keys take the defaults);
    * a path (``str`` or ``os.PathLike``) -> the TOML file; a ``str`` that is no existing
      file but a built-in name (:data:`BUILTIN_HARDWARE`) -> :func:`builtin_hardware`.

    Raises :class:`HardwareError` (one line, naming the file, ``[section] key``, the bad
    value and the fix) for a missing or unreadable file, a TOML syntax error (with its
    line), an unknown section or key, a wrong type or an invalid value.
    """
    if source is None:
        return default_hardware()
    if isinstance(source, Hardware):
        return source
    if isinstance(source, dict):
        return _from_dict(source)
    if isinstance(source, str) and source in BUILTIN_HARDWARE and not Path(source).exists():
        return builtin_hardware(source)
    if isinstance(source, (str, os.PathLike)):
        return _from_file(source)
    raise HardwareError(f"hardware must be a TOML file path, a dict, a Hardware or None, not "
                        f"{type(source).__name__}")


def default_hardware() -> Hardware:
    """The default machine: 16 tiles x 16 rows x 1 column, 16 lanes, 16-bit PEs at 1 GHz,
    TCL T<2,5>, least-flexible first, sparser operand scheduled, bit-parallel back end,
    ideal memory.  Equal to ``builtin_hardware("bit-tactical")``."""
    return Hardware(name=DEFAULT_NAME)


def dense_baseline(hw: Hardware) -> Hardware:
    """The DaDianNao-like baseline of ``hw``: the same machine with ``[frontend] kind =
    "dense"`` (no zero skipping); the other front-end fields are kept (and ignored).
    A dense ``hw`` (or a systolic array, always dense) is returned as it is."""
    if not isinstance(hw, Hardware):
        raise HardwareError(f"dense_baseline() needs a Hardware, not {type(hw).__name__}; "
                            "build one with load_hardware()")
    if hw.array.kind != "bit-tactical":
        if hw.array.kind == "systolic":
            return hw  # already dense
        raise HardwareError(f'dense_baseline() is defined for [array] kind = "bit-tactical" and '
                            f'"systolic", not "{hw.array.kind}" (its reports carry their own '
                            "dense base cycles); use a bit-tactical or systolic machine")
    if hw.frontend.kind == "dense":
        return hw
    name = f"dense baseline of {hw.name}" if hw.name else "dense baseline"
    return dataclasses.replace(hw, frontend=dataclasses.replace(hw.frontend, kind="dense"),
                               name=name)


def ideal_bound(hw: Hardware) -> Hardware:
    """The ideal array (``[array] kind = "ideal"``) with the peak MACs per cycle
    (:attr:`Hardware.multipliers`), ``pe_bits``, clock, memory and energy of ``hw``: the
    bound ``hw``'s compute cycles are measured against on the same trace."""
    if not isinstance(hw, Hardware):
        raise HardwareError(f"ideal_bound() needs a Hardware, not {type(hw).__name__}; "
                            "build one with load_hardware()")
    name = f"ideal bound of {hw.name}" if hw.name else "ideal bound"
    return load_hardware({"name": name,
                          "array": {"kind": "ideal", "pe_bits": hw.array.pe_bits,
                                    "clock_ghz": hw.array.clock_ghz},
                          "ideal": {"multipliers": hw.multipliers},
                          "memory": asdict(hw.memory), "energy": asdict(hw.energy)})


def builtin_hardware(name: str) -> Hardware:
    """A shipped description: ``"bit-tactical"`` (TCL T<2,5>), ``"dadiannao"`` (the same
    array, dense front end), ``"bit-tactical-tclp"`` / ``"bit-tactical-tcle"`` (T<2,5> with
    a bit-serial back end and 16 columns), ``"systolic-os-32x32"`` (SCALE-Sim's default
    32x32 output-stationary array), ``"scnn"`` (the SCNN paper's 64 PEs of 4x4 multipliers)
    and ``"ideal"`` (4096 effectual MACs per cycle), read from
    ``accelsim/spec/data/<name>.toml``."""
    if name not in BUILTIN_HARDWARE:
        raise HardwareError(f"unknown built-in hardware {_show(name)}; choose one of "
                            f"{', '.join(BUILTIN_HARDWARE)} or give a TOML file path")
    return _from_file(DATA_DIR / f"{name}.toml")
