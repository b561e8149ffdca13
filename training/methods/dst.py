r"""Dynamic sparse training: SET and RigL (seed 002, Price 2021 survey slides).

Start sparse, then every ``delta_t`` optimizer steps *prune and regrow* inside each layer,
so each layer's number of active weights ``K_l`` never changes.  The base class owns the
masks and re-applies them in place after every optimizer step (``w <- w * m``), so the
model computes with exactly the masked weights (biases and BN are never pruned).

* Initial per-layer densities ``d_l`` from :func:`accelsim.spec.sparsity.layer_densities`
  (``erk`` by default: ``d_l = min(1, eps (sum of dims) / prod(dims))`` with ``eps``
  solved so that ``sum_l d_l N_l = (1 - s) N``; ``uniform``: ``d_l = 1 - s``); every
  layer is sparsified (no dense first layer).  ``K_l = rnd(d_l N_l)`` positions are drawn
  uniformly at random (the Erdos-Renyi random graph) from the method's own generator
  seeded by ``config.seed`` and the masked weights are zeroed.
* Update after optimizer step ``t`` (1-based count of steps done) when
  ``t mod delta_t = 0`` and ``t < T_end = rnd(stop * T)``, ``T`` the run's steps
  (:class:`DstSchedule`).  Drop fraction (cosine decay, RigL eq. 1):
  ``f(t) = zeta / 2 (1 + cos(pi t / T_end))``; per layer ``n = rnd(f(t) K_l)``.
* Drop: the ``n`` active weights of smallest ``|w|``.
* Regrow ``n`` among the positions inactive after the drop (a just-dropped one may come
  back): SET at random (uniform, the method's generator, :class:`SetSparsifier`); RigL the
  ``n`` largest ``|dL/dw|`` of the dense gradient of this step (``weight.grad``: the loss
  gradient w.r.t. every weight, masked ones included, :class:`RiglSparsifier`).  Newly
  grown weights (inactive before the update) start at exactly zero and their optimizer
  state (momentum, Adam moments) is zeroed; a dropped-and-regrown weight keeps its value.
  Ties: stable sort, lowest flat index first.
* ``delta_t = 0`` (default parameter) means ``min(100, steps_per_epoch)``: RigL's 100
  steps, or once per epoch when epochs are shorter.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.numeric import round_half_up
from accelsim.spec.sparsity import check_sparsity, layer_densities
from training.layers import weight_geometry
from training.masks import mask_churn, mask_densities, reset_optimizer_slots
from training.sparsifier import ParamsCheckpoint, Sparsifier

__all__ = ["DstSchedule", "DstSparsifier", "MaskedSparsifier", "RiglSparsifier",
           "SetSparsifier", "build_rigl", "build_set", "drop_fraction"]


def drop_fraction(zeta: float, t: int, end: int) -> float:
    """Cosine-decayed update fraction ``zeta / 2 (1 + cos(pi t / end))`` (0 at ``t >= end``)."""
    if end <= 0 or t >= end:
        return 0.0
    return 0.5 * zeta * (1.0 + math.cos(math.pi * t / end))


class MaskedSparsifier(ParamsCheckpoint, Sparsifier):
    """A method whose masks are set when it is built (every layer masked): announces the
    initial masks at epoch 0, checks its parameters on resume."""

    def __init__(self, model: nn.Module, sparsity: float) -> None:
        super().__init__(model)
        self.sparsity = check_sparsity(sparsity, f"{self.method} sparsity")
        self._announced = False

    def _overall_density(self) -> float:
        return (sum(int(m.sum()) for m in self.masks.values())
                / sum(m.numel() for m in self.masks.values()))

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if not self._announced:
            self._announced = True
            if epoch == 0:
                self._event("masks", when="initial", density=self._overall_density(),
                            densities=mask_densities(self.masks))

    def _params(self) -> dict[str, Any]:
        """The method's parameters (checked on resume, part of :meth:`describe`)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity, **self._params(),
                "density": self._overall_density(), "layers": list(self.layers)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._announced = True


@dataclass(frozen=True)
class DstSchedule:
    """When SET/RigL update their masks: after every ``delta_t``-th of the run's
    ``total_steps`` optimizer steps until ``end_step = rnd(stop * total_steps)``, dropping
    and regrowing the fraction :func:`drop_fraction` ``(zeta, t, end_step)``."""

    total_steps: int
    zeta: float = 0.3
    delta_t: int = 100
    stop: float = 0.75

    def __post_init__(self) -> None:
        if not 0.0 < self.zeta <= 1.0:
            raise ConfigError(f"dynamic sparse training drop fraction {self.zeta} must be in "
                              "(0, 1]")
        if self.delta_t < 1 or self.total_steps < 1:
            raise ConfigError(f"delta_t = {self.delta_t} and total steps = {self.total_steps} "
                              "must be >= 1")
        if not 0.0 < self.stop <= 1.0:
            raise ConfigError(f"dynamic sparse training stop = {self.stop} must be in (0, 1]")

    @property
    def end_step(self) -> int:
        return round_half_up(self.stop * self.total_steps)

    def due(self, t: int) -> bool:
        """True when the masks are updated after step ``t`` (1-based)."""
        return t % self.delta_t == 0 and t < self.end_step

    def fraction(self, t: int) -> float:
        return drop_fraction(self.zeta, t, self.end_step)


class DstSparsifier(MaskedSparsifier):
    """Prune-and-regrow on :class:`DstSchedule` with constant per-layer densities; the
    subclass supplies the regrowth (:meth:`grow`).

    Parameters: ``sparsity`` overall target; ``schedule`` the :class:`DstSchedule`;
    ``distribution`` ``erk`` | ``uniform``; ``seed`` of the method's generator (initial
    masks, SET regrowth).  Events: ``"dst_update"`` at each update with ``update``,
    ``fraction``, ``dropped``/``grown`` per layer, ``churn`` and ``densities``.
    """

    #: what the regrowth is, for describe()
    regrowth = ""

    def __init__(self, model: nn.Module, sparsity: float, schedule: DstSchedule, *,
                 distribution: str = "erk", seed: int = 0) -> None:
        super().__init__(model, sparsity)
        self.schedule = schedule
        self.distribution, self.seed = distribution, int(seed)
        self.updates = 0
        self.generator = torch.Generator()
        self.generator.manual_seed(self.seed)
        geoms = [weight_geometry(n, m) for n, m in self.layers.items()]
        dens = layer_densities(geoms, self.sparsity, distribution=distribution,
                               first_layer_dense=False)
        self.keep = {n: round_half_up(d * m.weight.numel())
                     for (n, m), d in zip(self.layers.items(), dens, strict=True)}
        masks = {}
        for name, module in self.layers.items():
            n = module.weight.numel()
            flat = torch.zeros(n, dtype=torch.bool)
            flat[torch.randperm(n, generator=self.generator)[:self.keep[name]]] = True
            masks[name] = flat.view(module.weight.shape).to(module.weight.device)
        self.set_masks(masks)

    def _params(self) -> dict[str, Any]:
        s = self.schedule
        return {"zeta": s.zeta, "delta_t": s.delta_t, "stop": s.stop,
                "distribution": self.distribution, "seed": self.seed,
                "total_steps": s.total_steps}

    def step(self) -> None:
        """Re-apply the masks; after every ``delta_t``-th step before ``T_end``, update them."""
        super().step()
        t = self.iteration + 1
        if self.schedule.due(t):
            self._update(t)

    @abstractmethod
    def grow(self, weight: torch.Tensor, active: torch.Tensor, n: int) -> torch.Tensor:
        """Flat indices of the ``n`` positions to regrow among the inactive ones
        (``active``: flat boolean mask after the drop)."""

    def _update(self, t: int) -> None:
        frac = self.schedule.fraction(t)
        previous = {n: m.clone() for n, m in self.masks.items()}
        dropped: dict[str, int] = {}
        with torch.no_grad():
            for name, module in self.layers.items():
                w, old = module.weight, self.masks[name]
                k, total = self.keep[name], w.numel()
                n = min(round_half_up(frac * k), k)
                dropped[name] = 0 if (n == 0 or k == total) else n
                if dropped[name] == 0:
                    continue
                flat_old = old.flatten()
                inf = torch.tensor(math.inf, device=w.device, dtype=w.dtype)
                drop_score = torch.where(flat_old, w.detach().abs().flatten(), inf)
                new = flat_old.clone()
                new[torch.sort(drop_score, stable=True).indices[:n]] = False
                new[self.grow(w, new, n)] = True
                born = (new & ~flat_old).view(w.shape)
                w.masked_fill_(born, 0.0)
                reset_optimizer_slots(self.optimizer, w, born)
                self.masks[name] = new.view(w.shape)
        self.apply_masks()
        churn, _ = mask_churn(previous, self.masks)
        self._event("dst_update", update=self.updates, step=t, fraction=frac,
                    dropped=dropped, grown=dropped, churn=churn,
                    densities=mask_densities(self.masks))
        self.updates += 1

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "end_step": self.schedule.end_step,
                "regrowth": self.regrowth,
                "initial": "random mask, per-layer densities " + self.distribution}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "updates": self.updates,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for name, m in self.masks.items():
            if int(m.sum()) != self.keep[name]:
                raise ConfigError(f"checkpoint's {self.method} mask of layer {name!r} keeps "
                                  f"{int(m.sum())} weights, not {self.keep[name]}; resume "
                                  "with the same model and sparsity")
        self.updates = int(state["updates"])
        self.generator.set_state(state["generator"])


class SetSparsifier(DstSparsifier):
    """SET: regrow at random among the inactive positions (the method's generator)."""

    method = "set"
    regrowth = "random"

    def grow(self, weight: torch.Tensor, active: torch.Tensor, n: int) -> torch.Tensor:
        candidates = torch.nonzero(~active).flatten()
        pick = torch.randperm(candidates.numel(), generator=self.generator)[:n]
        return candidates[pick.to(candidates.device)]


class RiglSparsifier(DstSparsifier):
    """RigL: regrow the largest dense ``|dL/dw|`` among the inactive positions."""

    method = "rigl"
    regrowth = "gradient magnitude"

    def regrowth_scores(self, weight: torch.Tensor) -> torch.Tensor:
        """``|dL/dw|`` of this step, flat (zeros without a gradient)."""
        if weight.grad is None:
            return torch.zeros(weight.numel(), device=weight.device, dtype=weight.dtype)
        return weight.grad.detach().abs().flatten()

    def grow(self, weight: torch.Tensor, active: torch.Tensor, n: int) -> torch.Tensor:
        inf = torch.tensor(math.inf, device=weight.device, dtype=weight.dtype)
        score = torch.where(active, -inf, self.regrowth_scores(weight))
        return torch.sort(score, descending=True, stable=True).indices[:n]


def _build(ctx: Any, cls: type[DstSparsifier]) -> DstSparsifier:
    p = ctx.params
    delta_t = int(p["delta_t"]) or max(1, min(100, ctx.steps_per_epoch))
    schedule = DstSchedule(total_steps=ctx.config.epochs * max(1, ctx.steps_per_epoch),
                           zeta=p["zeta"], delta_t=delta_t, stop=p["stop"])
    return cls(ctx.model, ctx.config.sparsity, schedule, distribution=p["distribution"],
               seed=int(ctx.config.seed))


def build_set(ctx: Any) -> DstSparsifier:
    """Registry builder of ``set``."""
    return _build(ctx, SetSparsifier)


def build_rigl(ctx: Any) -> DstSparsifier:
    """Registry builder of ``rigl``."""
    return _build(ctx, RiglSparsifier)
