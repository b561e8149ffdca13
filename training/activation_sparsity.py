r"""Activation sparsity on top of a weight-sparse model: Hoyer, FATReLU; and STR-BN.

Sources: seed 000 sections 1.2 and 3 (Nikdan & Alistarh: Hoyer regularisation of Kurtz et
al. 2020 on activations and DeepHoyer's on weights, FATReLU thresholds on a sparse model),
seed 001 (Kusupati: STR-BN).

Weight sparsity of ``hoyer`` and ``fatrelu`` (parameter ``base``)
    ``magnitude`` (default): one-shot global magnitude pruning to ``config.sparsity`` at the
    start of epoch ``P = floor(prune_at * E)`` (AC/DC's
    :func:`~training.acdc.global_magnitude_masks`, exact count), momentum reset
    (:func:`~training.acdc.reset_momentum`), then the mask is re-applied after every
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

STR-BN (``str-bn``)
    Each affine BatchNorm is re-parameterised (seed 001):
    ``y = gamma_eff * (x_hat + beta_hat)``, ``gamma_eff = sign(gamma) relu(|gamma| -
    sigmoid(s))``, ``x_hat`` the normalised input, ``beta_hat`` the BN's ``bias`` parameter
    re-read as ``beta / gamma`` (converted at install), ``s`` a learnable threshold per BN
    layer (``granularity=layer``) or one for all (``global``), registered as parameter
    ``str_threshold`` (so build the optimizer after the method; the loop does), initial
    value ``s_init``; the loop's weight decay pulls ``s`` towards 0, raising the threshold.
    A channel with ``|gamma| <= sigmoid(s)`` has ``gamma_eff = 0`` and outputs exactly 0
    (the ``beta_hat`` form makes the whole channel zero, not a constant ``beta``).
    ``gamma_init=uniform`` (default) redraws ``gamma ~ U(0, 1)`` at install (the old Torch
    BN initialisation; with the PyTorch default ``gamma = 1`` no channel can fall under a
    sigmoid threshold < 1 for a long time).  Dead filters: the Conv2d/Linear whose output
    tensor *is* the BN's input (found with one traced forward at install) produces a channel
    that the BN zeroes, so its filter is dead: it is marked masked in ``weight_masks()`` and
    zeroed after every optimizer step while the channel is dead (it restarts from zero if
    the channel revives).  BN layers fed by anything else (an add, a concat) zero their
    channel but mark no filter.  ``config.sparsity`` is not used: the channel sparsity (the
    fraction of BN channels with ``gamma_eff = 0``) comes from ``s_init``, ``gamma_init``,
    the learning rate and the weight decay, and is reported in ``describe()`` and the
    ``str_bn`` events; weight sparsity is that of the dead filters.  ``remove()`` folds
    ``gamma_eff`` and ``gamma_eff * beta_hat`` back into a plain BN.
"""

from __future__ import annotations

import math
import types
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import check_sparsity
from training.acdc import global_magnitude_masks, keep_count, mask_churn, reset_momentum
from training.dst import scoring_mode
from training.methods import MethodContext, MethodSpec, ParamSpec, register
from training.metrics import RELU_TYPES
from training.sparsifier import (
    Sparsifier,
    apply_weight_masks,
    load_layer_tensors,
    mask_densities,
    nonzero_densities,
    overlay_masks,
)

__all__ = ["FatReluSparsifier", "HoyerSparsifier", "StrBnSparsifier", "fatrelu",
           "gamma_eff", "hoyer_square"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
BASES = ("magnitude", "dense")


def hoyer_square(x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``(||x||_1 / ||x||_2)^2`` (divided by ``x.numel()`` when ``normalize``)."""
    h = x.abs().sum() ** 2 / (x.pow(2).sum() + 1e-12)
    return h / x.numel() if normalize else h


def fatrelu(x: torch.Tensor, threshold: float, six: bool = False) -> torch.Tensor:
    """``x if x > T else 0`` (then ``min(., 6)`` for ReLU6)."""
    out = torch.where(x > threshold, x, torch.zeros((), dtype=x.dtype, device=x.device))
    return out.clamp(max=6.0) if six else out


def gamma_eff(gamma: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """STR soft threshold ``sign(gamma) relu(|gamma| - sigmoid(s))``."""
    return torch.sign(gamma) * torch.relu(gamma.abs() - torch.sigmoid(s))


def _relu_modules(model: nn.Module) -> OrderedDict[str, nn.Module]:
    return OrderedDict((n, m) for n, m in model.named_modules() if isinstance(m, RELU_TYPES))


class _OneShotBase(Sparsifier):
    """Weight sparsity of Hoyer/FATReLU: global magnitude one-shot at ``prune_epoch``."""

    def __init__(self, model: nn.Module, sparsity: float, *, base: str = "magnitude",
                 prune_epoch: int = 0) -> None:
        super().__init__(model)
        if base not in BASES:
            raise ConfigError(f"{self.method} base {base!r}; choose one of {', '.join(BASES)}")
        self.base = base
        self.sparsity = check_sparsity(sparsity, f"{self.method} sparsity")
        self.prune_epoch = int(prune_epoch)
        self.total_weights = sum(m.weight.numel() for m in self.layers.values())
        self.keep = keep_count(self.sparsity, self.total_weights)
        if base == "magnitude" and self.keep == 0:
            raise ConfigError(f"{self.method} sparsity {self.sparsity} keeps no weight; lower it")
        self.mask: dict[str, torch.Tensor] | None = None

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if self.base == "magnitude" and self.mask is None and epoch >= self.prune_epoch:
            weights = {n: m.weight for n, m in self.layers.items()}
            self.mask, threshold = global_magnitude_masks(weights, self.keep)
            self._apply_mask()
            churn, _ = mask_churn(None, self.mask)
            self._event("prune", kept=self.keep, total=self.total_weights,
                        threshold=threshold, churn=churn,
                        momentum_reset=reset_momentum(self.optimizer),
                        densities=self._densities())

    def _apply_mask(self) -> None:
        if self.mask is not None:
            apply_weight_masks(self.layers, self.mask)

    def step(self) -> None:
        self._apply_mask()

    def _densities(self) -> dict[str, float]:
        return nonzero_densities(self.layers)

    def weight_masks(self) -> dict[str, torch.Tensor]:
        return overlay_masks(super().weight_masks(), self.mask)

    def target_densities(self) -> dict[str, float]:
        if self.mask is None:
            return super().target_densities()
        return mask_densities(self.mask)

    def _params(self) -> dict[str, Any]:
        return {"base": self.base, "prune_epoch": self.prune_epoch}

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity, **self._params(),
                "weight_pruning": ("global magnitude one-shot" if self.base == "magnitude"
                                   else "none")}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "sparsity": self.sparsity, "params": self._params(),
                "mask": None if self.mask is None else {n: m.clone().cpu()
                                                        for n, m in self.mask.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if float(state["sparsity"]) != self.sparsity or state["params"] != self._params():
            raise ConfigError(f"checkpoint's {self.method} sparsity/parameters differ from this "
                              "run's; resume with the same --sparsity and --param values")
        self.mask = load_layer_tensors(state["mask"], self.layers, f"{self.method} mask")
        self._apply_mask()


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


class StrBnSparsifier(Sparsifier):
    """STR-BN (module docstring): soft-threshold re-parameterised BN scales, exact-zero
    channels, dead preceding filters masked.

    Parameters: ``s_init`` initial threshold parameter (``sigmoid(s_init)`` the initial
    threshold); ``granularity`` ``layer`` | ``global``; ``gamma_init`` ``uniform`` | ``keep``;
    ``seed`` of the ``U(0, 1)`` draw; ``example_input`` one input batch to find the conv
    feeding each BN (``None``: no filter is marked).  Events: ``"str_bn"`` at every epoch
    start with ``channel_sparsity`` (overall and per BN), ``thresholds`` and
    ``dead_filters``; a boundary when the set of zero channels changed.
    """

    method = "str-bn"

    def __init__(self, model: nn.Module, *, s_init: float = -1.0, granularity: str = "layer",
                 gamma_init: str = "uniform", seed: int = 0,
                 example_input: torch.Tensor | None = None) -> None:
        super().__init__(model)
        if granularity not in ("layer", "global"):
            raise ConfigError(f"str-bn granularity {granularity!r}; use layer or global")
        if gamma_init not in ("uniform", "keep"):
            raise ConfigError(f"str-bn gamma_init {gamma_init!r}; use uniform or keep")
        if not math.isfinite(s_init):
            raise ConfigError(f"str-bn s_init {s_init} must be finite")
        self.bns: OrderedDict[str, _BatchNorm] = OrderedDict(
            (n, m) for n, m in model.named_modules()
            if isinstance(m, _BatchNorm) and m.affine)
        if not self.bns:
            raise ConfigError(f"model {type(model).__name__} has no affine BatchNorm layer for "
                              "STR-BN to re-parameterise")
        self.s_init, self.granularity, self.gamma_init = float(s_init), granularity, gamma_init
        self.seed = int(seed)
        self.feeds = self._find_feeds(example_input) if example_input is not None else {}
        self.thresholds: dict[str, nn.Parameter] = {}
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        shared: nn.Parameter | None = None
        with torch.no_grad():
            for name, bn in self.bns.items():
                w = bn.weight
                if gamma_init == "uniform":
                    w.copy_(torch.rand(w.shape, generator=generator).to(w))
                safe = torch.where(w == 0, torch.ones_like(w), w)
                bn.bias.copy_(torch.where(w == 0, torch.zeros_like(w), bn.bias / safe))
                if granularity == "global" and shared is not None:
                    self.thresholds[name] = shared
                    continue
                p = nn.Parameter(torch.full((), self.s_init, dtype=w.dtype, device=w.device))
                bn.register_parameter("str_threshold", p)
                self.thresholds[name] = p
                shared = p
        for name, bn in self.bns.items():
            bn.forward = types.MethodType(self._forward(name), bn)
        self._last_dead: dict[str, list[int]] | None = None

    def _find_feeds(self, example: torch.Tensor) -> dict[str, str]:
        """BN name -> name of the Conv2d/Linear whose output tensor is the BN's input."""
        produced: dict[int, str] = {}
        feeds: dict[str, str] = {}
        handles = []
        for name, layer in self.layers.items():
            def out_hook(m: nn.Module, a: Any, out: torch.Tensor, _n: str = name) -> None:
                produced[id(out)] = _n
            handles.append(layer.register_forward_hook(out_hook))
        for name, bn in self.bns.items():
            def in_hook(m: nn.Module, args: Any, _n: str = name) -> None:
                src = produced.get(id(args[0]))
                if src is not None and self.layers[src].weight.shape[0] == m.num_features:
                    feeds[_n] = src
            handles.append(bn.register_forward_pre_hook(in_hook))
        try:
            with scoring_mode(self.model), torch.no_grad():
                self.model(example)
        finally:
            for h in handles:
                h.remove()
        return feeds

    def _forward(self, name: str) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
        def forward(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
            factor = 0.0 if bn.momentum is None else bn.momentum
            if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:
                    factor = 1.0 / float(bn.num_batches_tracked)
            batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
            track = not bn.training or bn.track_running_stats
            xhat = F.batch_norm(x, bn.running_mean if track else None,
                                bn.running_var if track else None, None, None,
                                batch_stats, factor, bn.eps)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            g = gamma_eff(bn.weight, self.thresholds[name])
            return g.view(shape) * (xhat + bn.bias.view(shape))
        return forward

    def gammas(self) -> dict[str, torch.Tensor]:
        """``gamma_eff`` per BN layer (detached)."""
        return {n: gamma_eff(bn.weight, self.thresholds[n]).detach()
                for n, bn in self.bns.items()}

    def dead_channels(self) -> dict[str, torch.Tensor]:
        """Boolean per BN channel: ``gamma_eff == 0`` (the channel outputs exact zeros)."""
        return {n: g == 0 for n, g in self.gammas().items()}

    def channel_sparsity(self) -> tuple[float, dict[str, float]]:
        """Fraction of BN channels that are zero, overall and per BN layer."""
        dead = self.dead_channels()
        total = sum(d.numel() for d in dead.values())
        return (sum(int(d.sum()) for d in dead.values()) / total,
                {n: float(d.float().mean()) for n, d in dead.items()})

    def _zero_filters(self) -> None:
        dead = self.dead_channels()
        with torch.no_grad():
            for bn_name, layer_name in self.feeds.items():
                w = self.layers[layer_name].weight
                w[dead[bn_name].to(w.device)] = 0.0

    def step(self) -> None:
        """Zero the filters feeding zero BN channels after ``optimizer.step()``."""
        self._zero_filters()

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._zero_filters()
        overall, layers = self.channel_sparsity()
        dead = {n: torch.nonzero(d).flatten().tolist() for n, d in self.dead_channels().items()}
        self._event("str_bn", boundary=dead != self._last_dead, channel_sparsity=overall,
                    layer_channel_sparsity=layers,
                    thresholds={n: float(torch.sigmoid(p.detach())) for n, p in self.thresholds.items()},
                    dead_filters={self.feeds[n]: len(v) for n, v in dead.items()
                                  if n in self.feeds})
        self._last_dead = dead

    def weight_masks(self) -> dict[str, torch.Tensor]:
        """``weight != 0``, with the whole filter of a zero BN channel masked."""
        out = super().weight_masks()
        dead = self.dead_channels()
        for bn_name, layer_name in self.feeds.items():
            m = out[layer_name]
            m[dead[bn_name].to(m.device)] = False
        return out

    def describe(self) -> dict[str, Any]:
        overall, layers = self.channel_sparsity()
        return {"method": self.method, "s_init": self.s_init, "granularity": self.granularity,
                "gamma_init": self.gamma_init, "channel_sparsity": overall,
                "layer_channel_sparsity": layers, "feeds": dict(self.feeds)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "last_dead": self._last_dead,
                "params": [self.s_init, self.granularity, self.gamma_init, self.seed],
                "feeds": dict(self.feeds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state["params"] != [self.s_init, self.granularity, self.gamma_init, self.seed] \
                or state["feeds"] != self.feeds:
            raise ConfigError("checkpoint's str-bn parameters or model differ from this run's; "
                              "resume with the same --param values and model")
        self._last_dead = state["last_dead"]

    def remove(self) -> None:
        """Fold back into plain BN: ``weight = gamma_eff``, ``bias = gamma_eff * beta_hat``."""
        with torch.no_grad():
            for name, bn in self.bns.items():
                g = gamma_eff(bn.weight, self.thresholds[name])
                bn.bias.mul_(g)
                bn.weight.copy_(g)
                if "forward" in bn.__dict__:
                    del bn.forward
                if "str_threshold" in bn._parameters:
                    del bn._parameters["str_threshold"]


# ------------------------------------------------------------------------------ registry
def _epoch_at(fraction: float, epochs: int) -> int:
    return min(epochs - 1, int(math.floor(fraction * epochs)))


_BASE_PARAMS = (
    ParamSpec("base", str, "magnitude", "weight sparsity: global magnitude one-shot to "
              "--sparsity, or dense (--sparsity ignored)", choices=BASES),
    ParamSpec("prune_at", float, 0.5, "fraction of the epochs after which the one-shot "
              "magnitude prune happens (epoch floor(prune_at * E))", minimum=0.0, maximum=1.0),
)


def _hoyer(ctx: MethodContext) -> Sparsifier:
    p = ctx.params
    return HoyerSparsifier(ctx.model, ctx.config.sparsity, lambda_a=p["lambda_a"],
                           lambda_w=p["lambda_w"], normalize=p["normalize"], base=p["base"],
                           prune_epoch=_epoch_at(p["prune_at"], ctx.config.epochs))


def _fatrelu(ctx: MethodContext) -> Sparsifier:
    p = ctx.params
    n = int(p["calibration_batches"])
    return FatReluSparsifier(ctx.model, ctx.config.sparsity, threshold=p["threshold"],
                             extra_sparsity=p["extra_sparsity"], batches=lambda: ctx.batches(n),
                             fat_epoch=_epoch_at(p["fat_at"], ctx.config.epochs),
                             base=p["base"],
                             prune_epoch=_epoch_at(p["prune_at"], ctx.config.epochs))


def _str_bn(ctx: MethodContext) -> Sparsifier:
    p = ctx.params
    example = ctx.batches(1)[0][0]
    return StrBnSparsifier(ctx.model, s_init=p["s_init"], granularity=p["granularity"],
                           gamma_init=p["gamma_init"], seed=int(ctx.config.seed),
                           example_input=example)


register(MethodSpec(
    "hoyer", "Hoyer-square regularisation of ReLU outputs (and weights) on a global-magnitude "
    "one-shot sparse model", "seed 000 (Kurtz et al. 2020; DeepHoyer)", _hoyer,
    params=(ParamSpec("lambda_a", float, 1.0, "coefficient of the activation Hoyer terms",
                      minimum=0.0),
            ParamSpec("lambda_w", float, 0.0, "coefficient of the weight Hoyer terms",
                      minimum=0.0),
            ParamSpec("normalize", bool, True, "divide each Hoyer-square by the tensor's "
                      "element count"), *_BASE_PARAMS)))
register(MethodSpec(
    "fatrelu", "FATReLU (x if x > T else 0) per ReLU call site, calibrated to an extra "
    "activation sparsity, on a global-magnitude one-shot sparse model",
    "seed 000 (Kurtz et al. 2020)", _fatrelu,
    params=(ParamSpec("threshold", float, 0.0, "fixed T for every site (> 0 disables "
                      "calibration)", minimum=0.0),
            ParamSpec("extra_sparsity", float, 0.5, "fraction of ReLU's non-zero activations "
                      "each site's calibrated T zeroes", minimum=0.0, maximum=0.999),
            ParamSpec("calibration_batches", int, 4, "training batches for calibration",
                      minimum=1),
            ParamSpec("fat_at", float, 0.5, "fraction of the epochs after which FATReLU is "
                      "installed (epoch floor(fat_at * E))", minimum=0.0, maximum=1.0),
            *_BASE_PARAMS)))
register(MethodSpec(
    "str-bn", "STR-BN: soft-threshold re-parameterised BN scales (learnable threshold), "
    "exact-zero channels and dead filters (sparsity from the parameters, not --sparsity)",
    "seed 001 (Kusupati 2020)", _str_bn, uses_sparsity=False,
    params=(ParamSpec("s_init", float, -1.0, "initial threshold parameter (threshold "
                      "sigmoid(s))"),
            ParamSpec("granularity", str, "layer", "one threshold per BN layer or one for "
                      "all", choices=("layer", "global")),
            ParamSpec("gamma_init", str, "uniform", "redraw BN scales U(0, 1) at install, or "
                      "keep them", choices=("uniform", "keep")))))
