"""Compiling ahead (:mod:`accelsim.kernels.ahead`): each machine declares the kernels its
passes run, the work is dealt by unit, and kernels compiled by forked children load in the
parent and give the references' results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from accelsim.arrays.registry import model_for
from accelsim.kernels.ahead import KernelCall, _deal
from accelsim.simulate import simulate_operands
from accelsim.spec.hardware import load_hardware


class _Recorder:
    """Calls a kernel and records the signature of every call from python."""

    def __init__(self, kernel: CPUDispatcher, seen: set) -> None:
        self.kernel, self.seen = kernel, seen

    def __getattr__(self, name: str):  # compile_ahead reads the kernel's overloads
        return getattr(self.kernel, name)

    def __call__(self, *args):
        self.seen.add((id(self.kernel), tuple(self.kernel.typeof_pyval(a) for a in args)))
        return self.kernel(*args)


def _record_calls(monkeypatch) -> set[tuple[int, tuple]]:
    """Every kernel of the package (module attributes, values of module-level dicts) behind a
    :class:`_Recorder`; -> the set the (kernel, signature) of each call goes to."""
    seen: set[tuple[int, tuple]] = set()
    for name, mod in list(sys.modules.items()):
        if not name.startswith("accelsim."):
            continue
        for attr, v in list(vars(mod).items()):
            if isinstance(v, CPUDispatcher):
                monkeypatch.setattr(mod, attr, _Recorder(v, seen))
            elif isinstance(v, dict):
                for key, d in list(v.items()):
                    if isinstance(d, CPUDispatcher):
                        monkeypatch.setitem(v, key, _Recorder(d, seen))
    return seen


MACHINES = [
    ("bit-tactical", {}),
    ("bit-tactical", {"frontend.schedule": "activations"}),
    ("bit-tactical", {"frontend.priority": "non-overlapping"}),
    ("bit-tactical-tclp", {"frontend.schedule": "weights"}),
    ("bit-tactical-tclp", {"frontend.schedule": "activations"}),
    ("bit-tactical-tcle", {"frontend.schedule": "weights"}),
    ("bit-tactical-tcle", {"frontend.schedule": "activations",
                           "backend.skip_zero_weights": True}),
    ("bit-tactical-tcle", {"backend.linear_columns": "windows"}),
    ("scnn", {}),
    ("dadiannao", {}),
]


@pytest.mark.parametrize(("name", "changes"), MACHINES,
                         ids=[f"{n}{c}" for n, c in MACHINES])
def test_passes_call_only_the_declared_kernels(name, changes, conv3x3, conv_strided, linear,
                                               operands_for):
    hw = load_hardware(name)
    hw = hw.replace(**changes) if changes else hw
    model = model_for(hw)
    rng = np.random.default_rng(3)
    called = set()
    for g in (conv3x3, conv_strided, linear):
        declared = {(id(c.kernel), tuple(c.signature)) for c in model.kernels(hw, g)}
        with pytest.MonkeyPatch.context() as mp:
            seen = _record_calls(mp)
            simulate_operands(g, operands_for(g, 2, rng), hw)
        assert seen <= declared, f"{g.name}: undeclared {seen - declared}"
        called |= seen
    assert bool(called) == (name != "dadiannao")  # the dense bit-parallel array runs none


def _fake(unit: str, seconds: float) -> KernelCall:
    return KernelCall(SimpleNamespace(py_func=None, overloads={}), (unit,), seconds, unit)


def test_deal_keeps_a_unit_in_one_process_longest_first():
    calls = [_fake("a", 1.0), _fake("b", 0.9), _fake("a", 0.5), _fake("c", 0.4),
             _fake("d", 0.3)]
    shares = _deal(calls, 2)
    assert len(shares) == 2
    units = [{c.unit for c in s} for s in shares]
    assert units[0].isdisjoint(units[1]) and set().union(*units) == {"a", "b", "c", "d"}
    # a (1.5 s) and b (0.9 s) open the shares, c and d go to b's (the least loaded);
    # share 0, this process's, is the most loaded
    assert units == [{"b", "c", "d"}, {"a"}]
    assert [round(sum(c.compile_s for c in s), 6) for s in shares] == [1.6, 1.5]
    assert len(_deal(calls, 8)) == 4  # one share per unit at most
    assert _deal([], 2) == []


SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import accelsim.kernels.ahead as ahead
    from accelsim.kernels import serial_filters as sf
    from accelsim.kernels.serial import TCLE, TCLP, _schedule_sources
    from accelsim.kernels.serial_ref import _serial_filters_ref
    from accelsim.kernels.threads import kernel_threads, split_run
    from accelsim.kernels.recoding import booth_terms, precisions
    calls = sf.kernel_calls(TCLP) + sf.kernel_calls(TCLE)
    if sys.argv[1] == "interrupted":  # the parent is interrupted, its child hangs
        import time
        parent = os.getpid()
        def compile_or_hang(self):
            if os.getpid() == parent:
                raise KeyboardInterrupt
            time.sleep(600)
        ahead.KernelCall.compile = compile_or_hang
        t0 = time.monotonic()
        try:
            ahead.compile_ahead(calls, 2)
        except KeyboardInterrupt:
            out = {"raised_after_s": time.monotonic() - t0}
        try:
            os.waitpid(-1, os.WNOHANG)
            out["children_left"] = True
        except ChildProcessError:
            out["children_left"] = False
        print(json.dumps(out))
        sys.exit(0)
    out = {"one_process": len(ahead.compile_ahead(calls, 1)),
           "ready_after_one": [c.ready() for c in calls]}
    with kernel_threads(2):  # the kernel threads exist when the children are forked
        split_run(lambda a, b: None, 4)
    if sys.argv[1] == "always":  # one process, but compiled now rather than on first use
        out["always"] = len(ahead.compile_ahead(calls, 1, always=True))
    if sys.argv[1] == "failing-child":
        ahead._child = lambda share: os._exit(3)
    out["done"] = len(ahead.compile_ahead(calls, 2))
    out["ready"] = [c.ready() for c in calls]
    out["hits"] = [sum(c.kernel.stats.cache_hits.values()) for c in calls]
    out["misses"] = [sum(c.kernel.stats.cache_misses.values()) for c in calls]
    out["again"] = len(ahead.compile_ahead(calls, 2))
    rng = np.random.default_rng(1)
    mags = (rng.integers(0, 1 << 12, (70, 24)) * (rng.random((70, 24)) < 0.6)).astype(np.uint16)
    steps, src = _schedule_sources(rng.random((3, 3, 2, 8)) < 0.4, np.zeros((0, 2), np.int64),
                                   0, 0, -1, True)
    out["equal"] = []
    for mode, codes in ((TCLP, precisions(mags)), (TCLE, booth_terms(mags))):
        want = _serial_filters_ref(src, steps, codes, 70, 2, 3, mode, 4, 1)
        got = sf.serial_filters(src, steps, np.ascontiguousarray(codes.T, np.uint16), 2, 3,
                                mode, 4, 1)
        out["equal"].append(bool((got[0] == want[0]).all()) and got[1] == want[1])
    print(json.dumps(out))
""")


def _run(tmp_path, how: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, how], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compiling ahead forks on Linux")
def test_children_compile_into_the_cache_and_the_parent_loads(tmp_path):
    out = _run(tmp_path, "children")
    # one process: nothing compiled ahead, the kernels compile on first use
    assert out["one_process"] == 0 and not any(out["ready_after_one"])
    assert out["done"] == 4 and all(out["ready"]) and out["again"] == 0
    # the parent compiled its share and loaded the children's from the cache
    assert 0 < sum(out["hits"]) < 4 and sum(out["hits"]) + sum(out["misses"]) == 4
    assert all(out["equal"])
    again = _run(tmp_path, "children")  # a warm cache: nothing to compile ahead
    assert again["done"] == 0 and sum(again["misses"]) == 0 and all(again["equal"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compiling ahead forks on Linux")
def test_a_failed_child_leaves_its_share_to_the_parent(tmp_path):
    out = _run(tmp_path, "failing-child")
    assert out["done"] == 4 and all(out["ready"])
    assert sum(out["hits"]) == 0 and sum(out["misses"]) == 4  # the parent compiled all
    assert all(out["equal"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compiling ahead forks on Linux")
def test_an_interrupted_parent_stops_its_children_at_once(tmp_path):
    out = _run(tmp_path, "interrupted")
    assert out["raised_after_s"] < 5 and not out["children_left"]  # not the 30 s deadline


def test_always_compiles_in_one_process_what_it_cannot_share(tmp_path):
    out = _run(tmp_path, "always")
    assert out["always"] == 4 and all(out["ready"]) and out["done"] == 0
    assert sum(out["misses"]) == 4 and sum(out["hits"]) == 0 and all(out["equal"])
