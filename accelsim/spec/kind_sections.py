"""The sections of the array kinds other than Bit-Tactical, each sizing its own array:
``[systolic]`` (SCALE-Sim's dense systolic array), ``[scnn]`` (SCNN) and ``[ideal]`` (the
ideal sparse array).  The section tables of each kind: :mod:`accelsim.spec.sections`."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.spec.checks import check_choice, check_int

DATAFLOWS = ("os", "ws", "is")
SYSTOLIC_COMPAT = ("scalesim", "pipelined")
OUTPUT_SIZES = ("auto", "scalesim", "exact")


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
