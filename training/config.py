"""What determines a training run: :class:`TrainConfig` (no torch), and its LR schedule.

Method-specific options are not fields here: they are the method's parameters
(``method_params``, see ``accelsim methods``), parsed and checked by the registry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from accelsim.errors import ConfigError
from accelsim.numeric import require_int
from accelsim.spec.sparsity import check_sparsity
from accelsim.trace.schema import ENCODINGS, PASSES
from training.registry import get_method

LR_SCHEDULES = ("cosine", "step", "constant")


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
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("trace_samples", self.trace_samples)
        positive_int("trace_every", self.trace_every, minimum=0)
        positive_int("warmup_epochs", self.warmup_epochs, minimum=0)
        positive_int("seed", self.seed, minimum=0)
        if self.input_size is not None:
            positive_int("input_size", self.input_size)
        if self.max_steps_per_epoch is not None:
            positive_int("max_steps_per_epoch", self.max_steps_per_epoch)
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
        if self.trace_encoding not in ENCODINGS:
            raise ConfigError(f"trace_encoding {self.trace_encoding!r}; choose one of "
                              f"{', '.join(ENCODINGS)}")
        bad = [p for p in self.trace_passes if p not in PASSES]
        if bad or not self.trace_passes:
            raise ConfigError(f"trace_passes {list(self.trace_passes)}: choose from "
                              f"{', '.join(PASSES)}")
        object.__setattr__(self, "trace_passes", tuple(self.trace_passes))
        object.__setattr__(self, "trace_layers", tuple(self.trace_layers))
        spec.check_params(self.method_params, self)


    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly form (the run directory's config.json)."""
        d = asdict(self)
        d["trace_layers"] = list(self.trace_layers)
        d["trace_passes"] = list(self.trace_passes)
        d["method_params"] = dict(self.method_params)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config of :meth:`to_dict` (unknown keys raise ConfigError)."""
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


def positive_int(name: str, value: Any, minimum: int = 1) -> None:
    """Raise ConfigError unless ``value`` is an integer >= ``minimum``
    (:func:`accelsim.numeric.require_int`)."""
    require_int(value, name, minimum)


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
