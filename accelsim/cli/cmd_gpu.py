"""The gpu-bench subcommand: time the sparse Triton kernels against the dense and sparse GPU
baselines (torch is loaded only when it runs, not for ``--help``)."""

from __future__ import annotations

import argparse
import sys

from accelsim.cli import options as o
from accelsim.errors import AccelsimError
from accelsim.gpu import bench
from accelsim.gpu.ops import default_device


def add_gpu_bench(p: argparse.ArgumentParser) -> None:
    o.add_trace(p, optional=True)
    o.add_out(p, "results file to write", "RESULTS.json")
    o.add_layers(p, "trace: layers to time")
    o.add_passes(p, help="passes to time")
    p.add_argument("--baselines", default=",".join(bench.BASELINES),
                   help=f"comma-separated GPU baselines: {', '.join(bench.BASELINES)}")
    o.add_batch(p, "trace: repeat the recorded samples to this batch; synthetic: batch "
                   "(default 32)", default=None)
    p.add_argument("--reps", type=o.pos_int, default=50, help="timed repetitions (>= 50 on a GPU)")
    p.add_argument("--warmup", type=o.nonneg_int, default=3, help="untimed warm-up runs")
    p.add_argument("--synthetic", action="store_true", help="sweep a synthetic layer instead")
    p.add_argument("--kind", default="conv", choices=("conv", "linear"),
                   help="synthetic: layer kind")
    p.add_argument("--in-channels", type=o.pos_int, default=256, help="synthetic: input channels")
    p.add_argument("--out-channels", type=o.pos_int, default=64,
                   help="synthetic: output channels")
    p.add_argument("--size", type=o.pos_int, default=56,
                   help="synthetic: input height = width, pixels")
    p.add_argument("--kernel", type=o.pos_int, default=1, help="synthetic: kernel height = width")
    p.add_argument("--stride", type=o.pos_int, default=1, help="synthetic: conv stride")
    p.add_argument("--padding", type=o.nonneg_int, default=0, help="synthetic: zero padding")
    p.add_argument("--weight-sparsity", default="0.5,0.8,0.9,0.95",
                   help="synthetic: comma-separated weight sparsities to sweep")
    p.add_argument("--activation-sparsity", default="0.0,0.5,0.7,0.9",
                   help="synthetic: comma-separated activation sparsities to sweep")
    o.add_seed(p)


def run_gpu_bench(args: argparse.Namespace) -> int:
    passes = o.parse_passes(args.passes, allowed=bench.PASSES)
    baselines = o.names(args.baselines)
    bad = [x for x in baselines if x not in bench.BASELINES]
    if bad:
        raise AccelsimError(f"--baselines: unknown {', '.join(bad)}; choose from "
                            f"{', '.join(bench.BASELINES)}")
    if (args.trace is None) == (not args.synthetic):
        raise AccelsimError("gpu-bench needs a TRACE_OR_RUN_DIR or --synthetic (not both)")
    device = default_device()
    progress = None if args.quiet else (lambda msg: print(f"gpu-bench: {msg}", file=sys.stderr))
    if args.synthetic:
        shape = bench.SyntheticShape(kind=args.kind, in_channels=args.in_channels,
                                     out_channels=args.out_channels, size=args.size,
                                     kernel=args.kernel, stride=args.stride,
                                     padding=args.padding, batch=args.batch or 32)
        result = bench.bench_synthetic(
            shape, o.fractions(args.weight_sparsity), o.fractions(args.activation_sparsity),
            passes=passes, reps=args.reps, warmup=args.warmup, baselines=baselines,
            seed=args.seed, progress=progress, device=device)
    else:
        result = bench.bench_trace(args.trace, step=args.step, layers=list(o.names(args.layers))
                                   or None, passes=passes, batch=args.batch, reps=args.reps,
                                   warmup=args.warmup, baselines=baselines, progress=progress,
                                   device=device)
    path = bench.write_json(result, args.out)
    print(f"wrote {path} ({len(result['rows'])} layer-pass rows on {result['environment']['gpu']})")
    return 0


COMMANDS: dict[str, o.Command] = {
    "gpu-bench": o.Command("Time the sparse Triton kernels against cuDNN/cuBLAS (fp32, TF32, "
                           "bf16), cuSPARSE CSR and 2:4 on every layer and pass of a trace with "
                           "its real masks, or on a synthetic sparsity sweep (needs an NVIDIA "
                           "GPU, a CUDA build of torch and triton; TRITON_INTERPRET=1 runs it on "
                           "CPU as a plumbing check).", add_gpu_bench, run_gpu_bench),
}
