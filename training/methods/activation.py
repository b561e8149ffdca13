r"""Activation sparsity on top of a weight-sparse model: Hoyer and FATReLU.

Sources: seed 000 sections 1.2 and 3 (Nikdan & Alistarh: Hoyer regularisation of Kurtz et
al. 2020 on activations and DeepHoyer's on weights, FATReLU thresholds on a sparse model),
seed 001 (Kusupati: STR-BN).

Weight sparsity of ``hoyer`` and ``fatrelu`` (parameter ``base``)
    ``magnitude`` (default): one-shot global magnitude pruning to ``config.sparsity`` at the
    start of epoch ``P = floor(prune_at * E)`` (the base
    class's exact-count selection), momentum reset
    (:func:`~training.masks.reset_momentum`), then the mask is re-applied after every
    optimizer step, so the run ends at exactly ``config.sparsity``.  ``dense``: no weight
    pruning (``config.sparsity`` is ignored).  Their own targets are activation sparsity,
    which has no exact target: Hoyer pushes it up through the loss, FATReLU through
    thresholds.

Hoyer (``hoyer``)
    ``regularization() = lambda_a sum_s H(a_s) + lambda_w sum_l H(w_l)`` with the
    Hoyer-square ``H(x) = (||x||_1 / ||x||_2)^2`` (DeepHoyer), ``a_s`` the output tensor of
    ReLU call site ``s`` in this step's forward (the whole batch, every ``nn.ReLU`` /
    ``nn.ReLU6`` module call in train mode), ``w_l`` each Conv2d/Linear weight.  With
    ``normalize`` (default) each term is divided by the tensor's element count ``n``, so it
    lies in ``[1/n, 1]``, does not grow with the batch size and is a smooth proxy of the
    density; ``normalize=false`` gives the raw sums of the papers.  ``||x||_2^2`` gets
    ``+1e-12`` so an all-zero tensor gives 0.

FATReLU (``fatrelu``)
    ``FATReLU_T(x) = x if x > T else 0`` (ReLU6: then ``min(., 6)``), installed at the
    start of epoch ``floor(fat_at * E)`` (after the prune when both fall on that epoch) on
    every ``nn.ReLU``/``nn.ReLU6`` module, with one ``T`` per **call site** (a module called
    twice in a forward has sites ``relu`` and ``relu#2``, as the dead-neuron metrics name
    them).  ``threshold > 0`` gives every site that ``T``; otherwise ``T_s`` is calibrated
    on ``calibration_batches`` training batches (train-mode forward, BN statistics and RNG
    restored): the ``extra_sparsity``-quantile of the site's positive pre-activations
    (``torch.kthvalue``), i.e. FATReLU zeroes about that fraction of the activations ReLU
    kept.  Thresholds are averaged over DDP ranks.  The module stays an ``nn.ReLU`` (its
    ``forward`` is overridden per instance); ``remove()`` restores it.
"""

from __future__ import annotations

import math
import types
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import check_sparsity
from training.catalog import BASES
from training.masks import keep_count, mask_churn, nonzero_densities, reset_momentum
from training.methods.pai import scoring_mode
from training.monitors import RELU_TYPES
from training.sparsifier import ParamsCheckpoint, Sparsifier

__all__ = ["FatReluSparsifier", "HoyerSparsifier", "build_fatrelu", "build_hoyer", "fatrelu",
           "hoyer_square"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


def hoyer_square(x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``(||x||_1 / ||x||_2)^2`` (divided by ``x.numel()`` when ``normalize``)."""
    h = x.abs().sum() ** 2 / (x.pow(2).sum() + 1e-12)
    return h / x.numel() if normalize else h


def fatrelu(x: torch.Tensor, threshold: float, six: bool = False) -> torch.Tensor:
    """``x if x > T else 0`` (then ``min(., 6)`` for ReLU6)."""
    out = torch.where(x > threshold, x, torch.zeros((), dtype=x.dtype, device=x.device))
    return out.clamp(max=6.0) if six else out


def _relu_modules(model: nn.Module) -> OrderedDict[str, nn.Module]:
    return OrderedDict((n, m) for n, m in model.named_modules() if isinstance(m, RELU_TYPES))


#: ``base`` (:data:`training.catalog.BASES`) -> the weight pruning it means (None: none)
_WEIGHT_PRUNING: dict[str, str | None] = {"magnitude": "global magnitude one-shot",
                                          "dense": None}
assert tuple(_WEIGHT_PRUNING) == BASES, "one weight pruning per base of the catalog"


class _OneShotBase(ParamsCheckpoint, Sparsifier):
    """Weight sparsity of Hoyer/FATReLU: global magnitude one-shot at ``prune_epoch``
    (``base = magnitude``), or none (``base = dense``)."""

    def __init__(self, model: nn.Module, sparsity: float, *, base: str = "magnitude",
                 prune_epoch: int = 0) -> None:
        super().__init__(model)
        if base not in BASES:
            raise ConfigError(f"{self.method} base {base!r}; choose one of {', '.join(BASES)}")
        self.base = base
        self.sparsity = check_sparsity(sparsity, f"{self.method} sparsity")
        self.prune_epoch = int(prune_epoch)
        self.weight_pruning = _WEIGHT_PRUNING[base]
        #: the epoch of the one-shot prune, None when the weights stay dense
        self.prune_at = None if self.weight_pruning is None else self.prune_epoch
        self.total_weights = sum(m.weight.numel() for m in self.layers.values())
        self.keep = keep_count(self.sparsity, self.total_weights)
        if self.prune_at is not None and self.keep == 0:
            raise ConfigError(f"{self.method} sparsity {self.sparsity} keeps no weight; lower it")

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if self.prune_at is not None and not self.masks and epoch >= self.prune_at:
            masks, threshold = self.select(self.keep)
            self.set_masks(masks)
            churn, _ = mask_churn(None, masks)
            self._event("prune", kept=self.keep, total=self.total_weights,
                        threshold=threshold, churn=churn,
                        momentum_reset=reset_momentum(self.optimizer),
                        densities=nonzero_densities(self.layers))

    def _params(self) -> dict[str, Any]:
        return {"base": self.base, "prune_epoch": self.prune_epoch}

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity, **self._params(),
                "weight_pruning": self.weight_pruning or "none"}



class HoyerSparsifier(_OneShotBase):
    """Hoyer-square regularisation of ReLU outputs (``lambda_a``) and weights
    (``lambda_w``) on a magnitude-pruned (or dense) model; formula in the module docstring."""

    method = "hoyer"

    def __init__(self, model: nn.Module, sparsity: float, *, lambda_a: float = 1.0,
                 lambda_w: float = 0.0, normalize: bool = True, base: str = "magnitude",
                 prune_epoch: int = 0) -> None:
        super().__init__(model, sparsity, base=base, prune_epoch=prune_epoch)
        if not (math.isfinite(lambda_a) and math.isfinite(lambda_w)) or min(lambda_a,
                                                                               lambda_w) < 0:
            raise ConfigError(f"hoyer coefficients lambda_a = {lambda_a}, lambda_w = {lambda_w} "
                              "must be finite and >= 0")
        self.lambda_a, self.lambda_w, self.normalize = float(lambda_a), float(lambda_w), \
            bool(normalize)
        relus = _relu_modules(model)
        if self.lambda_a > 0 and not relus:
            raise ConfigError(f"model {type(model).__name__} has no nn.ReLU/nn.ReLU6 module: "
                              "Hoyer on activations needs ReLU modules (use lambda_a=0)")
        self._outputs: list[torch.Tensor] = []
        self._handles = [m.register_forward_hook(self._capture) for m in relus.values()] \
            if self.lambda_a > 0 else []

    def _capture(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if module.training and torch.is_grad_enabled():
            self._outputs.append(output)

    def before_forward(self, iteration: int) -> None:
        super().before_forward(iteration)
        self._outputs = []

    def regularization(self) -> torch.Tensor | None:
        """``lambda_a sum_s H(a_s) + lambda_w sum_l H(w_l)`` of this step's forward."""
        terms: list[torch.Tensor] = []
        if self.lambda_a > 0 and self._outputs:
            terms.append(self.lambda_a * sum(hoyer_square(a, self.normalize)
                                             for a in self._outputs))
        if self.lambda_w > 0:
            terms.append(self.lambda_w * sum(hoyer_square(m.weight, self.normalize)
                                             for m in self.layers.values()))
        self._outputs = []
        return sum(terms) if terms else None

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "lambda_a": self.lambda_a, "lambda_w": self.lambda_w,
                "normalize": self.normalize}

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles, self._outputs = [], []


class FatReluSparsifier(_OneShotBase):
    """FATReLU thresholds per ReLU call site on a magnitude-pruned (or dense) model.

    ``threshold > 0``: that ``T`` everywhere; else ``extra_sparsity`` calibration on
    ``batches()`` (a callable giving the calibration batches when the thresholds are
    installed at ``fat_epoch``).  Events: ``"fatrelu"`` with the per-site thresholds.
    """

    method = "fatrelu"

    def __init__(self, model: nn.Module, sparsity: float, *, threshold: float = 0.0,
                 extra_sparsity: float = 0.5, batches: Callable[[], Batches] | None = None,
                 fat_epoch: int = 0, base: str = "magnitude", prune_epoch: int = 0) -> None:
        super().__init__(model, sparsity, base=base, prune_epoch=prune_epoch)
        if not math.isfinite(threshold) or threshold < 0:
            raise ConfigError(f"fatrelu threshold {threshold} must be finite and >= 0")
        if not 0.0 <= extra_sparsity < 1.0:
            raise ConfigError(f"fatrelu extra_sparsity {extra_sparsity} must be in [0, 1)")
        if threshold == 0 and extra_sparsity > 0 and batches is None:
            raise ConfigError("fatrelu calibration needs batches; give batches= or a threshold")
        self.relus = _relu_modules(model)
        if not self.relus:
            raise ConfigError(f"model {type(model).__name__} has no nn.ReLU/nn.ReLU6 module "
                              "for FATReLU to replace")
        self.threshold, self.extra_sparsity = float(threshold), float(extra_sparsity)
        self.fat_epoch = int(fat_epoch)
        self._batches = batches
        self.thresholds: dict[str, float] | None = None
        self._calls: dict[str, int] = {}
        self._pre = model.register_forward_pre_hook(self._new_forward)

    def _new_forward(self, module: nn.Module, args: Any) -> None:
        self._calls = {}

    def _site(self, name: str) -> str:
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        return name if count == 1 else f"{name}#{count}"

    def _install(self) -> None:
        for name, module in self.relus.items():
            six = isinstance(module, nn.ReLU6)

            def forward(_self: nn.Module, x: torch.Tensor, _name: str = name,
                        _six: bool = six) -> torch.Tensor:
                site = self._site(_name)
                t = 0.0 if self.thresholds is None else self.thresholds.get(
                    site, self.thresholds.get(_name, self.threshold))
                return fatrelu(x, t, _six)
            module.forward = types.MethodType(forward, module)

    def calibrate(self, batches: Batches) -> dict[str, float]:
        """Per-site thresholds: the ``extra_sparsity``-quantile of the positive inputs."""
        inputs: dict[str, list[torch.Tensor]] = {}
        calls: dict[str, int] = {}

        def hook(name: str) -> Callable[..., None]:
            def record(module: nn.Module, args: Any) -> None:
                calls[name] = calls.get(name, 0) + 1
                site = name if calls[name] == 1 else f"{name}#{calls[name]}"
                x = args[0].detach()
                inputs.setdefault(site, []).append(x[x > 0].flatten().float().cpu())
            return record
        handles = [m.register_forward_pre_hook(hook(n)) for n, m in self.relus.items()]
        saved = self.thresholds
        self.thresholds = None
        try:
            with scoring_mode(self.model), torch.no_grad():
                for x, _ in batches:
                    calls.clear()
                    self.model(x)
        finally:
            for h in handles:
                h.remove()
        out = {}
        for site, parts in inputs.items():
            pos = torch.cat(parts)
            k = math.ceil(self.extra_sparsity * pos.numel())
            out[site] = float(torch.kthvalue(pos, k).values) if k >= 1 else 0.0
        self.thresholds = saved
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            t = torch.tensor([out[s] for s in sorted(out)], dtype=torch.float64)
            dist.all_reduce(t)
            out = dict(zip(sorted(out), (t / dist.get_world_size()).tolist(), strict=True))
        return out

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if self.thresholds is None and epoch >= self.fat_epoch:
            if self.threshold > 0 or self.extra_sparsity == 0:
                thresholds = {name: self.threshold for name in self.relus}
            else:
                assert self._batches is not None
                thresholds = self.calibrate(self._batches())
            self._install()
            self.thresholds = thresholds
            self._event("fatrelu", thresholds=dict(thresholds),
                        calibrated=self.threshold == 0 and self.extra_sparsity > 0)

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "threshold": self.threshold,
                "extra_sparsity": self.extra_sparsity, "fat_epoch": self.fat_epoch}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "thresholds": self.thresholds}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "thresholds": self.thresholds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state["thresholds"] is not None:
            self._install()
            self.thresholds = {str(k): float(v) for k, v in state["thresholds"].items()}

    def remove(self) -> None:
        for module in self.relus.values():
            if "forward" in module.__dict__:
                del module.forward
        self._pre.remove()
        self.thresholds = None


# ------------------------------------------------------------------------------ registry
def _epoch_at(fraction: float, epochs: int) -> int:
    return min(epochs - 1, int(math.floor(fraction * epochs)))


def build_hoyer(ctx: Any) -> HoyerSparsifier:
    """Registry builder of ``hoyer``."""
    p = ctx.params
    return HoyerSparsifier(ctx.model, ctx.config.sparsity, lambda_a=p["lambda_a"],
                           lambda_w=p["lambda_w"], normalize=p["normalize"], base=p["base"],
                           prune_epoch=_epoch_at(p["prune_at"], ctx.config.epochs))


def build_fatrelu(ctx: Any) -> FatReluSparsifier:
    """Registry builder of ``fatrelu`` (calibrated on ``calibration_batches`` batches)."""
    p = ctx.params
    n = int(p["calibration_batches"])
    return FatReluSparsifier(ctx.model, ctx.config.sparsity, threshold=p["threshold"],
                             extra_sparsity=p["extra_sparsity"], batches=lambda: ctx.batches(n),
                             fat_epoch=_epoch_at(p["fat_at"], ctx.config.epochs),
                             base=p["base"],
                             prune_epoch=_epoch_at(p["prune_at"], ctx.config.epochs))
