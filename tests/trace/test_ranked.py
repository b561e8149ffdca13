"""The calibrated generator draws a block of samples at a time with the draws of one
whole-tensor draw (accelsim.trace.ranked), and holds a few bytes per element while it does."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from accelsim.trace import ranked
from accelsim.trace.ranked import HistogramStream, fork
from accelsim.trace.synthetic import SyntheticSpec, generate_layers


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_fork_reads_a_long_draw_in_blocks(bit_generator):
    """A fork reads the ``n`` doubles the generator would have drawn; the generator goes on
    after them, its buffered 32-bit half kept."""
    rng = np.random.Generator(bit_generator(7))
    rng.integers(0, 9, 1, dtype=np.uint32)  # leaves a 32-bit half buffered (PCG64)
    want = np.random.Generator(bit_generator(7))
    want.integers(0, 9, 1, dtype=np.uint32)
    whole, after = want.random(1000), (want.integers(0, 1 << 30, 3, dtype=np.uint32),
                                       want.random(5))
    stream = fork(rng, 1000)
    assert np.array_equal(np.concatenate([stream.random(k) for k in (1, 400, 599)]), whole)
    assert np.array_equal(rng.integers(0, 1 << 30, 3, dtype=np.uint32), after[0])
    assert np.array_equal(rng.random(5), after[1])


def test_histogram_stream_is_the_histogram_draw():
    spec = SyntheticSpec.for_method("resnet20", "swat-u", 0.9)
    hist = spec.profile_data().layers[3].roles["grad"].residual
    want = hist.sample(np.random.default_rng(3), 500)
    stream = HistogramStream(np.random.default_rng(3), hist, 500)
    got = np.concatenate([stream.take(k) for k in (7, 93, 400)])
    stream.restart()
    assert np.array_equal(got, want) and np.array_equal(stream.take(500), want)


def _layers(spec: SyntheticSpec, count: int) -> list:
    out = []
    for i, (g, ops) in enumerate(generate_layers(spec)):
        if i == count:
            break
        out.append((g.name, {p: {r: a.copy() for r, a in d.items()} for p, d in ops.items()}))
    return out


@pytest.mark.parametrize("saved", ["topk", "forward"])
def test_sample_blocks_draw_what_the_whole_tensor_draws(saved, monkeypatch):
    """One sample per block (SWAT's saved positions rank first with equal keys: those
    tensors take the whole tensor's order) gives the operands of one block per tensor."""
    spec = SyntheticSpec.for_method("resnet20", "swat-u", 0.9, batch=3, seed=4,
                                    saved_activation=saved)
    whole = _layers(spec, 4)
    monkeypatch.setattr(ranked, "BLOCK_ELEMENTS", 1)
    for (name, a), (_, b) in zip(whole, _layers(spec, 4), strict=True):
        for p in a:
            for r in a[p]:
                assert np.array_equal(a[p][r], b[p][r]), (name, p, r)


class _Keys:
    """Two blocks of keys; the second has equal keys."""

    def __init__(self) -> None:
        self.mask = np.ones((2, 4), dtype=bool)
        self.top = None
        self.keys = [np.array([3.0, 1.0, 2.0, 0.5]), np.array([1e4 + 2, 1e4 + 2, 1e4, 1e4 + 1])]
        self.restarts = 0

        class Residual:
            def restart(inner) -> None:
                self.restarts += 1
        self.residual = Residual()
        self.calls = 0

    def block(self, idx, s0, s1, group):
        self.calls += 1
        return self.keys[s0]


def test_a_block_with_equal_keys_takes_the_whole_tensors_order():
    keys = _Keys()
    blocks = [(0, 1, 0, 4), (1, 2, 4, 8)]
    orders = list(ranked._orders(keys, blocks, True, 8))
    whole = np.argsort(np.concatenate(keys.keys))
    assert np.array_equal(orders[0], [3, 1, 2, 0]) and np.array_equal(orders[1], whole[4:])
    assert keys.restarts == 1


def test_drawing_a_layer_holds_a_few_bytes_per_element(monkeypatch):
    """tracemalloc peak of drawing a calibrated batch-16 layer (the previous one dropped)
    over the bytes of its operands: about 2.7 here, where whole-tensor temporaries (index
    arrays, float64 copies) took 7.5."""
    monkeypatch.setattr(ranked, "BLOCK_ELEMENTS", 16 * 32 * 32)
    spec = SyntheticSpec.for_method("resnet20", "swat-u", 0.9, batch=16)
    layers = generate_layers(spec)
    next(layers)
    tracemalloc.start()
    try:
        _, ops = next(layers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    held = sum(a.nbytes for a in {id(a): a for d in ops.values() for a in d.values()}.values())
    assert peak < 4 * held, (peak, held)
