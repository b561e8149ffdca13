"""Results are the same for any kernel thread count; the thread options are checked."""

from __future__ import annotations

import json
import multiprocessing

import numpy as np
import pytest

from accelsim.api import simulate_synthetic
from accelsim.errors import ConfigError
from accelsim.explore.executors import worker_threads
from accelsim.kernels.recoding import booth_terms, precisions
from accelsim.kernels.serial import TCLE, TCLP, _schedule_sources, schedule_sources
from accelsim.kernels.serial_filters import serial_filters
from accelsim.kernels.serial_ref import _serial_filters_ref
from accelsim.kernels.threads import _guided, kernel_threads, map_ordered, split_run
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


def test_nested_jobs_come_back_in_order_for_any_thread_count(monkeypatch):
    """Jobs inside jobs (passes > problems > kernel ranges) give the same results in item
    order, and every item runs exactly once (more threads than cores too)."""
    monkeypatch.setenv("NUMBA_NUM_THREADS", "4")
    def item(x):
        out = np.zeros(100, np.int64)

        def fill(a, b):
            out[a:b] = np.arange(a, b) * x
        split_run(fill, 100, 3)
        inner = map_ordered(lambda y: x * 1000 + y, range(x % 4))
        return int(out.sum()), inner

    want = [item(x) for x in range(9)]
    for threads in (1, 2, 3, 4):
        with kernel_threads(threads):
            assert map_ordered(item, range(9)) == want


def test_the_first_failing_item_is_raised(monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    def item(x):
        if x in (3, 5):
            raise ValueError(f"item {x}")
        return x

    for threads in (1, 2, 3):
        with kernel_threads(threads), pytest.raises(ValueError, match="item 3"):
            map_ordered(item, range(8))


def test_guided_ranges_cover_the_work_and_shrink():
    for blocks in (2, 3, 7, 25, 1000):
        for threads in (2, 3, 8):
            sizes = _guided(blocks, threads)
            assert sum(sizes) == blocks and min(sizes) >= 1
            assert sizes == sorted(sizes, reverse=True)


def test_split_schedule_sources_matches_one_call():
    rng = np.random.default_rng(3)
    nonzero = rng.random((7, 5, 4, 8)) < 0.4
    want = _schedule_sources(nonzero, T25, 2, 0, 5, True)
    for threads in (1, 2, 3):
        with kernel_threads(threads):
            got = schedule_sources(nonzero, T25, 2, 0, 5, True)
        assert (got[0] == want[0]).all() and (got[1] == want[1]).all()


@pytest.mark.parametrize("name", ["bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle"])
def test_a_layer_with_split_kernels_and_concurrent_passes_gives_identical_json(name,
                                                                             monkeypatch):
    """A 3x3 conv with enough windows that the step costs split into ranges, its three passes
    run at the same time: the same JSON for 1, 2 and 3 threads."""
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    rng = np.random.default_rng(11)
    w = rng.standard_normal((32, 16, 3, 3)) * (rng.random((32, 16, 3, 3)) < 0.3)
    a = np.maximum(rng.standard_normal((2, 16, 24, 24)), 0)
    grad = rng.standard_normal((2, 32, 24, 24)) * (rng.random((2, 32, 24, 24)) < 0.5)
    got = [json.dumps(simulate_layer(w, a, padding=1, output_grad=grad, hardware=name,
                                     threads=t).to_dict(), sort_keys=True)
           for t in (1, 2, 3)]
    assert got[0] == got[1] == got[2]
