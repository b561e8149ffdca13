"""The train subcommand: a zoo model trained sparsely into a run directory (uses torch, so
it is its own group: the light listing commands live in :mod:`accelsim.cli.cmd_runs`)."""

from __future__ import annotations

import argparse

from accelsim.cli import options as o
from accelsim.cli.printing import print_json
from training.config import TrainConfig
from training.loop import train


def add_train(p: argparse.ArgumentParser) -> None:
    o.add_method(p, "dense", "dense, swat-u, swat-erk, swat-m, acdc, ... (`accelsim methods`)")
    o.add_sparsity(p)
    o.add_model(p, required=False, default="digits-cnn")
    p.add_argument("--data", default="digits",
                   help="where the samples come from: digits | cifar10:PATH | cifar100:PATH | "
                        "synthetic[:OPTIONS]")
    p.add_argument("--input-size", type=o.pos_int, default=None, metavar="PIXELS",
                   help="resize inputs (e.g. 32 to train ResNet-18 on digits)")
    p.add_argument("--epochs", type=o.pos_int, default=10, help="training epochs")
    o.add_batch(p, "training batch size", default=64)
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate per step")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay factor")
    p.add_argument("--lr-schedule", default="cosine", choices=("cosine", "step", "constant"),
                   help="learning-rate schedule over the epochs")
    p.add_argument("--warmup-epochs", type=o.nonneg_int, default=0,
                   help="epochs of linear learning-rate warm-up")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the cross-entropy loss")
    o.add_seed(p)
    add_trace_options(p)
    p.add_argument("--max-steps-per-epoch", type=o.pos_int, default=None,
                   help="cut epochs short (quick runs)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a method parameter, e.g. topk_period=4 for SWAT or acdc_warmup=2 for "
                        "AC/DC (repeatable; `accelsim methods` lists them)")
    o.add_out(p, "run directory (created; resumed if it exists)", "RUN_DIR")
    p.add_argument("--fresh", action="store_true",
                   help="start over: delete what an earlier run wrote into --out (config, "
                        "metrics, events, checkpoints, traces); refuses a directory that holds "
                        "other files")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=o.nonneg_int, default=0,
                   help="torch CPU threads (0: torch's default; 1 is faster for small models "
                        "on a busy machine)")
    o.add_json(p, "print the final summary as JSON")


def add_trace_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trace-every", type=o.nonneg_int, default=0,
                   help="record a trace every N steps (0: none; also at phase/threshold "
                        "boundaries once N > 0)")
    p.add_argument("--trace-samples", type=o.pos_int, default=4, help="samples per trace")
    o.add_layers(p, "layers to record in traces")
    o.add_passes(p, help="passes to record in traces")
    o.add_encoding(p)
    p.add_argument("--no-trace-boundaries", action="store_true",
                   help="do not record at phase changes and threshold recomputes")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`training.config.TrainConfig` of the parsed ``train`` arguments."""
    params = {k.replace("-", "_"): v for k, v in
              o.parse_key_values(args.param, "--param", "zeta=0.3").items()}
    return TrainConfig(
        method=args.method, sparsity=args.sparsity, model=args.model, data=args.data,
        input_size=args.input_size, epochs=args.epochs, batch_size=args.batch, lr=args.lr,
        momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule, warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing, seed=args.seed,
        trace_every=args.trace_every, trace_samples=args.trace_samples,
        trace_layers=o.names(args.layers), trace_passes=o.parse_passes(args.passes),
        trace_encoding=args.encoding, trace_at_boundaries=not args.no_trace_boundaries,
        max_steps_per_epoch=args.max_steps_per_epoch, method_params=params)


def run_train(args: argparse.Namespace) -> int:
    result = train(train_config(args), args.out, progress=not args.quiet, device=args.device,
                   log=None if args.json else o.progress_log(args), threads=args.threads or None,
                   fresh=args.fresh)
    summary = {"run_dir": str(result.run_dir), **(result.final and {
        "epochs": len(result.metrics), "test_accuracy": result.final["test"]["accuracy"],
        "weight_density": result.final["weight_density"]["overall"]}),
        "traces": [str(t) for t in result.traces]}
    if args.json:
        print_json(summary)
    else:
        print(f"run {result.run_dir}: {len(result.metrics)} epochs, test accuracy "
              f"{summary.get('test_accuracy', float('nan')):.4f}, {len(result.traces)} traces")
    return 0


COMMANDS: dict[str, o.Command] = {
    "train": o.Command("Train a zoo model with a sparse method on digits/CIFAR, writing "
                       "metrics, checkpoints and traces into a run directory (re-running "
                       "resumes it).", add_train, run_train),
}
