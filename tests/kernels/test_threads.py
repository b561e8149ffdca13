"""Results are the same for any kernel thread count; the thread options are checked."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from accelsim.api import simulate_synthetic
from accelsim.errors import ConfigError
from accelsim.explore.executors import worker_threads
from accelsim.kernels.recoding import booth_terms, precisions
from accelsim.kernels.serial import TCLE, TCLP, _schedule_sources
from accelsim.kernels.serial_filters import serial_filters
from accelsim.kernels.serial_ref import _serial_filters_ref
from accelsim.kernels.threads import kernel_threads
from accelsim.simulate import simulate_layer
from accelsim.spec.hardware import load_hardware

T25 = np.array([(1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2)], np.int64)


@pytest.mark.parametrize("mode", [TCLP, TCLE])
def test_filter_kernel_over_several_window_chunks_matches_reference(mode):
    rng = np.random.default_rng(5 + mode)
    n_win, lines, lanes = 150, 3, 8  # more windows than one chunk (64): split among threads
    mags = rng.integers(0, 1 << 15, (n_win, lines * lanes)) >> rng.integers(0, 15, (n_win, 1))
    mags = (mags * (rng.random(mags.shape) < 0.6)).astype(np.uint16)
    codes = precisions(mags) if mode == TCLP else booth_terms(mags)
    steps, src = _schedule_sources(rng.random((3, lines, 2, lanes)) < 0.4, T25, 2, 0, 5, True)
    want = _serial_filters_ref(src, steps, codes, n_win, 2, 3, mode, 4, 1)
    for threads in (1, 2, 3):
        with kernel_threads(threads):
            got = serial_filters(src, steps, np.ascontiguousarray(codes.T), 2, 3, mode, 4, 1)
        assert (got[0] == want[0]).all() and got[1] == want[1]


@pytest.mark.parametrize("name", ["bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle",
                                  "scnn"])
def test_any_thread_count_gives_the_same_report(name):
    hw = load_hardware(name)
    reports = [simulate_synthetic("digits-cnn", hw, dataset="digits", batch=2, threads=t)
               for t in (1, 2, 3)]
    assert reports[0].to_dict() == reports[1].to_dict() == reports[2].to_dict()


def test_simulate_layer_threads():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4, 3, 3)) * (rng.random((8, 4, 3, 3)) < 0.3)
    a = np.maximum(rng.standard_normal((1, 4, 9, 9)), 0)
    hw = load_hardware("bit-tactical-tcle")
    one = simulate_layer(w, a, padding=1, hardware=hw, threads=1).to_dict()
    assert simulate_layer(w, a, padding=1, hardware=hw, threads=2).to_dict() == one
    with pytest.raises(ConfigError, match="threads"):
        simulate_layer(w, a, hardware=hw, threads=0)


def test_workers_divide_the_cores():
    assert worker_threads(1, 8) == 8
    assert worker_threads(3, 8) == 2
    assert worker_threads(16, 8) == 1


def _tcle_report(_: int = 0) -> dict:
    return simulate_synthetic("digits-cnn", load_hardware("bit-tactical-tcle"),
                              dataset="digits", batch=1, threads=2).to_dict()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_process_runs_the_parallel_kernels():
    """The parallel kernels ran here first; a forked child runs them too (GNU OpenMP, numba's
    fallback without TBB, would abort the child: accelsim.kernels.threads picks a fork-safe
    layer)."""
    want = _tcle_report()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_tcle_report, (0,)).get(timeout=300)
    assert got == want
