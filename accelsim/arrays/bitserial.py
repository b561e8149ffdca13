"""The bit-serial back ends (TCLp, TCLe) of the Bit-Tactical array
(:mod:`accelsim.arrays.bittactical`): the blocks of one problem from its scheduled sources and
the window operand's codes, and the kernels a machine's passes run (the scheduler's, the
bit-serial cost kernels and recurrences) for compiling them ahead
(:func:`accelsim.kernels.ahead.compile_ahead`)."""

from __future__ import annotations

import numpy as np

from accelsim.arrays.grouping import idle_unheld
from accelsim.kernels import scheduler, serial
from accelsim.kernels.ahead import KernelCall
from accelsim.kernels.recoding import serial_codes, twos_complement_precisions
from accelsim.kernels.serial_filters import kernel_calls as serial_filters_calls
from accelsim.kernels.serial_filters import serial_filters
from accelsim.numeric import ceil_div
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware

__all__ = ["PRIORITY_CODES", "bit_tactical_kernels", "buffers", "schedule_args",
           "serial_blocks"]

PRIORITY_CODES = {"least-flexible": 0, "most-flexible": 1, "non-overlapping": 2}


def schedule_args(hw: Hardware) -> tuple[np.ndarray, int, int, int]:
    """(offsets ``int64[k, 2]``, lookahead, priority code, lookaside) of the front end."""
    fe = hw.frontend
    offsets = np.asarray(fe.offsets(), dtype=np.int64).reshape(-1, 2)
    lookahead = int(offsets[:, 0].max()) if offsets.size else 0
    return offsets, lookahead, PRIORITY_CODES[fe.priority], fe.lookaside


def buffers(members: np.ndarray, group: int) -> np.ndarray:
    """``bool[n, lines, lanes]`` -> ``bool[ceil(n/group), lines, group, lanes]`` (zero-padded)."""
    n, lines, lanes = members.shape
    sets = ceil_div(n, group)
    padded = np.zeros((sets * group, lines, lanes), dtype=bool)
    padded[:n] = members
    return padded.reshape(sets, group, lines, lanes).transpose(0, 2, 1, 3)


def serial_blocks(f: np.ndarray, x_vals: np.ndarray, hw: Hardware, scheduled: str,
                   signed: np.ndarray | None = None, steps_to_columns: bool = False,
                   held: np.ndarray | None = None, carry: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Bit-serial blocks of one problem: -> (block cycles, steps of each scheduled set,
    lane operations).  ``f``: filter mask; ``x_vals``: window magnitudes (uint16);
    ``signed``: the window values as signed integers when TCLp counts their precision in
    two's complement (``[backend] signed_precision``), else None; ``steps_to_columns``: each
    window deals its steps to the columns (filters scheduled; ``[backend] linear_columns``);
    ``held``: the filter slots holding a weight, or None (all); with weight skipping a slot
    without one is idle (the dense front end feeds every lane, as DNNsim's does); ``carry``:
    the column state a previous problem left (filters scheduled; see :func:`serial_filters`)."""
    if hw.frontend.kind == "dense":
        held = None
    arr, be = hw.array, hw.backend
    n_f, lines, lanes = f.shape
    mode = serial.TCLP if be.kind == "tclp" else serial.TCLE
    signed_codes = (None if signed is None else
                    twos_complement_precisions(signed.reshape(signed.shape[0], -1)))
    window = 1 << be.bits_first_stage
    offsets, lookahead, priority, lookaside = schedule_args(hw)
    if hw.frontend.kind == "dense":
        # every line is a step; zero weights occupy their lanes unless skipped
        offsets, lookahead = offsets[:0], 0
    if scheduled == "filters":
        nonzero = np.ascontiguousarray(buffers(f, arr.rows))
        if hw.frontend.kind == "dense" and not be.skip_zero_weights:
            nonzero = np.ones_like(nonzero)  # the dense front end feeds every slot
        steps, src = serial.schedule_sources(nonzero, offsets, lookahead, priority, lookaside,
                              not be.skip_zero_weights)
        if be.idle_padding_rows:  # rows padding the last filter set hold no filter
            src[-1, :, n_f - (nonzero.shape[0] - 1) * arr.rows:, :] = -1
        if held is not None:
            idle_unheld(src, held, arr.rows)
        codes_t = (serial_codes(x_vals, be.kind, transposed=True) if signed_codes is None
                   else np.ascontiguousarray(signed_codes.T))
        block, ops = serial_filters(src, steps, codes_t, arr.tiles, arr.columns, mode, window,
                                    be.column_registers, steps_to_columns, carry)
        return block, steps, ops
    codes = serial_codes(x_vals, be.kind) if signed_codes is None else signed_codes
    x = x_vals != 0
    nonzero = np.ascontiguousarray(buffers(x, arr.columns))
    if hw.frontend.kind == "dense":
        nonzero = np.ones_like(nonzero)
    steps, src = serial.schedule_sources(nonzero, offsets, lookahead, priority, lookaside, True)
    # a filter lane without a weight is masked like a skipped zero weight
    lane_mask = f if be.skip_zero_weights or held is None else held
    filt = np.ascontiguousarray(lane_mask.reshape(n_f, lines * lanes))
    block, ops = serial._serial_windows(src, steps, codes, filt, n_f, arr.tiles * arr.rows,
                                          mode, window, be.column_registers,
                                          be.skip_zero_weights or held is not None)
    return block, steps, int(ops)


def bit_tactical_kernels(hw: Hardware, geometry: LayerGeometry | None) -> list[KernelCall]:
    """The scheduler's fill rule (not for a dense bit-parallel front end) and, bit-serial,
    the cost kernels and recurrence of each operand ``[frontend] schedule`` may pick (a
    linear layer's steps recurrence too, ``[backend] linear_columns = "steps"``; ``geometry``
    None: any layer's)."""
    fe, be = hw.frontend, hw.backend
    if not be.serial:
        return [] if fe.kind == "dense" else scheduler.kernel_calls(PRIORITY_CODES[fe.priority])
    mode = serial.TCLP if be.kind == "tclp" else serial.TCLE
    out = scheduler.kernel_calls(PRIORITY_CODES[fe.priority])
    if fe.schedule != "activations":
        out += serial_filters_calls(mode, be.linear_columns == "steps"
                                    and (geometry is None or geometry.kind == "linear"))
    if fe.schedule != "weights":
        out += serial.windows_calls(mode, be.skip_zero_weights)
    return out
