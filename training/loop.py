"""The training loop shared by every method, with run directories, checkpoints and DDP.

A run directory holds::

    config.json          the TrainConfig (a re-run with the same directory resumes)
    metrics.jsonl        one record per finished epoch (training.metrics.epoch_metrics)
    events.jsonl         what the sparsifier did: prune points, phases, thresholds
    checkpoints/last.pt  model, optimizer, LR schedule, sparsifier and RNG state
    traces/step-*.trace  the recorded traces (accelsim's trace format)
    summary.json         final accuracy and densities, written when the run ends

Checkpoints are taken at epoch ends and written atomically; an interrupted run that is
started again resumes from its last checkpoint, repeats the unfinished epoch with the
same batches (their order and augmentation depend only on (seed, epoch)) and ends with
exactly the result of an uninterrupted run.  Traces already written are kept.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel
(gloo on CPU, NCCL on GPUs), each rank trains on its shard, and rank 0 writes the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from accelsim.errors import AccelsimError, ConfigError
from accelsim.spec.sparsity import check_sparsity
from accelsim.trace.schema import ENCODINGS, PASSES
from training.acdc import AcdcSchedule, AcdcSparsifier
from training.data import load_dataset, make_loader
from training.methods import MethodContext, get_method
from training.metrics import ActivationDensityMonitor, epoch_metrics
from training.recorder import TraceRecorder
from training.sparsifier import Sparsifier
from training.swat import SwatConfig, SwatSparsifier
from training.topk import ACTIVATION_VARIANTS, WEIGHT_VARIANTS

LR_SCHEDULES = ("cosine", "step", "constant")
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
EVENTS_NAME = "events.jsonl"
SUMMARY_NAME = "summary.json"
CHECKPOINT = Path("checkpoints") / "last.pt"
TRACE_DIR = "traces"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run (and nothing that does not, e.g. progress bars).

    Units: ``lr`` per step, ``weight_decay`` L2 factor, ``epochs``/``warmup_epochs``
    epochs, ``trace_every`` optimizer steps, ``trace_samples`` samples per trace.
    """

    method: str = "dense"
    sparsity: float = 0.9
    model: str = "digits-cnn"
    data: str = "digits"
    input_size: int | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    lr_schedule: str = "cosine"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    seed: int = 0
    # SWAT
    topk_period: int = 1
    weight_topk: str = "nchw"
    activation_topk: str = "nchw"
    # AC/DC (None: the defaults scaled from the ImageNet schedule)
    acdc_warmup: int | None = None
    acdc_compressed: int | None = None
    acdc_decompressed: int | None = None
    acdc_final: int | None = None
    # traces
    trace_every: int = 0
    trace_samples: int = 4
    trace_layers: tuple[str, ...] = ()
    trace_passes: tuple[str, ...] = PASSES
    trace_encoding: str = "fixed16"
    trace_at_boundaries: bool = True
    # limits (quick runs and tests)
    max_steps_per_epoch: int | None = None
    # parameters of the method (see `accelsim methods`); defaults filled in
    method_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.method_params, dict):
            raise ConfigError("method_params must be a mapping of parameter name to value")
        spec = get_method(self.method)
        object.__setattr__(self, "method_params", spec.parse_params(self.method_params))
        check_sparsity(self.sparsity)
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("topk_period", self.topk_period)
        _positive_int("trace_samples", self.trace_samples)
        _positive_int("trace_every", self.trace_every, minimum=0)
        _positive_int("warmup_epochs", self.warmup_epochs, minimum=0)
        _positive_int("seed", self.seed, minimum=0)
        if self.input_size is not None:
            _positive_int("input_size", self.input_size)
        if self.max_steps_per_epoch is not None:
            _positive_int("max_steps_per_epoch", self.max_steps_per_epoch)
        for name in ("lr", "momentum", "weight_decay", "label_smoothing"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) \
                    or v < 0:
                raise ConfigError(f"{name} = {v!r} must be a finite number >= 0")
        if self.lr <= 0:
            raise ConfigError(f"lr = {self.lr} must be > 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule {self.lr_schedule!r}; choose one of "
                              f"{', '.join(LR_SCHEDULES)}")
        if self.weight_topk not in WEIGHT_VARIANTS:
            raise ConfigError(f"weight_topk {self.weight_topk!r}; choose one of "
                              f"{', '.join(WEIGHT_VARIANTS)}")
        if self.activation_topk not in ACTIVATION_VARIANTS:
            raise ConfigError(f"activation_topk {self.activation_topk!r}; choose one of "
                              f"{', '.join(ACTIVATION_VARIANTS)}")
        if self.trace_encoding not in ENCODINGS:
            raise ConfigError(f"trace_encoding {self.trace_encoding!r}; choose one of "
                              f"{', '.join(ENCODINGS)}")
        bad = [p for p in self.trace_passes if p not in PASSES]
        if bad or not self.trace_passes:
            raise ConfigError(f"trace_passes {list(self.trace_passes)}: choose from "
                              f"{', '.join(PASSES)}")
        object.__setattr__(self, "trace_passes", tuple(self.trace_passes))
        object.__setattr__(self, "trace_layers", tuple(self.trace_layers))
        if self.method == "acdc":
            self.acdc_schedule()                     # validates the phase lengths

    def acdc_schedule(self) -> AcdcSchedule:
        return AcdcSchedule(self.epochs, warmup=self.acdc_warmup,
                            compressed=self.acdc_compressed,
                            decompressed=self.acdc_decompressed, final=self.acdc_final)

    def swat_config(self) -> SwatConfig:
        return SwatConfig.for_method(self.method, self.sparsity, period=self.topk_period,
                                     weight_topk=self.weight_topk,
                                     activation_topk=self.activation_topk)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["trace_layers"] = list(self.trace_layers)
        d["trace_passes"] = list(self.trace_passes)
        d["method_params"] = dict(self.method_params)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise ConfigError("run config is not a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"run config has unknown keys {sorted(unknown)}")
        d = dict(data)
        for key in ("trace_layers", "trace_passes"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} = {value!r} must be an integer >= {minimum}")


# ------------------------------------------------------------------------------ parts
def build_sparsifier(model: nn.Module, config: TrainConfig, *, steps_per_epoch: int = 1,
                     batches: Any = None, criterion: Any = None) -> Sparsifier:
    """The method's sparsifier on ``model``, from the registry (``training.methods``).

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


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int,
              restart: int | None = None) -> float:
    """LR multiplier at global ``step``: linear warm-up over ``warmup_epochs``, then
    ``cosine``: ``0.5 (1 + cos(pi p))`` with ``p`` the fraction of post-warm-up steps done;
    ``step``: x0.1 at 50% and 75% of the epochs; ``constant``: 1.

    ``restart`` (a sparsifier's ``lr_restart_step``, learning-rate rewinding): from that step
    on the schedule starts again, without warm-up, compressed into the remaining steps:
    ``p = (step - restart) / (total - restart)``.
    """
    total = config.epochs * steps_per_epoch
    warm = config.warmup_epochs * steps_per_epoch
    if restart is not None and restart <= step:
        p = (step - restart) / max(1, total - restart)
    elif step < warm:
        return (step + 1) / warm
    else:
        p = (step - warm) / max(1, total - warm)
    if config.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, p)))
    if config.lr_schedule == "step":
        return 0.1 ** (int(p >= 0.5) + int(p >= 0.75))
    return 1.0


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    _atomic_write(path, "".join(json.dumps(r, allow_nan=False) + "\n"
                                for r in records).encode())


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """One training process per run directory (a second one fails at once)."""
    fh = open(run_dir / ".lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"run directory {run_dir} is in use by another training "
                              "process; wait for it or choose another --out") from None
        yield
    finally:
        fh.close()


@dataclass
class RunResult:
    """What :func:`train` returns: the run directory and its records."""

    run_dir: Path
    config: TrainConfig
    metrics: list[dict[str, Any]]
    events: list[dict[str, Any]]
    traces: list[Path]
    model: nn.Module | None = None
    finished: bool = True

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


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


# ------------------------------------------------------------------------------ train
def train(config: TrainConfig, out_dir: str | os.PathLike[str], *, resume: bool = True,
          progress: bool = True, device: str = "cpu",
          log: Callable[[str], None] | None = print,
          on_step: Callable[[int, int], None] | None = None,
          threads: int | None = None) -> RunResult:
    """Train ``config`` into run directory ``out_dir``; resume it if it holds this run.

    ``on_step(epoch, step)`` is called after every optimizer step (e.g. to stop early by
    raising).  ``threads`` sets torch's CPU threads (None: torch's default; 1 is much
    faster for small models on a machine that runs other jobs).  Returns the run's
    :class:`RunResult` with the trained model.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError("train() needs a TrainConfig")
    if threads is not None:
        _positive_int("threads", threads)
        torch.set_num_threads(threads)
    run_dir = Path(out_dir)
    dev = _device(device)
    ddp = _Dist(dev)
    try:
        if ddp.main:
            run_dir.mkdir(parents=True, exist_ok=True)
        ddp.barrier()
        lock = _locked(run_dir) if ddp.main else contextlib.nullcontext()
        with lock:
            return _train(config, run_dir, resume, progress, dev, ddp, log or (lambda s: None),
                          on_step)
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


def _check_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> dict[str, Any] | None:
    cfg_path = run_dir / CONFIG_NAME
    if not cfg_path.exists():
        return None
    try:
        old = TrainConfig.from_dict(json.loads(cfg_path.read_text()))
    except (json.JSONDecodeError, OSError, AccelsimError) as exc:
        raise ConfigError(f"{cfg_path} is unreadable ({exc}); choose another --out") from None
    if old != config:
        diff = sorted(k for k, v in config.to_dict().items() if old.to_dict().get(k) != v)
        raise ConfigError(f"run directory {run_dir} holds another run (differs in "
                          f"{', '.join(diff)}); choose another --out or repeat its options")
    if not resume:
        raise ConfigError(f"run directory {run_dir} already holds this run; resume it or "
                          "choose another --out")
    ckpt = run_dir / CHECKPOINT
    if not ckpt.exists():
        return None
    try:
        return torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing
        raise ConfigError(f"checkpoint {ckpt} is unreadable ({type(exc).__name__}); delete it "
                          "to restart the run from scratch") from None


def _train(config: TrainConfig, run_dir: Path, resume: bool, progress: bool,
           dev: torch.device, ddp: _Dist, log: Callable[[str], None],
           on_step: Callable[[int, int], None] | None) -> RunResult:
    from workloads.models import build_model
    from workloads.tables import derive_layer_table

    state = _check_run_dir(run_dir, config, resume)
    torch.manual_seed(config.seed)
    data = load_dataset(config.data, input_size=config.input_size, seed=config.seed)
    model = build_model(config.model, num_classes=data.num_classes,
                        in_channels=data.in_channels, input_size=data.input_size)
    geometries = derive_layer_table(model, (data.in_channels, data.input_size, data.input_size))
    model.to(dev)
    probe = make_loader(data.train, batch_size=config.batch_size, shuffle=True,
                        seed=config.seed, epoch=0, distributed=ddp.world > 1)
    steps_per_epoch = len(probe)
    if config.max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def first_batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for x, y in probe:
            out.append((x.to(dev), y.to(dev)))
            if len(out) == n:
                break
        return out
    sparsifier = build_sparsifier(model, config, steps_per_epoch=steps_per_epoch,
                                  batches=first_batches, criterion=criterion)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov and config.momentum > 0,
                                weight_decay=config.weight_decay)
    sparsifier.attach_optimizer(optimizer)
    metrics: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    start_epoch, step = 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sparsifier.load_state_dict(state["sparsifier"])
        torch.set_rng_state(state["rng"])
        metrics, events = state["metrics"], state["events"]
        start_epoch, step = state["epoch"] + 1, state["step"]
        if log and ddp.main:
            log(f"resuming {run_dir} after epoch {state['epoch'] + 1}/{config.epochs} "
                f"(step {step})")
    if ddp.main:
        _write_json(run_dir / CONFIG_NAME, config.to_dict())
    net: nn.Module = model
    if ddp.world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    recorder = None
    if ddp.main and (config.trace_every > 0 or config.trace_at_boundaries):
        recorder = TraceRecorder(
            model, run_dir / TRACE_DIR, model_name=config.model, dataset=config.data.split(":")[0],
            sparsifier=sparsifier, every=config.trace_every, samples=config.trace_samples,
            layers=config.trace_layers or None, passes=config.trace_passes,
            at_boundaries=config.trace_at_boundaries and config.trace_every > 0,
            encoding=config.trace_encoding, keep_existing=True)
    test_loader = make_loader(data.test, batch_size=max(config.batch_size, 256),
                              shuffle=False, seed=config.seed, epoch=0)
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        sparsifier.on_epoch_start(epoch)
        loader = make_loader(data.train, batch_size=config.batch_size, shuffle=True,
                             seed=config.seed, epoch=epoch, distributed=ddp.world > 1)
        epoch_events = sparsifier.pop_events()
        phase = _phase(sparsifier, epoch)
        loss_sum = correct = seen = 0.0
        bar = _bar(progress and ddp.main, steps_per_epoch, f"epoch {epoch + 1}/{config.epochs}")
        monitor = ActivationDensityMonitor(sparsifier.layers)
        batches = loader.batch_sampler.batches
        with monitor:
            for i, (x, y) in enumerate(loader):
                if i >= steps_per_epoch:
                    break
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                net.train()
                sparsifier.before_forward(step)
                factor = lr_factor(config, step, steps_per_epoch, sparsifier.lr_restart_step)
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * factor
                record = (recorder.step(step, epoch=epoch, batch_indices=batches[i], phase=phase)
                          if recorder is not None else contextlib.nullcontext())
                with record:
                    out = net(x)
                    loss = criterion(out, y)
                    penalty = sparsifier.regularization()
                    optimizer.zero_grad(set_to_none=True)
                    (loss if penalty is None else loss + penalty).backward()
                if not torch.isfinite(loss):
                    raise ConfigError(f"loss became {loss.item()} at epoch {epoch + 1}, step "
                                      f"{step}; lower --lr")
                optimizer.step()
                sparsifier.step()
                epoch_events += sparsifier.pop_events()
                n = y.shape[0]
                loss_sum += float(loss.detach()) * n
                correct += float((out.argmax(1) == y).sum())
                seen += n
                step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
                if on_step is not None:
                    on_step(epoch, step)
        if bar is not None:
            bar.close()
        loss_sum, correct, seen = ddp.sum(loss_sum, correct, seen)
        measured = (sparsifier.measured_densities() if isinstance(sparsifier, SwatSparsifier)
                    else None)
        record_ = epoch_metrics(
            model, sparsifier, test_loader, epoch=epoch, train_loss=loss_sum / seen,
            train_accuracy=correct / seen, train_samples=int(seen), geometries=geometries,
            train_activation=monitor,
            saved_activation_density=None if measured is None else {
                n: d["saved_activation"] for n, d in measured.items()},
            extra={"step": step, "lr": optimizer.param_groups[0]["lr"], "phase": phase,
                   "seconds": round(time.perf_counter() - t0, 3),
                   "measured_densities": measured,
                   "target_densities": sparsifier.target_densities()})
        metrics.append(record_)
        events += epoch_events
        if ddp.main:
            _save_checkpoint(run_dir, model, optimizer, sparsifier, epoch, step,
                             metrics, events)
            _write_jsonl(run_dir / METRICS_NAME, metrics)
            _write_jsonl(run_dir / EVENTS_NAME, events)
            log(_summary_line(config, record_))
        ddp.barrier()
    traces = sorted((run_dir / TRACE_DIR).glob("*.trace")) if (run_dir / TRACE_DIR).is_dir() else []
    if ddp.main:
        _write_json(run_dir / SUMMARY_NAME, _summary(config, metrics, traces))
    return RunResult(run_dir, config, metrics, events, traces, model=model)


def _phase(sparsifier: Sparsifier, epoch: int) -> str | None:
    if isinstance(sparsifier, AcdcSparsifier):
        return sparsifier.schedule.phase_at(epoch).kind
    return None


def _bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, leave=False, unit="step", dynamic_ncols=True)


def _save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     sparsifier: Sparsifier, epoch: int, step: int,
                     metrics: list, events: list) -> None:
    (run_dir / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "sparsifier": sparsifier.state_dict(),
                "rng": torch.get_rng_state(), "epoch": epoch, "step": step,
                "metrics": metrics, "events": events}, buf)
    _atomic_write(run_dir / CHECKPOINT, buf.getvalue())


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


# ------------------------------------------------------------------------------ runs
def open_run(run_dir: str | os.PathLike[str]) -> RunResult:
    """Re-open a run directory: its config, metrics, events and traces (no model)."""
    d = Path(run_dir)
    cfg = d / CONFIG_NAME
    if not cfg.exists():
        raise ConfigError(f"{d} is not a run directory (no {CONFIG_NAME}); give the --out of "
                          "an `accelsim train` run")
    try:
        config = TrainConfig.from_dict(json.loads(cfg.read_text()))
        metrics = _read_jsonl(d / METRICS_NAME)
        events = _read_jsonl(d / EVENTS_NAME)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"run directory {d} has a corrupt JSON file ({exc})") from None
    traces = sorted((d / TRACE_DIR).glob("*.trace")) if (d / TRACE_DIR).is_dir() else []
    return RunResult(d, config, metrics, events, traces, model=None,
                     finished=len(metrics) == config.epochs)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
