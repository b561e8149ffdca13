"""Memory pipeline: off-chip DRAM, on-chip weight/activation buffers and the tiles (SimPy).

A pass is a sequence of *blocks* in the order the array computes them (problem by problem;
inside a problem filter round by filter round, and inside a round the window tiles).  The data
a block needs comes in *tiles*:

* a **filter tile** is as many consecutive filter rounds as fit one weight-buffer slot (at
  least one round); its bytes are the filter operand as stored -- the scheduled buffers
  (``steps x rows x lanes x (pe_bits + select bits)``) when the filters are scheduled, else
  the dense lines (``lines x lanes x pe_bits``);
* a **window tile** is as many consecutive window sets as fit one activation-buffer slot (at
  least one set); its bytes are the *source* elements its windows read (the im2col
  duplication removed: ``accelsim.lowering.lower.window_source_elements`` / lowered elements of the problem) x
  ``pe_bits / 8``.

A slot is the whole buffer, or half of it with ``double_buffering`` (two slots: the next tile
loads while the current one computes).  A tile stays resident while consecutive blocks use it
(e.g. the weights across the samples of a forward pass, a window operand that fits one slot
across filter rounds, or the activation behind the kernel-tap problems of backward-weight);
otherwise it is loaded again.  After each block its outputs
(``filters x windows x pe_bits / 8`` bytes) are written back to DRAM.

``[memory] kind = "dram"`` runs the SimPy model: one DRAM channel (a ``simpy.Resource``) serves
loads and write-backs in request order, each transfer taking ``latency_ns * clock_ghz +
bytes / (bandwidth_gb_per_s / clock_ghz)`` cycles; free buffer slots are ``simpy.Container``
levels; a loader process fetches tiles in block order as slots free up, the compute process
runs each block for its cycles (from the pure cycle model) once its tiles are in, then frees
the tiles it used last.  One event per transfer or block, never per cycle.  Stall cycles =
``ceil(end - sum of block cycles)``, where ``end`` is when the last block and the last
write-back are done.

``"ideal"`` (the paper's assumption: each buffer holds a whole layer, latency hidden) never
stalls; each operand is read from DRAM once and each output written once (counted for energy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from accelsim.spec.hardware import Hardware

__all__ = ["Block", "MemoryResult", "blocks_of", "memory_traffic", "pass_memory"]


@dataclass(frozen=True)
class Block:
    """One unit of compute and the tiles it needs.  ``filter_tile`` / ``window_tile`` are
    tile *instances*: a block whose instance differs from the previous block's loads it
    (``*_bytes`` bytes); ``out_bytes`` are written back after the block."""

    cycles: int
    filter_tile: int
    filter_bytes: int
    window_tile: int
    window_bytes: int
    out_bytes: int


@dataclass(frozen=True)
class MemoryResult:
    """Stall cycles of a pass and its DRAM traffic (bytes loaded and stored)."""

    stall_cycles: int
    dram_read_bytes: int
    dram_write_bytes: int


def _group(sizes: Sequence[int], capacity: int) -> list[tuple[int, int]]:
    """Consecutive ranges ``[start, end)`` whose sizes sum to at most ``capacity`` (each range
    holds at least one item)."""
    out: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > capacity:
            out.append((start, i))
            start, total = i, 0
        total += size
    if len(sizes):
        out.append((start, len(sizes)))
    return out


def blocks_of(problems: Sequence, hw: Hardware) -> list[Block]:
    """The blocks of a pass from its problems' timings (:class:`accelsim.arrays.breakdown.ProblemTiming`),
    tiled for ``hw.memory``'s buffers (see the module docstring; ``"ideal"`` buffers hold any
    operand whole)."""
    mem = hw.memory
    slots = 2 if mem.double_buffering else 1
    w_slot = max(1, mem.weight_buffer_bytes // slots)
    a_slot = max(1, mem.activation_buffer_bytes // slots)
    if mem.kind == "ideal":  # each buffer holds a whole layer
        w_slot = a_slot = 1 << 62
    blocks: list[Block] = []
    f_inst = w_inst = -1
    f_key = w_key = None
    for index, p in enumerate(problems):
        f_tiles = _group(p.round_bytes, w_slot)
        # per window tile: its bytes, and the cycles and output bytes of every round with it
        w_tiles = [(int(sum(p.window_set_bytes[s0:s1])),
                    np.asarray(p.block_cycles)[:, s0:s1].sum(axis=1).tolist(),
                    np.asarray(p.out_bytes)[:, s0:s1].sum(axis=1).tolist())
                   for s0, s1 in _group(p.window_set_bytes, a_slot)]
        window = ("problem", index) if p.window_key is None else p.window_key
        for ft, (r0, r1) in enumerate(f_tiles):
            f_bytes = int(sum(p.round_bytes[r0:r1]))
            key = (p.filters_key, ft)
            for rnd in range(r0, r1):
                for wt, (w_bytes, cycles, out) in enumerate(w_tiles):
                    if key != f_key:
                        f_key, f_inst = key, f_inst + 1
                    if (window, wt) != w_key:
                        w_key, w_inst = (window, wt), w_inst + 1
                    blocks.append(Block(int(cycles[rnd]), f_inst, f_bytes, w_inst, w_bytes,
                                        int(out[rnd])))
    return blocks


def memory_traffic(blocks: Sequence[Block]) -> tuple[int, int]:
    """(bytes loaded, bytes stored) by a block sequence: each tile instance once, every
    block's outputs once."""
    read = 0
    f_prev = w_prev = -1
    for b in blocks:
        if b.filter_tile != f_prev:
            read += b.filter_bytes
            f_prev = b.filter_tile
        if b.window_tile != w_prev:
            read += b.window_bytes
            w_prev = b.window_tile
    return read, sum(b.out_bytes for b in blocks)


def _dram_run(blocks: Sequence[Block], hw: Hardware) -> float:
    """SimPy model of the blocks on ``hw``; -> the cycle at which everything is done."""
    mem = hw.memory
    latency = mem.latency_ns * hw.array.clock_ghz          # cycles
    bytes_per_cycle = mem.bandwidth_gb_per_s / hw.array.clock_ghz
    slots = 2 if mem.double_buffering else 1
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    free = {"f": simpy.Container(env, capacity=slots, init=slots),
            "w": simpy.Container(env, capacity=slots, init=slots)}
    ready: dict[tuple[str, int], simpy.Event] = {}
    loads: list[tuple[str, int, int]] = []
    last_use: dict[tuple[str, int], int] = {}
    for i, b in enumerate(blocks):
        for op, inst, size in (("f", b.filter_tile, b.filter_bytes),
                               ("w", b.window_tile, b.window_bytes)):
            if (op, inst) not in ready:
                ready[op, inst] = env.event()
                loads.append((op, inst, size))
            last_use[op, inst] = i

    def transfer(size: int):
        with dram.request() as req:
            yield req
            yield env.timeout(latency + size / bytes_per_cycle)

    def loader():
        for op, inst, size in loads:
            yield free[op].get(1)
            yield env.process(transfer(size))
            ready[op, inst].succeed()

    def compute():
        for i, b in enumerate(blocks):
            yield ready["f", b.filter_tile] & ready["w", b.window_tile]
            yield env.timeout(b.cycles)
            for op, inst in (("f", b.filter_tile), ("w", b.window_tile)):
                if last_use[op, inst] == i:
                    yield free[op].put(1)
            if b.out_bytes:
                env.process(transfer(b.out_bytes))

    env.process(loader())
    env.process(compute())
    env.run()
    return float(env.now)


def pass_memory(blocks: Sequence[Block], hw: Hardware) -> MemoryResult:
    """Stalls and DRAM traffic of a pass's blocks on ``hw.memory``.  ``"ideal"``: no
    stalls, the traffic of :func:`memory_traffic`.  ``"dram"``: the SimPy model."""
    read, write = memory_traffic(blocks)
    if hw.memory.kind == "ideal" or not blocks:
        return MemoryResult(0, read, write)
    end = _dram_run(blocks, hw)
    compute = sum(b.cycles for b in blocks)
    return MemoryResult(max(0, math.ceil(end - compute - 1e-9)), read, write)
