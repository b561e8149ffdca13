"""Cycle model of the Bit-Tactical-style array: pure functions, no state.

A pass of a layer is lowered (:mod:`accelsim.lowering.lower`) to problems of a *filter* operand
``F[n_filters, lines, lanes]`` and a *window* operand ``X[n_windows, lines, lanes]``.  One of
the two is *scheduled*: its members are grouped into buffers (``rows`` filters, or
``columns`` windows), each buffer goes through the static scheduler (:mod:`accelsim.kernels.scheduler`),
and its all-zero lines are skipped within the lookahead; the other operand streams.

With the filters scheduled (sets of ``rows`` filters, ``tiles`` sets per round, tiles in
lockstep)::

    compute = ceil(W / columns) * sum_rounds max_{sets in round} steps(set)
    base    = ceil(W / columns) * ceil(F / (tiles * rows)) * lines
    ideal   = ceil(W / columns) * sum_rounds max_{filters in round} ceil(nnz(f) / lanes)

With the windows scheduled (sets of ``columns`` windows, shared by all tiles)::

    compute = ceil(F / (tiles * rows)) * sum_{window sets} steps(set)
    base    = ceil(F / (tiles * rows)) * ceil(W / columns) * lines
    ideal   = ceil(F / (tiles * rows)) * sum_{window sets} max_{w in set} ceil(nnz(w) / lanes)

``[frontend] schedule``: ``"weights"`` schedules the filter operand (weights in forward and
backward-input, the output gradient in backward-weight), ``"activations"`` the window operand,
``"sparser"`` (default) whichever has the larger fraction of zeros over the whole, padded
lowered arrays of the pass.  The dense front end never skips: compute = base.

Back ends: bit-parallel (one line of products per step and cycle), or the bit-serial TCLp /
TCLe (:mod:`accelsim.kernels.recoding`), whose step costs come from the scheduled sources of every slot
(:func:`accelsim.kernels.serial._schedule_sources`) and the window operand's values; their base is
``pe_bits`` cycles per dense step.

Every problem also yields its *blocks* -- the cycles of each (filter round, window set) in
processing order (rounds outer), which sum to its compute cycles -- and the bytes and on-chip
access counts that the memory pipeline (:mod:`accelsim.pipeline.memory`) and the energy model
(:mod:`accelsim.pipeline.energy`) take; the pass assembler (:func:`accelsim.arrays.assemble.assemble_pass`) puts the three together.

:class:`BitTacticalModel` is the model of ``[array] kind = "bit-tactical"``: for the bit-serial
back ends the window operand of each pass (:data:`WINDOW_OPERAND`) is quantised as a whole
tensor to ``pe_bits`` sign-magnitude magnitudes
(:func:`accelsim.kernels.recoding.fixed_point_magnitudes`) before lowering; the filter operand
stays a mask.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np

from accelsim.arrays.base import ArrayModel, Work, as_masks, lowered_work
from accelsim.arrays.bitserial import (
    PRIORITY_CODES,
    bit_tactical_kernels,
    buffers,
    schedule_args,
    serial_blocks,
)
from accelsim.arrays.breakdown import ZERO, CycleBreakdown, ProblemTiming
from accelsim.arrays.grouping import chain_runs
from accelsim.arrays.passwork import (
    TIMED_PER_THREAD,
    choose_scheduled,
    scheduled_work,
    work_blocks,
)
from accelsim.errors import ConfigError, LoweringError
from accelsim.kernels import scheduler
from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.quantise import quantise_window, twos_complement
from accelsim.kernels.recoding import (
    fixed_point_magnitudes,
)
from accelsim.kernels.serial_filters import column_state
from accelsim.kernels.threads import current_threads, map_ordered
from accelsim.lowering.fold import fold_first_layer, folds
from accelsim.numeric import ceil_div
from accelsim.pipeline.area import mux_width
from accelsim.pipeline.energy import AccessCounts
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware

__all__ = ["PRIORITY_CODES", "WINDOW_OPERAND", "BitTacticalModel", "problem_timing",
           "select_bits", "set_steps"]

# the lowered window operand of each pass (the bit-serial one): index into PASS_ROLES[pass]
WINDOW_OPERAND = {"forward": 1, "backward_input": 1, "backward_weight": 0}


def _as_mask(a: np.ndarray) -> np.ndarray:
    """Boolean non-zero mask; bool input is used as is (no copy in the hot path)."""
    a = np.asarray(a)
    return a if a.dtype == bool else a != 0


def set_steps(buffers: np.ndarray, hw: Hardware) -> np.ndarray:
    """Scheduled step count of each buffer ``bool[sets, lines, members, lanes]``."""
    if hw.frontend.kind == "dense" or buffers.shape[0] == 0:
        return np.full(buffers.shape[0], buffers.shape[1], dtype=np.int64)
    offsets, lookahead, priority, lookaside = schedule_args(hw)
    return scheduler._schedule_steps(np.ascontiguousarray(buffers), offsets, lookahead,
                                     priority, lookaside)


def select_bits(hw: Hardware) -> int:
    """Multiplexer-select bits per scheduled slot: ``ceil(log2(offsets + 1))`` (the slot's own
    value or one of the front end's candidates); 0 for the dense front end."""
    k = len(hw.frontend.offsets())
    return math.ceil(math.log2(k + 1)) if k else 0


def _ideal_cycles(f: np.ndarray, x: np.ndarray, hw: Hardware, scheduled: str,
                  filter_rounds: int, window_sets: int) -> int:
    """Ideal cycles: every member of the scheduled operand at ``ceil(nnz / lanes)`` lines."""
    arr, lanes = hw.array, f.shape[2]
    if scheduled == "filters":
        per_filter = -(-f.sum(axis=(1, 2), dtype=np.int64) // lanes)
        pad = filter_rounds * arr.tiles * arr.rows - f.shape[0]
        ideal_rounds = np.pad(per_filter, (0, pad)).reshape(filter_rounds, -1).max(axis=1)
        return window_sets * int(ideal_rounds.sum())
    per_window = -(-x.sum(axis=(1, 2), dtype=np.int64) // lanes)
    pad = window_sets * arr.columns - x.shape[0]
    ideal_sets = np.pad(per_window, (0, pad)).reshape(window_sets, arr.columns).max(axis=1)
    return filter_rounds * int(ideal_sets.sum())


def _parallel_blocks(f: np.ndarray, x: np.ndarray, hw: Hardware, scheduled: str,
                     filter_rounds: int, window_sets: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit-parallel blocks of one problem: -> (block cycles, steps of each scheduled set)."""
    arr = hw.array
    steps = set_steps(buffers(f if scheduled == "filters" else x,
                               arr.rows if scheduled == "filters" else arr.columns), hw)
    if scheduled == "filters":
        per_round = np.pad(steps, (0, filter_rounds * arr.tiles - steps.size))
        per_round = per_round.reshape(filter_rounds, arr.tiles).max(axis=1)
        return np.repeat(per_round[:, None], window_sets, axis=1).astype(np.int64), steps
    return np.repeat(steps[None, :], filter_rounds, axis=0).astype(np.int64), steps


def _compute_counts(ops: int, hw: Hardware) -> AccessCounts:
    """Compute events of ``ops`` lane operations: bit-parallel products, or bit-serial lane
    cycles (TCLe's each also shifted through ``bits_first_stage`` 2:1 stages)."""
    if not hw.backend.serial:
        return AccessCounts(mac_ops=ops)
    shift = ops * hw.array.pe_bits * hw.backend.bits_first_stage if hw.backend.kind == "tcle" \
        else 0
    return AccessCounts(serial_ops=ops, shift_bits=shift)


def _bytes_and_counts(f: np.ndarray, n_w: int, steps: np.ndarray, hw: Hardware, scheduled: str,
                      compute: AccessCounts, window_source: int | None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, AccessCounts, AccessCounts]:
    """(round bytes, window-set bytes, out bytes per block, access counts of this machine
    and of its own dense twin) of one problem; ``steps``: those of each scheduled set;
    ``compute``: the machine's compute events."""
    arr, bits, sel = hw.array, hw.array.pe_bits, select_bits(hw)
    n_f, lines, lanes = f.shape
    filter_rounds, window_sets = ceil_div(n_f, arr.tiles * arr.rows), ceil_div(n_w, arr.columns)
    dense_f_bits = n_f * lines * lanes * bits            # filter operand, dense
    dense_x_bits = n_w * lines * lanes * bits            # window operand, lowered, dense
    out_bits = n_f * n_w * bits
    scheduled_slots = int(steps.sum()) * (arr.rows if scheduled == "filters" else arr.columns) \
        * lanes
    f_per_round = np.minimum(arr.tiles * arr.rows,
                             n_f - np.arange(filter_rounds) * arr.tiles * arr.rows)
    if scheduled == "filters":
        reads = window_sets * scheduled_slots * bits + filter_rounds * dense_x_bits
        meta = window_sets * scheduled_slots * sel
        selections = window_sets * scheduled_slots * arr.columns
        set_bytes = steps * arr.rows * lanes * (bits + sel)
        set_bytes = np.pad(set_bytes, (0, filter_rounds * arr.tiles - steps.size))
        round_bytes = -(-set_bytes.reshape(filter_rounds, arr.tiles).sum(axis=1) // 8)
    else:
        reads = window_sets * dense_f_bits + filter_rounds * scheduled_slots * bits
        meta = filter_rounds * scheduled_slots * sel
        selections = filter_rounds * scheduled_slots * arr.tiles * arr.rows
        round_bytes = -(-f_per_round * lines * lanes * bits // 8)
    source = n_w * lines * lanes if window_source is None else min(window_source, n_w * lines * lanes)
    per_set = np.minimum(arr.columns, n_w - np.arange(window_sets) * arr.columns)
    window_set_bytes = -(-per_set * source * bits // (8 * n_w))
    out_bytes = -(-np.outer(f_per_round, per_set) * bits // 8)
    counts = compute + AccessCounts(mux_bits=int(selections) * sel * mux_width(hw),
                                    buffer_read_bits=int(reads), buffer_write_bits=out_bits,
                                    metadata_bits=int(meta))
    dense_ops = n_f * n_w * lines * lanes * (bits if hw.backend.serial else 1)
    base_counts = _compute_counts(dense_ops, hw) + AccessCounts(
        buffer_read_bits=window_sets * dense_f_bits + filter_rounds * dense_x_bits,
        buffer_write_bits=out_bits)
    return (round_bytes.astype(np.int64), window_set_bytes.astype(np.int64),
            out_bytes.astype(np.int64), counts, base_counts)


def _performed_products(f: np.ndarray, x: np.ndarray, hw: Hardware, scheduled: str) -> int:
    """Products a bit-parallel array performs on one problem: every lane slot of every dense
    step with the dense front end; with TCL, each non-zero of the scheduled operand (zeros
    are skipped or their slot gated) against every member of the streamed operand."""
    if hw.frontend.kind == "dense":
        return int(f.size) * int(x.shape[0])
    if scheduled == "filters":
        return int(np.count_nonzero(f)) * int(x.shape[0])
    return int(np.count_nonzero(x)) * int(f.shape[0])


def problem_timing(filters: np.ndarray, windows: np.ndarray, hw: Hardware, scheduled: str, *,
                   window_source: int | None = None, window_key: object = None,
                   steps_to_columns: bool = False, held: np.ndarray | None = None,
                   carry: np.ndarray | None = None,
                   filters_key: object = None) -> ProblemTiming:
    """Cycles, blocks, bytes and access counts of one lowered problem with the ``"filters"``
    or ``"windows"`` operand scheduled.

    ``filters``: ``[n, lines, lanes]`` (values or mask; only non-zeros matter).  ``windows``:
    the same for the bit-parallel back end; for TCLp/TCLe its values -- uint16 magnitudes are
    used as they are (:func:`accelsim.kernels.recoding.fixed_point_magnitudes` of the whole
    tensor, as :meth:`BitTacticalModel.problems` does before lowering), int32 values are
    signed integers whose TCLp precision counts in two's complement
    (:func:`accelsim.kernels.quantise.twos_complement`), anything else is quantised here with
    this problem's own scale.  ``window_source``: distinct source
    elements behind the windows (default: the lowered elements) and ``window_key`` the
    identity of that source (problems with equal keys read the same data), for the memory
    model.  ``steps_to_columns`` (bit-serial, filters scheduled): every window on its own,
    its steps dealt round-robin to the columns (``[backend] linear_columns = "steps"``); the
    base stays a window per column.  ``held``, ``carry``: see
    :func:`~accelsim.arrays.bitserial.serial_blocks` (``LoweredProblem.held``; :func:`accelsim.arrays.grouping.chain_runs`).  ``filters_key``:
    the identity of the filter array (default ``id(filters)``;
    :attr:`~accelsim.lowering.layout.LoweredProblem.filters_key`).
    """
    f = _as_mask(filters)
    arr, is_serial, bits = hw.array, hw.backend.serial, hw.array.pe_bits
    if is_serial:
        w_raw = np.asarray(windows)
        signed = w_raw if w_raw.dtype == np.int32 else None
        if signed is not None:
            x_vals = np.abs(signed).astype(np.uint16)
        else:
            x_vals = w_raw if w_raw.dtype == np.uint16 else fixed_point_magnitudes(w_raw, bits)
        x = x_vals != 0
    else:
        x = _as_mask(windows)
    n_f, lines, lanes = f.shape
    n_w = x.shape[0]
    if scheduled not in ("filters", "windows"):
        raise ConfigError(f"scheduled must be 'filters' or 'windows', not {scheduled!r}")
    filter_rounds = ceil_div(n_f, arr.tiles * arr.rows)
    window_sets = ceil_div(n_w, arr.columns)
    base_filter_bytes = ceil_div(f.size * bits, 8)
    if n_f == 0 or n_w == 0 or lines == 0:
        empty = np.zeros((filter_rounds, window_sets), np.int64)
        return ProblemTiming(ZERO, empty, np.zeros(filter_rounds, np.int64),
                             np.zeros(window_sets, np.int64), empty,
                             base_filter_bytes=base_filter_bytes)
    effectual = int(f.sum(axis=0, dtype=np.int64).ravel() @ x.sum(axis=0, dtype=np.int64).ravel())
    base = filter_rounds * window_sets * lines * (bits if is_serial else 1)
    ideal = _ideal_cycles(f, x, hw, scheduled, filter_rounds, window_sets)
    if is_serial:
        block, steps, ops = serial_blocks(f, x_vals, hw, scheduled, signed, steps_to_columns,
                                           held, carry)
    else:
        block, steps = _parallel_blocks(f, x, hw, scheduled, filter_rounds, window_sets)
        ops = _performed_products(f, x, hw, scheduled)
    compute = int(block.sum())
    pe_lanes = arr.tiles * arr.rows * arr.columns * lanes
    breakdown = CycleBreakdown(base, compute, ideal, effectual, compute * pe_lanes, 0, scheduled)
    round_bytes, set_bytes, out_bytes, counts, base_counts = _bytes_and_counts(
        f, n_w, steps, hw, scheduled, _compute_counts(ops, hw), window_source)
    return ProblemTiming(breakdown, block, round_bytes, set_bytes, out_bytes, counts,
                         base_counts, id(filters) if filters_key is None else filters_key,
                         window_key, base_filter_bytes)


class BitTacticalModel(ArrayModel):
    """``[array] kind = "bit-tactical"``: the T/L scheduled array with its bit-parallel or
    bit-serial (TCLp, TCLe) back end (see the module docstring)."""

    kind = "bit-tactical"
    name = "Bit-Tactical"
    concurrent_passes = True

    def needs_values(self, hw: Hardware) -> bool:
        return hw.backend.serial

    def kernels(self, hw: Hardware, geometry: LayerGeometry | None) -> list[KernelCall]:
        return bit_tactical_kernels(hw, geometry)

    def problems(self, geometry: LayerGeometry, pass_name: str,
                 operands: Sequence[np.ndarray], hw: Hardware) -> Iterable[Work]:
        rule = ""
        if hw.backend.serial:  # the window operand is quantised: only the other is a mask
            i = WINDOW_OPERAND[pass_name]
            lowered = list(operands)
            lowered[1 - i] = as_masks([operands[1 - i]])[0]
            lowered[i], rule = quantise_window(operands[i], hw.backend, geometry.name, pass_name)
            if twos_complement(hw.backend, rule, operands[i]):  # TCLp reads the signs too
                lowered[i] = np.where(np.asarray(operands[i]) < 0, -lowered[i].astype(np.int32),
                                      lowered[i].astype(np.int32))
        else:
            lowered = as_masks(operands)
        if hw.frontend.fold_first_layer and folds(geometry, pass_name):
            geometry, lowered[0], lowered[1] = fold_first_layer(geometry, lowered[0], lowered[1])
        steps = (hw.backend.serial and hw.backend.linear_columns == "steps"
                 and geometry.kind == "linear" and pass_name != "backward_weight")
        return scheduled_work(lambda: lowered_work(
            geometry, pass_name, lowered[0], lowered[1], lanes=hw.array.lanes,
            traversal=hw.frontend.traversal, group_mapping=hw.frontend.group_mapping,
            rows=hw.array.rows, quantisation=rule, steps_to_columns=steps), hw)

    def timings(self, problems: Iterable[Work], hw: Hardware) -> list[ProblemTiming]:
        """The timings of a pass's work, timed a few problems per kernel thread at a time (the
        work streams: a pass made by :meth:`problems` holds one block of lowered problems)."""
        items = iter(problems)
        first = next(items, None)
        if first is None:
            return []
        if hw.array.lanes and first.problem.filters.shape[-1] != hw.array.lanes:
            raise LoweringError(f"problems were lowered for {first.problem.filters.shape[-1]} "
                                f"lanes, the array has {hw.array.lanes}; lower with "
                                "lanes = [array] lanes")
        work: Iterable[Work] = itertools.chain([first], items)
        scheduled = first.scheduled
        if not scheduled:  # work made elsewhere: chosen on the whole pass
            work = list(work)
            scheduled = choose_scheduled([w.problem for w in work], hw)
        arr = hw.array

        def run(chain: list[Work]) -> list[ProblemTiming]:
            carry = (column_state(arr.columns, hw.backend.column_registers) if len(chain) > 1
                     else None)
            out = []
            for w in chain:
                t = problem_timing(w.problem.filters, w.problem.windows, hw, scheduled,
                                   window_source=w.source, window_key=w.key,
                                   steps_to_columns=w.steps_to_columns, held=w.problem.held,
                                   carry=carry, filters_key=w.problem.filters_key)
                out.append(dataclasses.replace(t, breakdown=dataclasses.replace(
                    t.breakdown, quantisation=w.quantisation)) if w.quantisation else t)
            return out
        out: list[ProblemTiming] = []
        for block in work_blocks(chain_runs(work, hw, scheduled),
                                 TIMED_PER_THREAD * current_threads()):
            for part in map_ordered(run, block):
                out.extend(part)
        return out
