"""The sections of a hardware description: one frozen, validated dataclass per TOML table
(``[array]``, ``[frontend]``, ``[backend]``, ``[memory]``, ``[energy]``, ``[systolic]``,
``[scnn]``, ``[ideal]``), and which of them each ``[array] kind`` takes.  The whole machine
and its loader: :mod:`accelsim.spec.hardware`."""

from __future__ import annotations

from dataclasses import dataclass, fields

from accelsim.errors import HardwareError
from accelsim.spec.checks import (
    check_bool,
    check_choice,
    check_int,
    check_nonneg_float,
    check_positive_float,
)

ARRAY_KINDS = ("bit-tactical", "systolic", "scnn", "ideal")
DATAFLOWS = ("os", "ws", "is")
SYSTOLIC_COMPAT = ("scalesim", "pipelined")
OUTPUT_SIZES = ("auto", "scalesim", "exact")
FRONTEND_KINDS = ("dense", "tcl")
SHAPES = ("T", "L")
PRIORITIES = ("least-flexible", "most-flexible", "non-overlapping")
SCHEDULES = ("sparser", "weights", "activations")
TRAVERSALS = ("dnnsim", "row-major")
BACKEND_KINDS = ("bit-parallel", "tclp", "tcle")
SERIAL_BACKENDS = ("tclp", "tcle")
QUANTISATIONS = ("auto", "integer", "per-tensor", "per-layer-profile")
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
        check_choice("array", "kind", self.kind, ARRAY_KINDS)
        for key, what in (("tiles", "tiles"), ("rows", "filters per tile"),
                          ("columns", "windows per tile"), ("lanes", "products per PE per cycle"),
                          ("pe_bits", "fixed-point width in bits")):
            check_int("array", key, getattr(self, key), 1, what)
        check_positive_float("array", "clock_ghz", self.clock_ghz, "clock in GHz")

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

    @property
    def multipliers(self) -> int:
        """Peak MACs per cycle of the Bit-Tactical array (:attr:`macs_per_cycle`)."""
        return self.macs_per_cycle

    def describe(self) -> str:
        return f"{self.tiles} tiles x {self.rows} rows x {self.columns} columns x {self.lanes} lanes"


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
    ``traversal`` orders the windows and a filter's taps (:data:`TRAVERSALS`, see
    :mod:`accelsim.lowering.lower`): ``"dnnsim"`` (default, DNNsim's order on PyTorch-layout
    tensors: windows row index fastest, taps kw outer) or ``"row-major"`` (x fastest, ky outer).
    """

    kind: str = "tcl"
    shape: str = "T"
    lookahead: int = 2
    lookaside: int = 5
    priority: str = "least-flexible"
    schedule: str = "sparser"
    traversal: str = "dnnsim"

    def __post_init__(self) -> None:
        check_choice("frontend", "kind", self.kind, FRONTEND_KINDS)
        check_choice("frontend", "shape", self.shape, SHAPES)
        check_int("frontend", "lookahead", self.lookahead, 0, "steps ahead", "h")
        check_int("frontend", "lookaside", self.lookaside, 0, "lanes aside", "d")
        check_choice("frontend", "priority", self.priority, PRIORITIES)
        check_choice("frontend", "schedule", self.schedule, SCHEDULES)
        check_choice("frontend", "traversal", self.traversal, TRAVERSALS)

    @property
    def label(self) -> str:
        """``"dense"`` or the pattern as the paper writes it, e.g. ``"T<2,5>"``."""
        if self.kind == "dense":
            return "dense"
        return f"{self.shape}<{self.lookahead},{self.lookaside}>"

    def describe(self) -> str:
        return f"front end {self.kind}{' ' + self.label if self.kind == 'tcl' else ''}"

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

    ``quantisation`` turns the serial operand's values into magnitudes of at most
    ``value_bits`` bits (sign-magnitude; :mod:`accelsim.kernels.quantise`): ``"integer"``
    (the values are fixed-point integers already, used as they are), ``"per-tensor"`` (one
    scale per tensor), ``"per-layer-profile"`` (a profiled precision per layer: from
    ``precision_file``, DNNsim's precision.txt format, or derived from the tensor with
    ``fraction_bits`` fraction bits) or ``"auto"`` (``"integer"`` when every value is an
    integer that fits, else ``"per-tensor"``).
    """

    kind: str = "bit-parallel"
    bits_first_stage: int = 2
    column_registers: int = 1
    skip_zero_weights: bool = False
    quantisation: str = "auto"
    value_bits: int = 16
    precision_file: str = ""
    fraction_bits: int = 8

    def __post_init__(self) -> None:
        check_choice("backend", "kind", self.kind, BACKEND_KINDS)
        check_int("backend", "bits_first_stage", self.bits_first_stage, 0,
                   "bits of the first-stage shifter: a lane may retire a term up to "
                   "2**bits_first_stage - 1 positions above the PE's lowest pending term")
        if self.bits_first_stage > 4:
            raise HardwareError(f"[backend] bits_first_stage = {self.bits_first_stage} must be "
                                "<= 4 (a 16-position window already spans every 16-bit term); "
                                "use bits_first_stage in 0..4")
        check_int("backend", "column_registers", self.column_registers, 0,
                   "steps a column may run ahead of the slowest column")
        check_bool("backend", "skip_zero_weights", self.skip_zero_weights,
                    "mask lanes whose weight is zero")
        check_choice("backend", "quantisation", self.quantisation, QUANTISATIONS)
        check_int("backend", "value_bits", self.value_bits, 2, "bits of a serial value")
        if self.value_bits > 16:
            raise HardwareError(f"[backend] value_bits = {self.value_bits} must be <= 16; use "
                                "value_bits in 2..16")
        if not isinstance(self.precision_file, str):
            raise HardwareError("[backend] precision_file must be a path string (\"\" for none)")
        check_int("backend", "fraction_bits", self.fraction_bits, 0,
                  "fraction bits of the derived per-layer profile")

    @property
    def serial(self) -> bool:
        """True for the bit-serial back ends ("tclp", "tcle")."""
        return self.kind in SERIAL_BACKENDS

    def describe(self) -> str:
        return f"back end {self.kind}"


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
            check_nonneg_float("energy", f.name, getattr(self, f.name), "energy in pJ")


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
    drain once per problem).  Formulas: :func:`accelsim.arrays.systolic.systolic_problem_cycles`.
    ``output_size``: how many output windows a strided forward convolution has --
    ``"scalesim"`` SCALE-Sim's ``ceil((H - R) / stride) + 1`` per axis (it keeps the partial
    window at the edge; H the padded input, R the dilated kernel), ``"exact"`` the layer's own
    ``floor((H - R) / stride) + 1``; ``"auto"`` (default) is ``"scalesim"`` with ``compat =
    "scalesim"``, else ``"exact"``.
    """

    height: int = 32
    width: int = 32
    dataflow: str = "os"
    compat: str = "scalesim"
    output_size: str = "auto"

    def __post_init__(self) -> None:
        check_int("systolic", "height", self.height, 1, "rows of MACs")
        check_int("systolic", "width", self.width, 1, "columns of MACs")
        check_choice("systolic", "dataflow", self.dataflow, DATAFLOWS)
        check_choice("systolic", "compat", self.compat, SYSTOLIC_COMPAT)
        check_choice("systolic", "output_size", self.output_size, OUTPUT_SIZES)

    @property
    def scalesim_output_size(self) -> bool:
        """Whether strided forward layers get SCALE-Sim's output size (see ``output_size``)."""
        if self.output_size == "auto":
            return self.compat == "scalesim"
        return self.output_size == "scalesim"

    @property
    def multipliers(self) -> int:
        """MACs in the array: ``height * width``."""
        return self.height * self.width

    def describe(self) -> str:
        return f"systolic {self.height}x{self.width}, {self.dataflow}, compat {self.compat}"


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
            check_int("scnn", key, getattr(self, key), 1, what)

    @property
    def pes(self) -> int:
        """PEs: ``pe_rows * pe_columns``."""
        return self.pe_rows * self.pe_columns

    @property
    def multipliers(self) -> int:
        """Multipliers in the array: ``pes * weights_per_cycle * activations_per_cycle``."""
        return self.pes * self.weights_per_cycle * self.activations_per_cycle

    def describe(self) -> str:
        return (f"SCNN {self.pe_rows}x{self.pe_columns} PEs x {self.weights_per_cycle}x"
                f"{self.activations_per_cycle} multipliers, {self.accumulator_banks} banks, "
                f"Kc {self.output_channel_group}")


@dataclass(frozen=True)
class IdealSpec:
    """The ideal sparse array (``[array] kind = "ideal"``): ``multipliers`` MACs per cycle,
    fed with effectual products only (both operands non-zero), perfectly balanced:
    ``ceil(effectual MACs / multipliers)`` cycles per problem -- the bound every design is
    measured against at equal peak (:func:`ideal_bound`).  Default 4096, the peak of the
    default Bit-Tactical array."""

    multipliers: int = 4096

    def __post_init__(self) -> None:
        check_int("ideal", "multipliers", self.multipliers, 1, "MACs per cycle")

    def describe(self) -> str:
        return f"ideal, {self.multipliers} multipliers"


SECTION_CLASSES: dict[str, type] = {
    "array": ArraySpec, "frontend": FrontendSpec, "backend": BackendSpec,
    "memory": MemorySpec, "energy": EnergySpec, "systolic": SystolicSpec, "scnn": ScnnSpec,
    "ideal": IdealSpec,
}
