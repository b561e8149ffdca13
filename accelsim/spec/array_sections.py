"""The ``[array]``, ``[frontend]`` and ``[backend]`` sections of a hardware description: the
PE array every kind has (its Bit-Tactical sizing) and the Bit-Tactical front end (weight
skipping) and back end (bit-serial multiplication).  The section tables of each kind:
:mod:`accelsim.spec.sections`."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import HardwareError
from accelsim.spec.checks import check_bool, check_choice, check_int, check_positive_float

ARRAY_KINDS = ("bit-tactical", "systolic", "scnn", "ideal")
FRONTEND_KINDS = ("dense", "tcl")
SHAPES = ("T", "L")
PRIORITIES = ("least-flexible", "most-flexible", "non-overlapping")
SCHEDULES = ("sparser", "weights", "activations")
TRAVERSALS = ("dnnsim", "row-major")
GROUP_MAPPINGS = ("dnnsim", "per-group")
BACKEND_KINDS = ("bit-parallel", "tclp", "tcle")
SERIAL_BACKENDS = ("tclp", "tcle")
QUANTISATIONS = ("auto", "integer", "per-tensor", "per-layer-profile")
SIGNED_PRECISIONS = ("auto", "twos-complement", "sign-magnitude")
LINEAR_COLUMNS = ("windows", "steps")
#: keys that :meth:`accelsim.spec.hardware.Hardware.to_dict` writes only when set away from
#: their default, so that a machine's dict and digest are those it had before the keys
#: existed (section -> key -> default)
LATE_KEYS = {"frontend": {"fold_first_layer": True, "group_mapping": "dnnsim"},
             "backend": {"signed_precision": "auto", "idle_padding_rows": True,
                         "linear_columns": "steps"}}


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
    ``fold_first_layer``: ``true`` (default) folds the forward pass of a strided convolution
    over 3 input channels to a stride-1 one over ``3 s s`` channels, as DNNsim does
    (:mod:`accelsim.lowering.fold`); ``false`` simulates it as it is (the rule before).
    ``group_mapping`` (:data:`GROUP_MAPPINGS`): how the forward pass of a depthwise
    convolution (one input channel per group, more than one input channel) is laid on the
    array.  ``"dnnsim"`` (default, DNNsim's ``OutputStationary::configure_layer``): up to
    ``min(lanes, rows)`` of its filters share one problem, filter ``i`` on row ``i`` with its
    weights in lane ``i`` and the window's lane ``i`` holding that filter's input channel, so
    they run at once on one tile; ``"per-group"`` (the rule before): every group is its own
    problem of ``out / groups`` filters using one lane.  Under ``"dnnsim"`` the forward
    problems of one sample (a layer's groups or chunks) also run back to back without the
    TCLe columns synchronising (:func:`accelsim.arrays.grouping.chain_runs`).  Other grouped
    layers and the backward passes are lowered per group under both (DNNsim's 2-group mapping
    is the per-group one, and it simulates no backward pass); see
    :mod:`accelsim.lowering.lower`.
    """

    kind: str = "tcl"
    shape: str = "T"
    lookahead: int = 2
    lookaside: int = 5
    priority: str = "least-flexible"
    schedule: str = "sparser"
    traversal: str = "dnnsim"
    fold_first_layer: bool = True
    group_mapping: str = "dnnsim"

    def __post_init__(self) -> None:
        check_choice("frontend", "kind", self.kind, FRONTEND_KINDS)
        check_choice("frontend", "shape", self.shape, SHAPES)
        check_int("frontend", "lookahead", self.lookahead, 0, "steps ahead", "h")
        check_int("frontend", "lookaside", self.lookaside, 0, "lanes aside", "d")
        check_choice("frontend", "priority", self.priority, PRIORITIES)
        check_choice("frontend", "schedule", self.schedule, SCHEDULES)
        check_choice("frontend", "traversal", self.traversal, TRAVERSALS)
        check_bool("frontend", "fold_first_layer", self.fold_first_layer,
                   "fold a strided 3-channel layer to stride 1 (DNNsim)")
        check_choice("frontend", "group_mapping", self.group_mapping, GROUP_MAPPINGS)

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

    ``signed_precision`` (TCLp): the precision of a value of a tensor that holds negative
    values.  ``"twos-complement"`` (DNNsim's ``ShapeShifter``): the width of the value in
    two's complement, sign bit included, ``1 + max(1, bit_length(|x| - (x < 0)))`` -- 2 for
    a zero, 8 for -128 and for 127, 9 for 128; ``"sign-magnitude"``: the bit length of the
    magnitude, as for a tensor without negative values; ``"auto"`` (default):
    ``"twos-complement"`` when the quantisation rule used is ``"integer"`` (DNNsim's
    ``quantised: true`` traces hold two's complement integers), else ``"sign-magnitude"``.

    ``idle_padding_rows``: the rows that pad the last filter set of a layer (the filters do
    not fill it) hold no filter.  ``true`` (default, DNNsim): their PEs stay idle; ``false``
    (the rule before): they hold zero weights, which with ``skip_zero_weights = false``
    occupy their lanes, so their activations count in the step's cost.

    ``linear_columns`` (TCLp, TCLe; forward and backward-input of a linear layer, filters
    scheduled): what the columns share out.  ``"steps"`` (default, DNNsim's
    ``process_linear``): each sample on its own, the scheduled steps of its one input vector
    dealt round-robin to the columns, one dispatch a cycle, each column taking its step's
    own cost; ``"windows"`` (the rule before): a window (sample) per column, as for a
    convolution.
    """

    kind: str = "bit-parallel"
    bits_first_stage: int = 2
    column_registers: int = 1
    skip_zero_weights: bool = False
    quantisation: str = "auto"
    value_bits: int = 16
    precision_file: str = ""
    fraction_bits: int = 8
    signed_precision: str = "auto"
    idle_padding_rows: bool = True
    linear_columns: str = "steps"

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
        check_choice("backend", "signed_precision", self.signed_precision, SIGNED_PRECISIONS)
        check_bool("backend", "idle_padding_rows", self.idle_padding_rows,
                   "rows padding the last filter set stay idle")
        check_choice("backend", "linear_columns", self.linear_columns, LINEAR_COLUMNS)

    @property
    def serial(self) -> bool:
        """True for the bit-serial back ends ("tclp", "tcle")."""
        return self.kind in SERIAL_BACKENDS

    def describe(self) -> str:
        return f"back end {self.kind}"
