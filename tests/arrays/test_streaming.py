"""Layers stream (issue 18, memory): a pass's lowered problems are made a few at a time as they
are timed, with the cycles and energy of the whole pass held at once, and the memory of a
layer grows with its tensors, not with its lowered operands."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from accelsim.arrays import passwork
from accelsim.kernels import recoding
from accelsim.simulate import kernel_threads, layer_geometry_for, simulate_operands
from accelsim.spec.hardware import builtin_hardware

BACK_ENDS = ("bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "scnn")


def _operands(batch: int, in_channels: int = 16, size: int = 16, kernel: int = 3,
              stride: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)

    def sparse(shape, density, signed=True):
        v = rng.standard_normal(shape).astype(np.float32)
        v = v if signed else np.abs(v)
        return np.where(rng.random(shape) < density, v, np.float32(0))

    w = sparse((16, in_channels, kernel, kernel), 0.3)
    a = sparse((batch, in_channels, size, size), 0.5, signed=False)
    g = layer_geometry_for(w, a, stride=stride, padding=kernel // 2, name="conv")
    grad = sparse(g.grad_shape(batch), 0.7)
    return g, {"forward": {"weight": w, "activation": a},
               "backward_input": {"weight": w, "grad": grad},
               "backward_weight": {"activation": a, "grad": grad}}


@pytest.mark.parametrize("name", [*BACK_ENDS, "systolic-os-32x32", "ideal"])
@pytest.mark.parametrize("shape", [{"stride": 2}, {"in_channels": 3, "kernel": 7, "stride": 2}])
def test_streamed_pass_equals_held_pass(name, shape, monkeypatch):
    """Lowered twice and timed a block at a time (STREAM_BYTES = 0) or held whole: the same
    cycles and energy, for any thread count (the first layer folds on Bit-Tactical)."""
    g, ops = _operands(3, **shape)
    hw = builtin_hardware(name)
    held = simulate_operands(g, ops, hw).passes
    monkeypatch.setattr(passwork, "STREAM_BYTES", 0)
    for threads in (1, 2):
        with kernel_threads(threads):
            assert simulate_operands(g, ops, hw).passes == held


def _peak(g, ops, hw) -> int:
    tracemalloc.start()
    try:
        with kernel_threads(1):
            simulate_operands(g, ops, hw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", BACK_ENDS)
def test_a_layer_at_batch_16_holds_its_tensors_not_its_lowered_batch(name, monkeypatch):
    """The memory a 5x5 layer's simulation allocates (tracemalloc peak) at batch 16 is its
    batch-1 peak plus a few bytes per element of its tensors (masks, serial magnitudes):
    holding the 25 lowered copies of the whole batch, as a pass lowered at once does,
    takes 20-26 bytes per element here."""
    monkeypatch.setattr(passwork, "STREAM_BYTES", 0)
    monkeypatch.setattr(recoding, "QUANTISE_BLOCK", 4096)
    hw = builtin_hardware(name)
    g1, ops1 = _operands(1, kernel=5)
    g16, ops16 = _operands(16, kernel=5)
    _peak(g1, ops1, hw)  # kernels loaded
    one, sixteen = _peak(g1, ops1, hw), _peak(g16, ops16, hw)
    elements = ops16["forward"]["activation"].size + ops16["backward_weight"]["grad"].size
    assert sixteen - one < 10 * elements, (one, sixteen, elements)
