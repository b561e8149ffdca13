"""SCNN's cycle kernels (accelsim.kernels.scnn) against their numpy reference, on the work of
random layers (accelsim.arrays.scnn): every path (bank masks, layered masks, product
enumeration for more than 64 banks, the closed forms of lowered GEMMs), any thread count."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arrays.scnn import (
    closed_form_cycles,
    kernel_cycles,
    scnn_closed_form,
    scnn_problems,
    scnn_work,
)
from accelsim.kernels import scnn as scnn_kernels
from accelsim.kernels.scnn import _scnn_cycles_ref
from accelsim.kernels.threads import kernel_threads
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.kind_sections import ScnnSpec


def _conv(rng, n_in, n_out, size, k, stride, dilation, density, batch=1):
    pad = dilation * (k // 2)
    out = (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    g = LayerGeometry(name="c", kind="conv", in_channels=n_in, out_channels=n_out, kernel_h=k,
                      kernel_w=k, stride_h=stride, stride_w=stride, padding_h=pad,
                      padding_w=pad, dilation_h=dilation, dilation_w=dilation, input_h=size,
                      input_w=size, output_h=out, output_w=out)
    w = rng.random((n_out, n_in, k, k)) < density
    a = rng.random((batch, n_in, size, size)) < density
    grad = rng.random((batch, n_out, out, out)) < density
    return g, w, a, grad


def _problems(g, w, a, grad, spec):
    return (scnn_problems(g, "forward", w, a, spec)
            + scnn_problems(g, "backward_input", w, grad, spec)
            + scnn_problems(g, "backward_weight", a, grad, spec))


def _reference(p):
    w_ptr, w_kk, w_tap, tap_r, tap_s, a_ptr, a_y, a_x, geo = scnn_work(p)
    return _scnn_cycles_ref(w_ptr, w_kk, tap_r[w_tap], tap_s[w_tap], a_ptr, a_y, a_x, geo)


def _same(got, want):
    assert np.array_equal(got[0], want[0])
    assert tuple(int(v) for v in got[1:]) == tuple(int(v) for v in want[1:])


def _random_spec(rng, banks):
    return ScnnSpec(pe_rows=int(rng.integers(1, 4)), pe_columns=int(rng.integers(1, 4)),
                    weights_per_cycle=int(rng.integers(1, 6)),
                    activations_per_cycle=int(rng.integers(1, 6)),
                    accumulator_banks=banks, output_channel_group=int(rng.integers(1, 6)))


@pytest.mark.parametrize("seed", range(10))
def test_scnn_kernel_matches_reference(seed, monkeypatch):
    monkeypatch.setattr(scnn_kernels, "MIN_SPLIT", 0)  # split even the smallest work
    rng = np.random.default_rng(seed)
    g, w, a, grad = _conv(rng, int(rng.integers(1, 5)), int(rng.integers(1, 12)),
                          int(rng.integers(3, 10)), int(rng.choice([1, 2, 3])),
                          int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2])),
                          rng.uniform(0.2, 1))
    banks = int(rng.choice([1, 2, 3, 5, 8, 32, 64, 100]))
    for p in _problems(g, w, a, grad, _random_spec(rng, banks)):
        want = _reference(p)
        for threads in (1, 2):
            with kernel_threads(threads):
                _same(kernel_cycles(p), want)


@pytest.mark.parametrize("seed", range(4))
def test_scnn_layered_masks_match_reference(seed):
    """Few banks and tiles wider than the banks: products of one weight meet in a bank."""
    rng = np.random.default_rng(100 + seed)
    g, w, a, grad = _conv(rng, 3, 6, 12, 3, 1, 1, 0.9)
    spec = ScnnSpec(pe_rows=1, pe_columns=2, weights_per_cycle=3, activations_per_cycle=4,
                    accumulator_banks=int(rng.choice([2, 3, 4])), output_channel_group=2)
    for p in _problems(g, w, a, grad, spec):
        _same(kernel_cycles(p), _reference(p))


@pytest.mark.parametrize("seed", range(12))
def test_scnn_closed_forms_match_reference(seed, monkeypatch):
    monkeypatch.setattr(scnn_kernels, "MIN_SPLIT", 0)
    """Lowered GEMMs (backward-weight, linear layers) whose banks follow from the counts."""
    rng = np.random.default_rng(200 + seed)
    n_in = int(rng.choice([1, 2, 3, 4, 8, 16]))
    g, w, a, grad = _conv(rng, n_in, int(rng.integers(1, 10)), int(rng.integers(2, 7)),
                          int(rng.choice([1, 3])), 1, 1, rng.uniform(0.2, 1))
    spec = ScnnSpec(pe_rows=int(rng.integers(1, 3)), pe_columns=int(rng.integers(1, 4)),
                    weights_per_cycle=int(rng.integers(1, 5)),
                    activations_per_cycle=int(rng.integers(1, 5)),
                    accumulator_banks=int(rng.choice([1, 2, 4, 8, 16])),
                    output_channel_group=int(rng.integers(1, 5)))
    closed = 0
    for p in scnn_problems(g, "backward_weight", a, grad, spec):
        per_weight = scnn_closed_form(p)
        if per_weight is None:
            continue
        closed += 1
        got = closed_form_cycles(p, per_weight)
        _same(got, _reference(p))
        _same(got, kernel_cycles(p))
        with kernel_threads(2):
            _same(closed_form_cycles(p, per_weight), got)
    assert closed or seed % 3  # most seeds reach a closed form


def test_scnn_closed_forms_both_kinds():
    rng = np.random.default_rng(300)
    spec = ScnnSpec(pe_rows=2, pe_columns=2, weights_per_cycle=2, activations_per_cycle=2,
                    accumulator_banks=4, output_channel_group=3)
    kinds = set()
    for n_in in (4, 8, 3, 2):  # n_w = in-channels: a multiple of A or not; tw = 1 or 2
        g, w, a, grad = _conv(rng, n_in, 7, 5, 3, 1, 1, 0.7)
        for p in scnn_problems(g, "backward_weight", a, grad, spec):
            kind = scnn_closed_form(p)
            kinds.add(kind)
            if kind is not None:
                _same(closed_form_cycles(p, kind), _reference(p))
    assert {True, False} <= kinds
