"""The training loop shared by every method, with resumable run directories and DDP.

The run directory's layout is :mod:`accelsim.rundir`; writing it (checkpoints, atomic
JSON) is :mod:`training.checkpoint`.  An interrupted run that is started again resumes
from its last checkpoint, repeats the unfinished epoch with the same batches (their order
and augmentation depend only on (seed, epoch)) and ends with exactly the result of an
uninterrupted run.  Traces already written are kept.  An epoch's metrics and events are
written before its checkpoint, which marks it done: a kill at any instant loses nothing (a
resume rewrites metrics.jsonl and events.jsonl from the checkpoint).  A loss that becomes NaN
or infinite stops the run with a one-line error; ``fresh=True`` (``accelsim train --fresh``)
starts a run directory over.

The loop talks to the method only through the :class:`~training.sparsifier.Sparsifier`
interface (hooks, events, masks, measured densities, phase).

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel
(gloo on CPU, NCCL on GPUs), each rank trains on its shard, and rank 0 writes the run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from accelsim import rundir
from accelsim.errors import ConfigError
from accelsim.fileio import ensure_dir
from training.checkpoint import (
    RunResult,
    load_checkpoint,
    locked,
    save_checkpoint,
    start_fresh,
    tidy,
    write_json,
    write_jsonl,
)
from training.config import TrainConfig, lr_factor, positive_int
from training.data import load_dataset
from training.loader import make_loader
from training.method_spec import MethodContext
from training.metrics import epoch_metrics
from training.monitors import ActivationDensityMonitor
from training.recorder import TraceRecorder
from training.registry import get_method
from training.sparsifier import Sparsifier
from workloads.models import build_model
from workloads.tables import derive_layer_table

Log = Callable[[str], None]
OnStep = Callable[[int, int], None] | None


def build_sparsifier(model: nn.Module, config: TrainConfig, *, steps_per_epoch: int = 1,
                     batches: Any = None, criterion: Any = None) -> Sparsifier:
    """The method's sparsifier on ``model``, from the registry (``training.registry``).

    ``batches(n)`` gives ``n`` training batches to methods that score at initialisation.
    """
    spec = get_method(config.method)

    def no_batches(n: int) -> list:
        raise ConfigError(f"method {config.method} needs training batches to start; build it "
                          "through training.loop.train or pass batches=")
    ctx = MethodContext(model=model, config=config, params=config.method_params,
                        steps_per_epoch=steps_per_epoch, batches=batches or no_batches,
                        criterion=criterion or nn.CrossEntropyLoss())
    sparsifier = spec.build(ctx)
    if not isinstance(sparsifier, Sparsifier):
        raise ConfigError(f"method {config.method} built a {type(sparsifier).__name__}, not a "
                          "Sparsifier")
    return sparsifier


class _Dist:
    """The process group when running under torchrun, else a single process."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.owned = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.owned = True
        self.rank = dist.get_rank() if self.world > 1 else 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, *values: float) -> list[float]:
        if self.world == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owned:
            dist.destroy_process_group()


def train(config: TrainConfig, out_dir: str | os.PathLike[str], *, resume: bool = True,
          progress: bool = True, device: str = "cpu", log: Log | None = print,
          on_step: OnStep = None, threads: int | None = None, fresh: bool = False) -> RunResult:
    """Train ``config`` into run directory ``out_dir``; resume it if it holds this run.

    ``on_step(epoch, step)`` is called after every optimizer step (e.g. to stop early by
    raising).  ``threads`` sets torch's CPU threads (None: torch's default; 1 is much
    faster for small models on a machine that runs other jobs).  ``fresh`` first deletes
    what an earlier run wrote into ``out_dir`` (refusing a directory that holds anything
    else), so the run starts over whatever its options.  Returns the run's
    :class:`~training.checkpoint.RunResult` with the trained model.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError("train() needs a TrainConfig")
    if threads is not None:
        positive_int("threads", threads)
        torch.set_num_threads(threads)
    run_dir = Path(out_dir)
    dev = _device(device)
    ddp = _Dist(dev)
    try:
        if ddp.main:
            ensure_dir(run_dir)
        ddp.barrier()
        with locked(run_dir) if ddp.main else contextlib.nullcontext():
            if ddp.main:
                if fresh:
                    start_fresh(run_dir)
                tidy(run_dir)
            ddp.barrier()
            run = _Run.start(config, run_dir, resume, dev, ddp, log or (lambda s: None))
            return run.train(progress, on_step)
    finally:
        ddp.close()


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but no GPU is visible; use --device cpu")
    return dev


@dataclass
class _Run:
    """One training run in progress: what the epochs share."""

    config: TrainConfig
    run_dir: Path
    dev: torch.device
    ddp: _Dist
    log: Log
    data: Any
    model: nn.Module
    geometries: Any
    steps_per_epoch: int
    criterion: nn.Module
    sparsifier: Sparsifier
    optimizer: torch.optim.Optimizer
    metrics: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    step: int = 0

    @classmethod
    def start(cls, config: TrainConfig, run_dir: Path, resume: bool, dev: torch.device,
              ddp: _Dist, log: Log) -> _Run:
        """Data, model, method and optimizer of ``config``, resumed from a checkpoint."""
        state = load_checkpoint(run_dir, config, resume)
        torch.manual_seed(config.seed)
        data = load_dataset(config.data, input_size=config.input_size, seed=config.seed)
        model = build_model(config.model, num_classes=data.num_classes,
                            in_channels=data.in_channels, input_size=data.input_size)
        shape = (data.in_channels, data.input_size, data.input_size)
        geometries = derive_layer_table(model, shape)
        model.to(dev)
        probe = make_loader(data.train, batch_size=config.batch_size, shuffle=True,
                            seed=config.seed, epoch=0, distributed=ddp.world > 1)
        steps = min(len(probe), config.max_steps_per_epoch or len(probe))
        criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

        def first_batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
            out = []
            for x, y in probe:
                out.append((x.to(dev), y.to(dev)))
                if len(out) == n:
                    break
            return out
        sparsifier = build_sparsifier(model, config, steps_per_epoch=steps,
                                      batches=first_batches, criterion=criterion)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    nesterov=config.nesterov and config.momentum > 0,
                                    weight_decay=config.weight_decay)
        sparsifier.attach_optimizer(optimizer)
        run = cls(config, run_dir, dev, ddp, log, data, model, geometries, steps, criterion,
                  sparsifier, optimizer)
        if state is not None:
            run.resume(state)
        return run

    def resume(self, state: dict[str, Any]) -> None:
        """Continue after the checkpointed epoch."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sparsifier.load_state_dict(state["sparsifier"])
        torch.set_rng_state(state["rng"])
        self.metrics, self.events = state["metrics"], state["events"]
        self.start_epoch, self.step = state["epoch"] + 1, state["step"]
        if self.ddp.main:
            self.log(f"resuming {self.run_dir} after epoch {state['epoch'] + 1}/"
                     f"{self.config.epochs} (step {self.step})")

    def reconcile(self) -> None:
        """Make metrics.jsonl and events.jsonl say what the checkpoint says: drop the lines
        of an epoch a kill interrupted before its checkpoint, restore lines lost after it."""
        for name, records in ((rundir.METRICS_NAME, self.metrics),
                              (rundir.EVENTS_NAME, self.events)):
            if not _holds(self.run_dir / name, records):
                write_jsonl(self.run_dir / name, records)

    def recorder(self) -> TraceRecorder | None:
        """The trace recorder of rank 0 (None when no trace is recorded)."""
        c = self.config
        if not self.ddp.main or not (c.trace_every > 0 or c.trace_at_boundaries):
            return None
        return TraceRecorder(
            self.model, self.run_dir / rundir.TRACE_DIR, model_name=c.model,
            dataset=c.data.split(":")[0], sparsifier=self.sparsifier, every=c.trace_every,
            samples=c.trace_samples, layers=c.trace_layers or None, passes=c.trace_passes,
            at_boundaries=c.trace_at_boundaries and c.trace_every > 0,
            encoding=c.trace_encoding, keep_existing=True)

    def train(self, progress: bool, on_step: OnStep) -> RunResult:
        """Every remaining epoch, then the summary."""
        if self.ddp.main:
            write_json(self.run_dir / rundir.CONFIG_NAME, self.config.to_dict())
            self.reconcile()
        net: nn.Module = self.model
        if self.ddp.world > 1:
            net = nn.parallel.DistributedDataParallel(self.model)
        recorder = self.recorder()
        test_loader = make_loader(self.data.test, batch_size=max(self.config.batch_size, 256),
                                  shuffle=False, seed=self.config.seed, epoch=0)
        for epoch in range(self.start_epoch, self.config.epochs):
            self.epoch(epoch, net, recorder, test_loader, progress, on_step)
        traces = rundir.trace_files(self.run_dir)
        if self.ddp.main:
            write_json(self.run_dir / rundir.SUMMARY_NAME, _summary(self.config, self.metrics,
                                                                     traces))
        return RunResult(self.run_dir, self.config, self.metrics, self.events, traces,
                         model=self.model)

    def epoch(self, epoch: int, net: nn.Module, recorder: TraceRecorder | None,
              test_loader: Any, progress: bool, on_step: OnStep) -> None:
        """Train one epoch, measure it, checkpoint it."""
        t0 = time.perf_counter()
        sp = self.sparsifier
        sp.on_epoch_start(epoch)
        epoch_events = sp.pop_events()
        monitor = ActivationDensityMonitor(sp.layers)
        with monitor:
            totals = self.steps(epoch, net, recorder, epoch_events, progress, on_step)
        loss_sum, correct, seen = self.ddp.sum(*totals)
        measured = sp.measured_densities()
        record = epoch_metrics(
            self.model, sp, test_loader, epoch=epoch, train_loss=loss_sum / seen,
            train_accuracy=correct / seen, train_samples=int(seen), geometries=self.geometries,
            train_activation=monitor,
            saved_activation_density=None if measured is None else {
                n: d["saved_activation"] for n, d in measured.items()},
            extra={"step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
                   "phase": sp.phase(), "seconds": round(time.perf_counter() - t0, 3),
                   "measured_densities": measured, "target_densities": sp.target_densities()})
        self.metrics.append(record)
        self.events += epoch_events
        if self.ddp.main:  # the checkpoint last: it marks the epoch done
            write_jsonl(self.run_dir / rundir.METRICS_NAME, self.metrics)
            write_jsonl(self.run_dir / rundir.EVENTS_NAME, self.events)
            save_checkpoint(self.run_dir, self.model, self.optimizer, sp, epoch, self.step,
                            self.metrics, self.events)
            self.log(_summary_line(self.config, record))
        self.ddp.barrier()

    def check_finite(self, loss: torch.Tensor, epoch: int) -> None:
        """Stop a diverged run (NaN or infinite loss) before the step changes anything: the
        last checkpoint stays, and the run directory resumable or restartable."""
        if bool(torch.isfinite(loss.detach())):
            return
        kept = f"its checkpoint after epoch {epoch}" if epoch else "no checkpoint"
        raise ConfigError(
            f"training diverged: the loss became {loss.item()} at epoch {epoch + 1}, step "
            f"{self.step} (lr {self.config.lr}); lower --lr and start over with --fresh "
            f"(the run directory {self.run_dir} keeps {kept})")

    def steps(self, epoch: int, net: nn.Module, recorder: TraceRecorder | None,
              events: list[dict[str, Any]], progress: bool,
              on_step: OnStep) -> tuple[float, float, float]:
        """The optimizer steps of ``epoch``: (loss sum, correct, samples) of this rank."""
        c, sp, opt = self.config, self.sparsifier, self.optimizer
        loader = make_loader(self.data.train, batch_size=c.batch_size, shuffle=True,
                             seed=c.seed, epoch=epoch, distributed=self.ddp.world > 1)
        batches = loader.batch_sampler.batches
        phase = sp.phase()
        loss_sum = correct = seen = 0.0
        bar = _bar(progress and self.ddp.main, self.steps_per_epoch,
                   f"epoch {epoch + 1}/{c.epochs}")
        for i, (x, y) in enumerate(loader):
            if i >= self.steps_per_epoch:
                break
            x, y = x.to(self.dev, non_blocking=True), y.to(self.dev, non_blocking=True)
            net.train()
            sp.before_forward(self.step)
            for group in opt.param_groups:
                group["lr"] = c.lr * lr_factor(c, self.step, self.steps_per_epoch,
                                               sp.lr_restart_step)
            record = (recorder.step(self.step, epoch=epoch, batch_indices=batches[i],
                                    phase=phase)
                      if recorder is not None else contextlib.nullcontext())
            with record:
                out = net(x)
                loss = self.criterion(out, y)
                penalty = sp.regularization()
                total = loss if penalty is None else loss + penalty
                self.check_finite(total, epoch)   # raising here also drops the step's trace
                opt.zero_grad(set_to_none=True)
                total.backward()
            opt.step()
            sp.step()
            events += sp.pop_events()
            loss_sum += float(loss.detach()) * y.shape[0]
            correct += float((out.argmax(1) == y).sum())
            seen += y.shape[0]
            self.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            if on_step is not None:
                on_step(epoch, self.step)
        if bar is not None:
            bar.close()
        return loss_sum, correct, seen


def _holds(path: Path, records: list[dict[str, Any]]) -> bool:
    """True when JSON-lines file ``path`` holds exactly ``records`` (missing: none)."""
    if not path.exists():
        return not records
    try:
        return rundir.read_jsonl(path) == records
    except ConfigError:
        return False


def _bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return None
    return tqdm(total=total, desc=desc, leave=False, unit="step", dynamic_ncols=True)


def _summary_line(config: TrainConfig, r: dict[str, Any]) -> str:
    wd = r["weight_density"]["overall"]
    act = (r["activation_density"]["train"] or r["activation_density"]["test"])["overall"]
    phase = f" {r['phase']}" if r.get("phase") else ""
    return (f"epoch {r['epoch'] + 1}/{config.epochs}{phase}: train loss {r['train']['loss']:.4f} "
            f"acc {r['train']['accuracy']:.4f} | test loss {r['test']['loss']:.4f} "
            f"acc {r['test']['accuracy']:.4f} | weight density {wd:.3f} "
            f"activation density {act:.3f} | {r['seconds']:.1f} s")


def _summary(config: TrainConfig, metrics: list[dict[str, Any]],
             traces: list[Path]) -> dict[str, Any]:
    last = metrics[-1]
    return {"method": config.method, "sparsity": config.sparsity, "model": config.model,
            "data": config.data, "epochs": len(metrics),
            "test_accuracy": last["test"]["accuracy"],
            "best_test_accuracy": max(m["test"]["accuracy"] for m in metrics),
            "weight_density": last["weight_density"]["overall"],
            "traces": [t.name for t in traces]}
