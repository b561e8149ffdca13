"""The registry of sparse-training methods: one entry per method, one training loop for all.

A method is a :class:`MethodSpec`: a name, what it is, where it comes from, its parameters
(as data: name, type, default, help) and a ``build`` function that returns a
:class:`~training.sparsifier.Sparsifier` for a model.  ``accelsim train --method NAME
--param key=value`` and ``accelsim methods`` read this registry; new methods register
themselves with :func:`register` from their own module (listed in :data:`_MODULES`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from training.sparsifier import Sparsifier


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter: ``kind`` is ``int``, ``float``, ``bool`` or ``str``; ``choices``
    limits strings; ``minimum``/``maximum`` bound numbers (inclusive)."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, value: Any, method: str) -> Any:
        where = f"method {method} parameter {self.name}"
        if isinstance(value, str) and self.kind is not str:
            text = value.strip().lower()
            try:
                if self.kind is bool:
                    if text not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = text in ("true", "1", "yes")
                else:
                    value = self.kind(text)
            except ValueError:
                raise ConfigError(f"{where} = {value!r} is not a {self.kind.__name__}") from None
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{where} = {value!r} must be a {self.kind.__name__}")
        if self.kind is float and not math.isfinite(value):
            raise ConfigError(f"{where} = {value} must be finite")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{where} = {value!r}; choose one of {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{where} = {value} must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{where} = {value} must be <= {self.maximum}")
        return value


@dataclass(frozen=True)
class MethodContext:
    """What a method's ``build`` may use.

    model: the model (unwrapped, on its device); config: the TrainConfig (sparsity,
    epochs, ...); params: the method's parsed parameters; steps_per_epoch: optimizer steps
    per epoch; batches(n): ``n`` training batches ``(x, y)`` (seeded, for methods that
    score at initialisation); criterion: the loss function.
    """

    model: nn.Module
    config: Any
    params: Mapping[str, Any]
    steps_per_epoch: int
    batches: Callable[[int], list[tuple[torch.Tensor, torch.Tensor]]]
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class MethodSpec:
    """A sparse-training method as the registry knows it."""

    name: str
    summary: str
    source: str
    build: Callable[[MethodContext], Sparsifier]
    params: tuple[ParamSpec, ...] = ()
    uses_sparsity: bool = True
    aliases: tuple[str, ...] = field(default=())

    def parse_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``given`` (strings from the CLI are converted)."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ConfigError(f"method {self.name} has no parameter {', '.join(unknown)}; its "
                              f"parameters: {names} (see `accelsim methods`)")
        return {n: (p.parse(given[n], self.name) if n in given else p.default)
                for n, p in known.items()}


_REGISTRY: dict[str, MethodSpec] = {}
#: modules that register methods when imported (kept explicit: no import-time magic)
_MODULES = ("training.builtin_methods", "training.pruning", "training.dst",
            "training.activation_sparsity")


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry (a name may be registered once)."""
    if spec.name in _REGISTRY:
        raise ConfigError(f"method {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    for module in _MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def methods() -> dict[str, MethodSpec]:
    """Every registered method, by name."""
    _load()
    return dict(_REGISTRY)


def get_method(name: str) -> MethodSpec:
    """The method called ``name`` (a one-line error listing the choices otherwise)."""
    registry = methods()
    if name not in registry:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(registry)} "
                          "(`accelsim methods` lists them with their parameters)")
    return registry[name]
