r"""STR-BN (seed 001, Kusupati 2020): soft-threshold re-parameterised BatchNorm scales.

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
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from accelsim.errors import ConfigError
from training.methods.pai import scoring_mode
from training.sparsifier import Sparsifier

__all__ = ["StrBnSparsifier", "build", "gamma_eff"]


def gamma_eff(gamma: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """STR soft threshold ``sign(gamma) relu(|gamma| - sigmoid(s))``."""
    return torch.sign(gamma) * torch.relu(gamma.abs() - torch.sigmoid(s))


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


def build(ctx: Any) -> StrBnSparsifier:
    """Registry builder of ``str-bn`` (one training batch finds the conv feeding each BN)."""
    p = ctx.params
    return StrBnSparsifier(ctx.model, s_init=p["s_init"], granularity=p["granularity"],
                           gamma_init=p["gamma_init"], seed=int(ctx.config.seed),
                           example_input=ctx.batches(1)[0][0])
