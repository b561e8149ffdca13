"""How the registry describes a sparse-training method, as data (no torch).

A method is a :class:`MethodSpec`: a name, what it is, where it comes from, its parameters
(:class:`ParamSpec`: name, type, default, help) and the dotted path (``"module:function"``)
of the function that builds its :class:`~training.sparsifier.Sparsifier` from a
:class:`MethodContext`; the implementing module is imported only when a method is built.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from accelsim.errors import ConfigError


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
    """What a method's builder may use.

    model: the model (unwrapped, on its device); config: the TrainConfig (sparsity,
    epochs, seed, ...); params: the method's parsed parameters; steps_per_epoch: optimizer
    steps per epoch; batches(n): ``n`` training batches ``(x, y)`` (seeded, for methods
    that score at initialisation); criterion: the loss function.
    """

    model: Any
    config: Any
    params: Mapping[str, Any]
    steps_per_epoch: int
    batches: Callable[[int], list[tuple[Any, Any]]]
    criterion: Callable[[Any, Any], Any]


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class MethodSpec:
    """A sparse-training method as the registry knows it.

    builder: ``"module:function"``, the function ``(MethodContext) -> Sparsifier``;
    check: optional ``"module:function"`` (a torch-free module) ``(params, config) ->
    None`` that validates the parameters against the run config (raises ConfigError).
    """

    name: str
    summary: str
    source: str
    builder: str
    params: tuple[ParamSpec, ...] = ()
    uses_sparsity: bool = True
    check: str = ""

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

    def check_params(self, params: Mapping[str, Any], config: Any) -> None:
        """Validate parsed ``params`` against the run ``config`` (no torch)."""
        if self.check:
            _resolve(self.check)(params, config)

    def build(self, ctx: MethodContext) -> Any:
        """The method's sparsifier (imports the implementing module)."""
        return _resolve(self.builder)(ctx)

    def to_dict(self) -> dict[str, Any]:
        """Plain description (name, summary, source, parameters), for listings."""
        return {"summary": self.summary, "source": self.source,
                "uses_sparsity": self.uses_sparsity,
                "params": [{"name": p.name, "type": p.kind.__name__, "default": p.default,
                            "help": p.help, "choices": list(p.choices)} for p in self.params]}
