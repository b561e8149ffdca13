"""The configuration of SWAT (:mod:`training.methods.swat`) as data: the per-variant rules of
how the weight budget is spread over the layers (:data:`DISTRIBUTION_RULES`) and
:class:`SwatConfig`, validated on construction (a bad value is a
:class:`accelsim.errors.ConfigError`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from accelsim.errors import ConfigError
from accelsim.numeric import require_int
from accelsim.spec.sparsity import check_sparsity
from training.topk import check_variant


@dataclass(frozen=True)
class Distribution:
    """How one SWAT variant spreads the weight budget over the layers: the method name, the
    :func:`accelsim.spec.sparsity.layer_densities` distribution it starts from, the paper's
    first-layer choice, and whether it re-spreads the budget by mean momentum at every epoch
    start (SWAT-M)."""

    method: str
    initial: str
    first_layer_dense: bool
    by_momentum: bool = False


#: ``SwatConfig.distribution`` -> its rule, looked up once when the sparsifier is built.
DISTRIBUTION_RULES: dict[str, Distribution] = {
    "uniform": Distribution("swat-u", "uniform", first_layer_dense=True),
    "erk": Distribution("swat-erk", "erk", first_layer_dense=False),
    "momentum": Distribution("swat-m", "uniform", first_layer_dense=True, by_momentum=True),
}
DISTRIBUTIONS = tuple(DISTRIBUTION_RULES)
SWAT_METHODS = tuple(rule.method for rule in DISTRIBUTION_RULES.values())


@dataclass(frozen=True)
class SwatConfig:
    """What SWAT does, as data.

    sparsity: target fraction of zeros (network-wide for ERK/momentum; per layer for
        uniform).
    distribution: ``uniform`` | ``erk`` | ``momentum``.
    weight_topk: ``nchw`` | ``chw`` | ``hw`` | ``kernel`` | ``filter`` (see training.topk).
    activation_topk: ``nchw`` | ``chw`` | ``hw``.
    period: Top-K threshold recompute period, iterations (1 = every iteration).
    first_layer_dense: keep the first Conv2d/Linear layer dense (SWAT-U does).
    sparsify_activations: Top-K the activation saved for backward (SWAT: yes).
    overrides: ``((layer-name pattern, sparsity), ...)``; fnmatch patterns, first match.
    min_density: SWAT-M never gives a layer fewer than this fraction of its weights.
    """

    sparsity: float = 0.9
    distribution: str = "uniform"
    weight_topk: str = "nchw"
    activation_topk: str = "nchw"
    period: int = 1
    first_layer_dense: bool = True
    sparsify_activations: bool = True
    overrides: tuple[tuple[str, float], ...] = ()
    min_density: float = 0.01

    def __post_init__(self) -> None:
        check_sparsity(self.sparsity, "SWAT sparsity")
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(f"unknown SWAT distribution {self.distribution!r}; choose one of "
                              f"{', '.join(DISTRIBUTIONS)}")
        check_variant(self.weight_topk, "weight")
        check_variant(self.activation_topk, "activation")
        require_int(self.period, "SWAT Top-K period", 1,
                    "a number of iterations between threshold recomputes")
        if not isinstance(self.overrides, tuple) or not all(
                isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str)
                for o in self.overrides):
            raise ConfigError("SWAT overrides must be a tuple of (layer pattern, sparsity) pairs")
        for pattern, s in self.overrides:
            check_sparsity(s, f"sparsity override for {pattern!r}")
        if not 0.0 < self.min_density <= 1.0:
            raise ConfigError(f"SWAT min_density = {self.min_density} must be in (0, 1]")

    @property
    def method(self) -> str:
        return DISTRIBUTION_RULES[self.distribution].method

    @classmethod
    def for_method(cls, method: str, sparsity: float, **changes: Any) -> SwatConfig:
        """The paper's configuration of ``swat-u``, ``swat-erk`` or ``swat-m``."""
        presets = {rule.method: {"distribution": name,
                                 "first_layer_dense": rule.first_layer_dense}
                   for name, rule in DISTRIBUTION_RULES.items()}
        if method not in presets:
            raise ConfigError(f"unknown SWAT method {method!r}; choose one of "
                              f"{', '.join(presets)}")
        return cls(sparsity=sparsity, **{**presets[method], **changes})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["overrides"] = [list(o) for o in self.overrides]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SwatConfig:
        d = dict(data)
        d["overrides"] = tuple(tuple(o) for o in d.get("overrides", ()))
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"bad SWAT config: {exc}") from None
