"""Sweep throughput: 200 hardware points over ResNet-18/CIFAR, three passes, 1 and 2 workers.

    .venv/bin/python benchmarks/bench_sweep.py [--points 200] [--out benchmarks/results/sweep.json]

The grid is lookahead h = 1..8 x lookaside d = 0..4 x tiles in {8, 16, 32, 64, 128} of the
default T<h,d> Bit-Tactical array (bit-parallel back end), crossed with one synthetic
SWAT-U 90% ResNet-18/CIFAR-10 trace at batch 1.  Each worker count runs into a fresh
store; the result records wall time, points per minute and the speed-up from 1 to 2
workers (ideal: 2.0), with the machine and its load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, write_json_atomic  # noqa: E402

from accelsim.explore.load import load_sweep  # noqa: E402
from accelsim.explore.run import run_sweep  # noqa: E402
from accelsim.explore.store import open_store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def spec(points: int) -> dict[str, Any]:
    tiles = [8, 16, 32, 64, 128][: max(1, points // 40)]
    return {"name": "bench-sweep", "passes": ["forward", "backward_input", "backward_weight"],
            "base": {"hardware": "bit-tactical"},
            "grid": {"frontend.lookahead": list(range(1, 9)),
                     "frontend.lookaside": list(range(0, 5)), "array.tiles": tiles},
            "workloads": {"synthetic": [{"model": "resnet18", "dataset": "cifar10",
                                         "method": "swat-u", "sparsity": 0.9, "batch": 1,
                                         "seed": 0}]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args()
    sweep = load_sweep(spec(args.points))
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            load = os.getloadavg()
            t0 = time.perf_counter()
            result = run_sweep(sweep, Path(tmp) / f"w{workers}.sqlite", workers=workers,
                               progress=False)
            wall = time.perf_counter() - t0
            store = open_store(Path(tmp) / f"w{workers}.sqlite", create=False)
            runs[str(workers)] = {"wall_s": round(wall, 2), "points": result.computed,
                                  "failed": len(result.failed), "rows": store.count(),
                                  "points_per_minute": round(60 * result.computed / wall, 1),
                                  "loadavg_before": list(load),
                                  "loadavg_after": list(os.getloadavg())}
            print(f"{workers} worker(s): {result.computed} points in {wall:.1f} s "
                  f"({runs[str(workers)]['points_per_minute']} points/min)", flush=True)
    out = {"machine": machine(), "grid_points": sweep.size, "runs": runs,
           "scaling_1_to_2": runs["1"]["wall_s"] / runs["2"]["wall_s"],
           "command": f"benchmarks/bench_sweep.py --points {args.points}"}
    write_json_atomic(args.out, out)
    print(f"scaling 1 -> 2 workers: {out['scaling_1_to_2']:.2f}x")


if __name__ == "__main__":
    main()
