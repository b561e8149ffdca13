"""The one interface of an array model.

An array model turns one pass of one layer into cycles and energy in three steps:

1. :meth:`ArrayModel.problems` lowers the pass's operands (trace role order, see
   :data:`accelsim.trace.schema.PASS_ROLES`) into the model's units of work, an iterable
   that may make them one at a time as they are timed (the lowered operands of a whole
   batch need never sit in memory at once);
2. :meth:`ArrayModel.timings` times every unit as a
   :class:`~accelsim.arrays.breakdown.ProblemTiming` (cycles per block, bytes, access counts);
3. :func:`~accelsim.arrays.assemble.assemble_pass`, shared by every model, puts the timings
   together with the memory pipeline and the energy model.

:meth:`ArrayModel.run_pass` chains the three.  Models are found by ``[array] kind`` through
:mod:`accelsim.arrays.registry`, never by comparing kind strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from accelsim.arrays.assemble import assemble_pass
from accelsim.arrays.breakdown import CycleBreakdown, ProblemTiming
from accelsim.kernels.ahead import KernelCall
from accelsim.lowering.lower import LoweredProblem, iter_problems, window_source_elements
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware
from accelsim.trace.schema import PASSES

__all__ = ["ArrayModel", "GemmModel", "Work", "as_masks", "lowered_work"]


def as_masks(operands: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Boolean non-zero masks of the operands (bool input is used as is, no copy)."""
    out = []
    for a in operands:
        a = np.asarray(a)
        out.append(a if a.dtype == bool else a != 0)
    return out


@dataclass(frozen=True, eq=False)
class Work:
    """One lowered problem with what the memory model needs of it: ``source``, the distinct
    source elements behind its windows, and ``key``, the identity of that source tensor;
    ``quantisation``: the rule that made its serial operand's magnitudes ("" if none);
    ``steps_to_columns``: a bit-serial linear layer's windows each deal their steps to the
    columns (``[backend] linear_columns = "steps"``)."""

    problem: LoweredProblem
    source: int | None = None
    key: object = None
    quantisation: str = ""
    steps_to_columns: bool = False
    scheduled: str = ""  # Bit-Tactical: the operand scheduled in this pass ("": not chosen)


def lowered_work(geometry: LayerGeometry, pass_name: str, first: np.ndarray,
                 second: np.ndarray, *, lanes: int, traversal: str = "row-major",
                 group_mapping: str = "per-group", rows: int | None = None,
                 **fields: Any) -> Iterator[Work]:
    """The pass lowered with ``lanes`` lanes in ``traversal`` order, depthwise layers by
    ``group_mapping`` on ``rows`` PE rows, one problem at a time
    (:func:`accelsim.lowering.lower.iter_problems`), each with its window source and key
    (:func:`accelsim.lowering.lower.lower_with_sources`) and ``fields`` of :class:`Work`."""
    for p in iter_problems(geometry, pass_name, first, second, lanes=lanes, traversal=traversal,
                           group_mapping=group_mapping, rows=rows):
        yield Work(p, window_source_elements(geometry, p.tag), p.tag[:4], **fields)


class ArrayModel(ABC):
    """One kind of PE array: ``kind`` is its ``[array] kind``, ``name`` a human label,
    ``passes`` the training passes it models; ``self_baseline``: the machine is its own dense
    baseline (its base energy is its energy); ``concurrent_passes``: the passes of a small
    layer may run at the same time on the kernel threads (:func:`accelsim.simulate.
    simulate_operands`), worth it where much of a pass holds the GIL (preparation in numpy)
    and the memory of two passes in flight is small."""

    kind: ClassVar[str]
    name: ClassVar[str]
    passes: ClassVar[tuple[str, ...]] = PASSES
    self_baseline: ClassVar[bool] = False
    concurrent_passes: ClassVar[bool] = False

    def needs_values(self, hw: Hardware) -> bool:
        """Whether the model reads operand values (else only the non-zero masks)."""
        return False

    def kernels(self, hw: Hardware, geometry: LayerGeometry | None) -> list[KernelCall]:
        """The compiled kernels the passes of ``geometry`` (None: of any layer) run on
        ``hw``, each with the signature it is called with
        (:func:`accelsim.kernels.ahead.compile_ahead` compiles those missing from the cache
        ahead, several at once); none by default."""
        return []

    @abstractmethod
    def problems(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> Sequence[Any]:
        """The units of work of one pass; ``operands`` in trace role order (values when
        :meth:`needs_values`, else masks or values)."""

    @abstractmethod
    def timings(self, problems: Sequence[Any], hw: Hardware) -> list[ProblemTiming]:
        """The timing of every unit of :meth:`problems`, in processing order."""


    def run_pass(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> CycleBreakdown:
        """Cycles and energy of one pass of one layer on ``hw``."""
        problems = self.problems(geometry, pass_name, operands, hw)
        return assemble_pass(self.timings(problems, hw), hw, self_baseline=self.self_baseline)


class GemmModel(ArrayModel):
    """A model that runs the pass's lowered GEMMs with one reduction element per line
    (``lanes = 1``): its work is :class:`Work`, timed one problem at a time."""

    def problems(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> Iterator[Work]:
        first, second = as_masks(operands)
        return lowered_work(geometry, pass_name, first, second, lanes=1)

    def timings(self, problems: Iterable[Work], hw: Hardware) -> list[ProblemTiming]:
        return [self.problem_timing(w, hw) for w in problems]

    @abstractmethod
    def problem_timing(self, work: Work, hw: Hardware) -> ProblemTiming:
        """The timing of one lowered problem."""

