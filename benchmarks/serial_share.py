"""Amdahl's serial share of a simulated training step, measured on one kernel thread.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/serial_share.py [--batch 4]
        [--hardware bit-tactical-tcle] [--layers] [--out share.json]

Runs the synthetic ResNet-50 SWAT-U 90% training step of ``bench_speed.py --only threads``
with one kernel thread (after a batch-1 step that loads every kernel) and splits its
simulation time (the drawing of the layers excluded), per layer and in total, into:

* ``outside_s``: time outside every section that two threads would share
  (:func:`accelsim.kernels.threads.map_ordered` of at least two items,
  :func:`~accelsim.kernels.threads.split_run` of at least two blocks) -- serial whatever
  the thread count;
* ``shared_nogil_s``: time inside the nogil numba kernels (every dispatcher of
  :mod:`accelsim.kernels` compiled with ``nogil=True``) inside such a section;
* ``shared_gil_s``: the rest of the shared sections (Python, numpy): it overlaps another
  thread's kernels but, where it holds the GIL, not another thread's Python.

``serial_share`` ``f`` counts everything but the kernels as serial (Amdahl's law, the best
two-thread ratio ``1 / (f + (1 - f) / 2)``); ``gil_bound_two_thread_ratio`` only the time
outside the shared sections, each section taking at least its non-kernel time
(``max(section / 2, non-kernel)``).  The truth lies between: numpy releases the GIL in its
loops (``py-spy record --gil`` measures the time the GIL is really held).  The largest stages
by their own time (:data:`STAGES` and the kernels) come last.  The script wraps functions
from outside: it changes nothing in the package.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import accelsim.kernels
from accelsim.kernels import threads
from accelsim.simulate import kernel_threads, simulate_operands
from accelsim.spec.hardware import builtin_hardware
from accelsim.trace.synthetic import SyntheticSpec, generate_layers

#: (module, attribute) of the stages whose own time (less any nested stage) is reported
STAGES = (("accelsim.arrays.bittactical", "BitTacticalModel.problems"),
          ("accelsim.arrays.bittactical", "BitTacticalModel.timings"),
          ("accelsim.arrays.base", "assemble_pass"),
          ("accelsim.arrays.assemble", "pass_memory"),
          ("accelsim.arrays.assemble", "blocks_of"),
          ("accelsim.arrays.bittactical", "problem_timing"),
          ("accelsim.arrays.bittactical", "serial_codes"),
          ("accelsim.arrays.bittactical", "_bytes_and_counts"),
          ("accelsim.arrays.bittactical", "_ideal_cycles"),
          ("accelsim.arrays.bittactical", "choose_scheduled"),
          ("accelsim.arrays.bittactical", "quantise_window"),
          ("accelsim.arrays.bittactical", "lowered_work"),
          ("accelsim.arrays.bitserial", "buffers"),
          ("accelsim.arrays.bittactical", "twos_complement_precisions"))


class Meter:
    """Accumulates kernel time in and out of shared sections, the shared sections' own
    time (outermost ones), and stage self-times."""

    def __init__(self) -> None:
        self.shared = 0          # depth of shared sections around the running code
        self.kernel_in = 0.0     # s in nogil kernels inside shared sections
        self.kernel_out = 0.0    # s in nogil kernels outside them
        self.sections: list[tuple[float, float]] = []  # outermost: (wall s, kernel s)
        self.stage: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []       # [name, start, nested s]

    def kernel(self, fn: Callable) -> Callable:
        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                dt = time.perf_counter() - t
                if self.shared:
                    self.kernel_in += dt
                else:
                    self.kernel_out += dt
                if self.stack:
                    self.stack[-1][2] += dt
                self.stage[f"kernel {fn.__name__}"] += dt
        timed.__wrapped__ = fn
        return timed

    def stage_fn(self, name: str, fn: Callable) -> Callable:
        def timed(*a: Any, **k: Any) -> Any:
            self.stack.append([name, time.perf_counter(), 0.0])
            try:
                return fn(*a, **k)
            finally:
                _, t, nested = self.stack.pop()
                dt = time.perf_counter() - t
                self.stage[name] += dt - nested
                if self.stack:
                    self.stack[-1][2] += dt
        timed.__wrapped__ = fn
        return timed

    def section(self, run: Callable[[], Any]) -> Any:
        """Run ``run()`` as a shared section."""
        self.shared += 1
        t, k = time.perf_counter(), self.kernel_in
        try:
            return run()
        finally:
            self.shared -= 1
            if not self.shared:
                self.sections.append((time.perf_counter() - t, self.kernel_in - k))

    def split_run(self, orig: Callable) -> Callable:
        def wrapped(fn: Callable, n: int, align: int = 1) -> None:
            if -(-n // max(1, align)) < 2:  # two threads would not split it either
                return orig(fn, n, align)
            return self.section(lambda: orig(fn, n, align))
        return wrapped

    def map_ordered(self, orig: Callable) -> Callable:
        def wrapped(fn: Callable, items: Any) -> list:
            if len(items) < 2:
                return orig(fn, items)
            return self.section(lambda: orig(fn, items))
        return wrapped


def _nogil_kernels() -> dict[int, Any]:
    found = {}
    for info in pkgutil.iter_modules(accelsim.kernels.__path__, "accelsim.kernels."):
        mod = importlib.import_module(info.name)
        for v in vars(mod).values():
            if getattr(v, "targetoptions", {}).get("nogil"):
                found[id(v)] = v
    return found


def instrument(meter: Meter) -> None:
    """Wrap the nogil kernels, the two shared-section helpers and :data:`STAGES` wherever
    a loaded accelsim module refers to them (plain Python callers only)."""
    kernels = _nogil_kernels()
    swaps = {id(threads.split_run): meter.split_run(threads.split_run),
             id(threads.map_ordered): meter.map_ordered(threads.map_ordered)}
    for mod in [m for n, m in sys.modules.items() if n.startswith("accelsim.") and m]:
        for name, v in list(vars(mod).items()):
            if id(v) in kernels:
                setattr(mod, name, meter.kernel(v))
            elif id(v) in swaps:
                setattr(mod, name, swaps[id(v)])
    for modname, attr in STAGES:
        mod = importlib.import_module(modname)
        owner, _, name = attr.rpartition(".")
        target = getattr(mod, owner) if owner else mod
        if hasattr(target, name):
            setattr(target, name, meter.stage_fn(attr, getattr(target, name)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--hardware", default="bit-tactical-tcle")
    ap.add_argument("--layers", action="store_true", help="print every layer")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    hw = builtin_hardware(args.hardware)

    def spec(batch: int) -> SyntheticSpec:
        return SyntheticSpec.for_method("resnet50", "swat-u", 0.9, dataset="imagenet",
                                        batch=batch)
    with kernel_threads(1):
        for g, ops in generate_layers(spec(1)):  # load (and compile) every kernel first
            simulate_operands(g, ops, hw)
    meter = Meter()
    instrument(meter)
    rows = []
    with kernel_threads(1):
        for g, ops in generate_layers(spec(args.batch)):
            first = len(meter.sections)
            t0 = time.perf_counter()
            simulate_operands(g, ops, hw)
            wall = time.perf_counter() - t0
            secs = meter.sections[first:]
            shared = sum(w for w, _ in secs)
            nogil = sum(k for _, k in secs)
            two = wall - shared + sum(max(w / 2, w - k) for w, k in secs)
            rows.append({"layer": g.name, "wall_s": wall, "outside_s": wall - shared,
                         "shared_gil_s": shared - nogil, "shared_nogil_s": nogil,
                         "two_thread_bound_s": two})
            if args.layers:
                print(f"{g.name:24s} {wall:7.3f} s  outside {wall - shared:6.3f} s  "
                      f"shared GIL {shared - nogil:6.3f} s  nogil {nogil:6.3f} s  "
                      f"2-thread bound {two:6.3f} s", flush=True)
    total = {k: sum(r[k] for r in rows) for k in rows[0] if k != "layer"}
    wall = total["wall_s"]
    f = (wall - total["shared_nogil_s"]) / wall
    out = {"hardware": args.hardware, "batch": args.batch,
           **{k: round(v, 3) for k, v in total.items()},
           "serial_share": round(f, 4), "amdahl_two_thread_ratio": round(1 / (f + (1 - f) / 2), 3),
           "outside_share": round(total["outside_s"] / wall, 4),
           "gil_bound_two_thread_ratio": round(wall / total["two_thread_bound_s"], 3),
           "kernels_outside_shared_s": round(meter.kernel_out, 3),
           "stage_self_s": {k: round(v, 3) for k, v in
                            sorted(meter.stage.items(), key=lambda kv: -kv[1])}}
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({**out, "layers": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
