"""Sparse-training quality bar and SWAT's CPU overhead (run on demand, results committed).

    .venv/bin/python benchmarks/bench_training.py accuracy [--suite cnn|resnet18|all]
    .venv/bin/python benchmarks/bench_training.py overhead
    .venv/bin/python benchmarks/bench_training.py methods [--epochs 10 --sparsity 0.9]

accuracy: train dense / SWAT-U / SWAT-ERK / SWAT-M / AC/DC at 80% and 90% on the real
    sklearn digits set with the small CNN (8x8 inputs), and SWAT-U / AC/DC at 90% with
    ResNet-18 on digits upscaled to 16x16; the same epochs and schedule for every method.  Every run records
    traces; the benchmark checks them: per sparsified layer the weight density of every
    recorded step (SWAT-U: 0.10 +/- 0.01 at 90%) and the density of the activation saved
    for backward-weight at each threshold recompute (SWAT: Top-K to the layer density).
    Writes benchmarks/results/training-accuracy.json and prints the table.
overhead: ResNet-18 (CIFAR variant, 32x32) at batch 128 on this CPU: time per training
    step dense vs SWAT-U 90% (Top-K every step, and periodic Top-K every 100 steps), and
    the share of the SWAT step spent in Top-K/masking, from torch's profiler.  Writes
    benchmarks/results/training-overhead.json.
methods: every registered method at 90% on digits: accuracy, weight/activation sparsity,
    simulated training-step speedup (T<2,5>), and their correlation across methods.  Writes
    benchmarks/results/training-methods.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402
from _common import write_json_atomic  # noqa: E402

from accelsim.trace import open_trace  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.loop import train  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("swat-u", "swat-erk", "swat-m", "acdc")
SUITES = {
    # the small CNN on the native 8x8 digits: every method at 80% and 90%
    "cnn": {"model": "digits-cnn", "input_size": None, "epochs": 20, "batch_size": 64,
            "lr": 0.05, "methods": METHODS, "sparsities": (0.9, 0.8)},
    # ResNet-18 (CIFAR variant) on digits upscaled to 16x16: the quality bar's two methods at
    # 90% (32x32 costs 4x the CPU time for the same question)
    "resnet18": {"model": "resnet18", "input_size": 16, "epochs": 10, "batch_size": 64,
                 "lr": 0.05, "methods": ("swat-u", "acdc"), "sparsities": (0.9,)},
}


def machine() -> dict[str, Any]:
    return _common.machine(torch_threads=torch.get_num_threads(), torch=torch.__version__)


def check_traces(traces: list[Path], method: str, sparsity: float) -> dict[str, Any]:
    """Densities of the recorded traces: weight density per sparsified layer at every
    recorded step, and the saved activation's density relative to the layer's target."""
    target = 1.0 - sparsity
    worst_weight = 0.0
    act_ratio: list[float] = []
    overall: list[float] = []
    steps = []
    for path in traces:
        with open_trace(path) as trace:
            steps.append(trace.metadata.step)
            kept = total = 0
            for i, layer in enumerate(trace.iter_layers()):
                w = layer.mask("forward", "weight")
                kept, total = kept + int(w.sum()), total + w.size
                d = float(w.mean())
                sparsified = not (method in ("swat-u", "swat-m") and i == 0) and d < 0.999
                if method == "swat-u" and sparsified:
                    worst_weight = max(worst_weight, abs(d - target))
                if method.startswith("swat") and sparsified and \
                        "backward_weight" in layer.passes:
                    a = float(layer.mask("backward_weight", "activation").mean())
                    act_ratio.append(a / d)
            overall.append(kept / total)
    out: dict[str, Any] = {"traces": len(traces), "steps": steps,
                           "overall_weight_density": [round(x, 4) for x in overall]}
    if method == "swat-u":
        out["max_abs_weight_density_error"] = round(worst_weight, 5)
    if act_ratio:
        out["saved_activation_over_weight_density"] = {
            "min": round(min(act_ratio), 4), "median": round(statistics.median(act_ratio), 4),
            "max": round(max(act_ratio), 4)}
    return out


def run_one(suite: str, method: str, sparsity: float, work: Path) -> dict[str, Any]:
    s = SUITES[suite]
    config = TrainConfig(method=method, sparsity=sparsity, model=s["model"], data="digits",
                         input_size=s["input_size"], epochs=s["epochs"],
                         batch_size=s["batch_size"], lr=s["lr"], seed=0, trace_every=50,
                         trace_samples=2)
    t0 = time.perf_counter()
    result = train(config, work / f"{suite}-{method}-{sparsity}", progress=False, log=None)
    wall = time.perf_counter() - t0
    accs = [m["test"]["accuracy"] for m in result.metrics]
    row = {"suite": suite, "model": s["model"], "method": method, "sparsity": sparsity,
           "epochs": s["epochs"], "final_test_accuracy": accs[-1],
           "best_test_accuracy": max(accs),
           "weight_density": result.final["weight_density"]["overall"], "wall_s": round(wall, 1),
           "trace_check": check_traces(result.traces, method, sparsity)}
    print(f"  {suite:9s} {method:9s} {sparsity:.1f}  acc {accs[-1]:.4f}  "
          f"({wall:.0f} s)", flush=True)
    return row


def accuracy(suites: list[str]) -> None:
    """Run the suites; the results file is rewritten after every run (a long benchmark that
    is interrupted keeps what it finished, and a re-run skips those)."""
    out = RESULTS / "training-accuracy.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    rows = {f"{r['suite']}/{r['method']}/{r['sparsity']}": r for r in previous.get("rows", [])}

    def save() -> None:
        write_json_atomic(out, {"machine": machine(), "suites": SUITES,
                           "command": "benchmarks/bench_training.py accuracy --suite "
                                      + ",".join(suites),
                           "rows": list(rows.values())})
    with tempfile.TemporaryDirectory() as tmp:
        for suite in suites:
            key = f"{suite}/dense/0.0"
            if key not in rows:
                rows[key] = run_one(suite, "dense", 0.0, Path(tmp))
                save()
            dense = rows[key]
            for sparsity in SUITES[suite]["sparsities"]:
                for method in SUITES[suite]["methods"]:
                    key = f"{suite}/{method}/{sparsity}"
                    if key in rows:
                        continue
                    r = run_one(suite, method, sparsity, Path(tmp))
                    r["delta_vs_dense"] = (r["final_test_accuracy"]
                                           - dense["final_test_accuracy"])
                    rows[key] = r
                    save()
    print_table(list(rows.values()))


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| model | method | sparsity | test acc | vs dense | weight density |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        delta = r.get("delta_vs_dense")
        print(f"| {r['model']} | {r['method']} | {r['sparsity']:.1f} | "
              f"{100 * r['final_test_accuracy']:.2f} | "
              f"{'' if delta is None else f'{100 * delta:+.2f}'} | {r['weight_density']:.3f} |")


def methods_table(epochs: int, sparsity: float) -> None:
    """Every registered method at ``sparsity`` on digits (small CNN, ``epochs`` epochs):
    test accuracy, measured weight and activation sparsity, and the simulated training-step
    speedup of its last trace on the default T<2,5> bit-parallel array; then the
    correlation of weight and activation sparsity across methods (seed 000 section 2)."""
    from scipy.stats import pearsonr, spearmanr

    from accelsim.api import simulate_trace
    from accelsim.spec.hardware import default_hardware
    from training.registry import methods

    out = RESULTS / "training-methods.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    rows = {r["method"]: r for r in previous.get("rows", [])
            if r.get("epochs") == epochs and r.get("sparsity") == sparsity}
    hw = default_hardware()

    def save(extra: dict[str, Any]) -> None:
        write_json_atomic(out, {"machine": machine(), "epochs": epochs, "sparsity": sparsity,
                           "hardware": hw.to_dict(), "rows": list(rows.values()),
                           "command": f"benchmarks/bench_training.py methods --epochs {epochs} "
                                      f"--sparsity {sparsity}", **extra})
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in methods().items():
            if name in rows:
                continue
            s = 0.0 if not spec.uses_sparsity else sparsity
            config = TrainConfig(method=name, sparsity=s if s else 0.9, model="digits-cnn",
                                 data="digits", epochs=epochs, batch_size=64, lr=0.05,
                                 trace_every=10_000, trace_samples=4)
            t0 = time.perf_counter()
            try:
                result = train(config, Path(tmp) / name, progress=False, log=None)
            except Exception as exc:  # noqa: BLE001 - one failing method must not stop the table
                rows[name] = {"method": name, "error": f"{type(exc).__name__}: {exc}"}
                save({})
                continue
            final = result.final
            act = (final["activation_density"]["train"]
                   or final["activation_density"]["test"])["overall"]
            report = simulate_trace(result.traces[-1], hw)
            totals = report.totals()
            rows[name] = {
                "method": name, "epochs": epochs, "sparsity": sparsity,
                "test_accuracy": final["test"]["accuracy"],
                "weight_sparsity": 1 - final["weight_density"]["overall"],
                "activation_sparsity": 1 - act,
                "dynamic_dnr": (final.get("dead_neurons") or {}).get("dynamic_dnr"),
                "static_dnr": (final.get("dead_neurons") or {}).get("static_dnr"),
                "speedup_forward": totals["forward"].speedup,
                "speedup_backward": totals["backward"].speedup,
                "speedup_training_step": totals["training_step"].speedup,
                "trace_step": int(result.traces[-1].stem.split("-")[-1]),
                "wall_s": round(time.perf_counter() - t0, 1)}
            print(f"  {name:18s} acc {rows[name]['test_accuracy']:.4f}  w-sparsity "
                  f"{rows[name]['weight_sparsity']:.3f}  a-sparsity "
                  f"{rows[name]['activation_sparsity']:.3f}  step speedup "
                  f"{rows[name]['speedup_training_step']:.2f}x", flush=True)
            save({})
    ok = [r for r in rows.values() if "error" not in r]
    corr: dict[str, Any] = {}
    if len(ok) >= 3:
        w = [r["weight_sparsity"] for r in ok]
        a = [r["activation_sparsity"] for r in ok]
        corr = {"pearson": float(pearsonr(w, a)[0]), "spearman": float(spearmanr(w, a)[0]),
                "methods": len(ok)}
    save({"weight_activation_sparsity_correlation": corr})
    print("| method | test acc | weight sparsity | activation sparsity | training-step speedup |")
    print("|---|---|---|---|---|")
    for r in ok:
        print(f"| {r['method']} | {100 * r['test_accuracy']:.2f} | {r['weight_sparsity']:.3f} | "
              f"{r['activation_sparsity']:.3f} | {r['speedup_training_step']:.2f}x |")
    print(f"correlation of weight and activation sparsity across methods: {corr}")


def _step_times(model: torch.nn.Module, steps: int, batch: int) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sp = getattr(model, "_bench_sparsifier", None)
    crit = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        if sp is not None:
            sp.before_forward(i)
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sp is not None:
            sp.step()
        times.append(time.perf_counter() - t0)
    return times


def overhead(steps: int, batch: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    from training.methods import swat
    from training.methods.swat_config import SwatConfig
    from workloads.models import build_model

    def model_for(period: int | None) -> torch.nn.Module:
        torch.manual_seed(0)
        m = build_model("resnet18", num_classes=10, in_channels=3, input_size=32)
        if period is not None:
            m._bench_sparsifier = swat.apply(m, SwatConfig.for_method("swat-u", 0.9,
                                                                      period=period))
        return m

    cases = {"dense": None, "swat-u period 1": 1, "swat-u period 100": 100}
    models = {k: model_for(p) for k, p in cases.items()}
    for m in models.values():
        _step_times(m, 2, batch)                   # warm-up
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(steps):                         # interleaved A/B/C
        for k, m in models.items():
            times[k] += _step_times(m, 1, batch)
    med = {k: statistics.median(v) for k, v in times.items()}
    result: dict[str, Any] = {"machine": machine(), "model": "resnet18 (CIFAR, 32x32)",
                              "batch": batch, "steps": steps,
                              "median_step_s": med,
                              "iqr_step_s": {k: [float(np.percentile(v, 25)),
                                                 float(np.percentile(v, 75))]
                                             for k, v in times.items()}}
    for k in cases:
        if k != "dense":
            result[f"overhead_share_{k.replace(' ', '_')}"] = (med[k] - med["dense"]) / med[k]
    # where SWAT's extra time goes (period 1), from the profiler's op table
    m = model_for(1)
    _step_times(m, 1, batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _step_times(m, 2, batch)
    topk_ops = ("aten::kthvalue", "aten::abs", "aten::gt", "aten::mul", "aten::count_nonzero",
                "aten::reshape", "aten::expand", "aten::clone", "aten::repeat", "aten::mean")
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    result["profile_self_cpu_share"] = {op: self_us.get(op, 0.0) / total for op in topk_ops}
    result["profile_topk_and_masking_share"] = sum(result["profile_self_cpu_share"].values())
    write_json_atomic(RESULTS / "training-overhead.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: steady timings on a shared machine)")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("accuracy")
    p.add_argument("--suite", default="all", help="cnn, resnet18 or all (comma list)")
    p = sub.add_parser("methods")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--sparsity", type=float, default=0.9)
    p = sub.add_parser("overhead")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.what == "accuracy":
        suites = list(SUITES) if args.suite == "all" else args.suite.split(",")
        unknown = [s for s in suites if s not in SUITES]
        if unknown:
            parser.error(f"unknown suite {unknown}; choose from {', '.join(SUITES)}")
        accuracy(suites)
    elif args.what == "methods":
        methods_table(args.epochs, args.sparsity)
    else:
        overhead(args.steps, args.batch)


if __name__ == "__main__":
    main()
