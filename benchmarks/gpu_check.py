"""One call on a GPU machine: environment, Triton compilation, the GPU tests on the device,
five ResNet layers x three passes x two sparsity pairs at batch 32, and a trace (a synthetic
digits-cnn trace made with numpy unless ``--trace`` is given).

    PYTHONPATH=. python3 benchmarks/gpu_check.py [--trace T] [--out-dir benchmarks/results]

Writes ``OUT_DIR/gpu-<device>.json`` (every stage, the device name inside) after each stage
(atomic writes, so a timeout keeps what finished) and ``OUT_DIR/gpu-<device>-validate.json``,
the trace's results in the format ``accelsim validate --gpu-results`` reads (with the trace
beside it as ``gpu-<device>-demo.trace`` when it was made here).  ``--dry-run`` runs the whole
script on CPU through triton's interpreter with tiny shapes (a plumbing check, CI runs it).
Needs torch, triton and numpy only (no numba, no simpy).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: (name, in channels, out channels, input size, kernel, padding) of ResNet-50 layers.
RESNET_LAYERS = (("res2 1x1 256->64 @56", 256, 64, 56, 1, 0),
                 ("res2 3x3 64->64 @56", 64, 64, 56, 3, 1),
                 ("res4 1x1 256->1024 @14", 256, 1024, 14, 1, 0),
                 ("res4 3x3 256->256 @14", 256, 256, 14, 3, 1),
                 ("res5 3x3 512->512 @7", 512, 512, 7, 3, 1))
SPARSITIES = ((0.9, 0.7), (0.8, 0.5))  # (weight, activation)


def slug(name: str) -> str:
    """``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


class Report:
    """The results document, rewritten atomically after every stage."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path, self.doc = path, doc

    def stage(self, name: str, value: Any) -> None:
        from accelsim.gpu.bench import write_json

        self.doc["stages"][name] = value
        write_json(self.doc, self.path)


def compile_stage(device: str) -> dict[str, Any]:
    """Run every kernel once on a small layer (Triton JIT compiles on first launch)."""
    import torch

    from accelsim.gpu.ops import SparseConv

    t0 = time.perf_counter()
    conv = SparseConv((16, 16, 3, 3), (2, 16, 9, 9), device=device)
    x = torch.randn((2, 16, 9, 9), device=device)
    w = torch.randn((16, 16, 3, 3), device=device)
    y, bits = conv.produce(x, "relu")
    out = conv.forward(y, bits, conv.condense(w))
    for precision in ("fp32", "tf32", "bf16"):
        conv.forward(y, bits, conv.condense_tiles(w), precision)
    conv.backward_input(out, conv.condense(w, True), bits)
    conv.backward_weight(y, bits, out, conv.condense(w))
    if device != "cpu":
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t0, "ok": True}


def tests_stage(pytest_args: list[str], interpret: bool, timeout: float) -> dict[str, Any]:
    """``pytest`` on the device (interpreter off) in a subprocess; rc and the output's tail."""
    env = dict(os.environ, TRITON_INTERPRET="1" if interpret else "0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = -1, f"timed out after {timeout} s\n{exc.stdout or ''}"
    out = out if isinstance(out, str) else out.decode(errors="replace")
    return {"command": " ".join(cmd[1:]), "returncode": rc, "seconds": time.perf_counter() - t0,
            "tail": out[-4000:]}


def resnet_stage(report: Report, timer, dry_run: bool, deadline: float,
                 layers: tuple = RESNET_LAYERS) -> None:
    """Time the five layers x passes x sparsity pairs, saving after every layer."""
    from accelsim.gpu import bench

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name, cin, cout, size, k, pad in layers:
        if dry_run:
            cin, cout, size = max(2, cin // 64), max(2, cout // 64), min(size, 5)
        shape = bench.SyntheticShape(name=name, in_channels=cin, out_channels=cout, size=size,
                                     kernel=k, padding=pad, batch=2 if dry_run else 32)
        for ws, sa in SPARSITIES:
            for pass_name in bench.PASSES:
                label = f"{name} {pass_name} w{ws:.2f}/a{sa:.2f}"
                if time.monotonic() > deadline:
                    skipped.append(label)
                    continue
                print(f"gpu_check: {label}", file=sys.stderr, flush=True)
                rows.append(bench.run_case(bench.synthetic_case(shape, pass_name, ws, sa), timer))
        report.stage("resnet", {"rows": rows, "skipped_out_of_time": skipped,
                                "batch": shape.batch, "dry_run": dry_run})


def demo_trace(path: Path, batch: int, seed: int = 0, tiny: bool = False) -> Path:
    """A digits-cnn-shaped trace of random sparse operands (weights 90% sparse, ReLU-sparse
    activations, dense gradients), written with numpy only (``tiny``: 1/8 of the channels)."""
    import numpy as np

    from accelsim.spec.geometry import LayerGeometry
    from accelsim.trace import TraceMetadata, TraceWriter

    rng = np.random.default_rng(seed)
    f = 8 if tiny else 1
    layers = [LayerGeometry(name=n, kind="conv", in_channels=ci, out_channels=co, kernel_h=3,
                            kernel_w=3, padding_h=1, padding_w=1, input_h=s, input_w=s,
                            output_h=s, output_w=s)
              for n, ci, co, s in (("conv1", 1, 32 // f, 8), ("conv2", 32 // f, 64 // f, 8),
                                   ("conv3", 64 // f, 128 // f, 4))]
    layers.append(LayerGeometry(name="fc", kind="linear", in_channels=128 // f, out_channels=10))

    def sparse(shape, density, relu=False):
        a = rng.standard_normal(shape).astype(np.float32)
        a = np.abs(a) if relu else a
        return np.where(rng.random(shape) < density, a, 0).astype(np.float32)

    md = TraceMetadata(model="digits-cnn", dataset="synthetic", method="gpu_check-synthetic",
                       batch_indices=tuple(range(batch)),
                       method_params={"weight_sparsity": 0.9, "activation_sparsity": 0.5})
    path.parent.mkdir(parents=True, exist_ok=True)
    with TraceWriter(path, md, encoding="float32") as w:
        for i, g in enumerate(layers):
            x = sparse(g.activation_shape(batch), 1.0 if i == 0 else 0.5, relu=i > 0)
            wt = sparse(g.weight_shape(), 0.1)
            grad = rng.standard_normal(g.grad_shape(batch)).astype(np.float32)
            ops = {"forward": {"weight": wt, "activation": x},
                   "backward_weight": {"activation": x, "grad": grad}}
            if i > 0:
                ops["backward_input"] = {"weight": wt, "grad": grad}
            w.add_layer(g, ops)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--trace", default=None, help="trace or run directory (default: a "
                        "synthetic digits-cnn trace made here)")
    parser.add_argument("--reps", type=int, default=None, help="default 50 (1 with --dry-run)")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="stop starting new timings after this many seconds")
    parser.add_argument("--resnet-layers", default=None,
                        help="comma-separated indices into the five ResNet layers (default all)")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU through triton's interpreter, tiny shapes (plumbing only)")
    parser.add_argument("--pytest-args", default=None,
                        help="arguments of the test stage (default tests/gpu; dry run: one "
                             "fast kernel test)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.budget_s
    os.environ["TRITON_INTERPRET"] = "1" if args.dry_run else "0"
    sys.path.insert(0, str(ROOT))
    from accelsim.gpu import bench
    from accelsim.gpu.ops import default_device
    from accelsim.gpu.timing import Timer, environment

    device = default_device()
    env = environment(device)
    name = slug(env["gpu"])
    out_dir = Path(args.out_dir)
    report = Report(out_dir / f"gpu-{name}.json",
                    {"schema": "accelsim-gpu-check/1", "device": env["gpu"], "environment": env,
                     "dry_run": args.dry_run, "stages": {}})
    report.stage("environment", {"seconds": time.monotonic() - start})
    report.stage("compile", compile_stage(device))
    default_tests = "tests/gpu/test_kernels.py -k linear" if args.dry_run else "tests/gpu"
    report.stage("tests", tests_stage((args.pytest_args or default_tests).split(),
                                      args.dry_run, max(60.0, deadline - time.monotonic())))
    timer = Timer(device, args.reps or (1 if args.dry_run else 50), 0 if args.dry_run else 3)
    report.doc["method"] = timer.method()
    picked = RESNET_LAYERS if args.resnet_layers is None else \
        tuple(RESNET_LAYERS[int(i)] for i in args.resnet_layers.split(",") if i.strip())
    resnet_stage(report, timer, args.dry_run, deadline, picked)
    trace = Path(args.trace) if args.trace else demo_trace(
        out_dir / f"gpu-{name}-demo.trace", batch=2 if args.dry_run else 32, tiny=args.dry_run)
    result = bench.bench_trace(trace, reps=timer.reps, warmup=timer.warmup, device=device)
    validate_path = bench.write_json(result, out_dir / f"gpu-{name}-validate.json")
    report.stage("trace", {"trace": str(trace), "validate_ready": str(validate_path),
                           "rows": result["rows"]})
    report.doc["layers"] = result["layers"]
    report.stage("total", {"seconds": time.monotonic() - start})
    print(f"wrote {report.path} and {validate_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
