"""SWAT: Sparse Weight Activation Training (Raihan & Aamodt, NeurIPS 2020; seed 003).

Per Conv2d/Linear layer and iteration (SWAT section 3.2, appendix A, algorithm 1):

* forward:          ``y = conv(x, W_topk)``  with the dense input ``x``;
* saved for backward: ``x_topk = f_TOPK(x)`` (only this sparse tensor is kept);
* backward-input:   ``dx = conv_input(W_topk, dy)``  with the dense output gradient;
* backward-weight:  ``dW = conv_weight(x_topk, dy)`` -- a *dense* gradient for all
  weights, so weights outside the Top-K set keep learning and the topology can change
  every step.  Output gradients are never sparsified; BN is never touched.

The layer density ``d_l`` (fraction of unmasked elements) is the same for weights and
activations (3.3.2); it comes from the distribution: ``uniform`` (SWAT-U, first layer
dense), ``erk`` (SWAT-ERK) or ``momentum`` (SWAT-M: at every epoch start the budget of
active weights is re-split so that a layer keeps ``K_l ∝ N_l * m_l`` weights, ``m_l``
being the mean |momentum| of its active weights, inspired by SNFS).  Thresholds are
recomputed every ``period`` iterations (periodic Top-K, 3.3.3/A.6) and reused in
between, so the measured density drifts; it is counted at every forward.  The
configuration and the per-variant rules: :mod:`training.methods.swat_config`.

Use on any model::

    sparsifier = swat.apply(model, SwatConfig.for_method("swat-u", 0.9))
    sparsifier.attach_optimizer(optimizer)   # needed for SWAT-M
    for x, y in loader:
        loss = criterion(model(x), y); optimizer.zero_grad(); loss.backward()
        optimizer.step(); sparsifier.step()
"""

from __future__ import annotations

import fnmatch
import types
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import layer_densities
from training.layers import weight_geometry
from training.methods.swat_config import DISTRIBUTION_RULES, SwatConfig
from training.methods.swat_function import SwatFunction, Tap
from training.sparsifier import Sparsifier
from training.topk import (
    mask_from_threshold,
    reusable_threshold,
    scores,
    threshold,
)


class _LayerState:
    """Per-layer thresholds and measured-density counters (tensors, for state_dict)."""

    def __init__(self, density: float) -> None:
        self.density = density
        self.t_weight: torch.Tensor | None = None
        self.t_activation: torch.Tensor | None = None
        self.computed_at = -1
        self.counts = torch.zeros(4, dtype=torch.float64)   # w nnz, w total, a nnz, a total


class SwatSparsifier(Sparsifier):
    """SWAT on every Conv2d/Linear layer of ``model`` (installed by :func:`apply`)."""

    def __init__(self, model: nn.Module, config: SwatConfig) -> None:
        super().__init__(model)
        if not isinstance(config, SwatConfig):
            raise ConfigError("swat.apply needs a SwatConfig (training.methods.swat_config.SwatConfig)")
        self.config = config
        self.method = config.method
        names = list(self.layers)
        overrides = {}
        for name in names:
            for pattern, s in config.overrides:
                if fnmatch.fnmatchcase(name, pattern):
                    overrides[name] = s
                    break
        unused = [p for p, _ in config.overrides
                  if not any(fnmatch.fnmatchcase(n, p) for n in names)]
        if unused:
            raise ConfigError(f"SWAT overrides {unused} match no Conv2d/Linear layer; layer "
                              f"names look like {names[0]!r}")
        geoms = [weight_geometry(n, m) for n, m in self.layers.items()]
        rule = DISTRIBUTION_RULES[config.distribution]
        self._by_momentum = rule.by_momentum
        densities = layer_densities(geoms, config.sparsity, distribution=rule.initial,
                                    first_layer_dense=config.first_layer_dense,
                                    overrides=overrides)
        self._fixed = {n for i, n in enumerate(names)
                       if n in overrides or (i == 0 and config.first_layer_dense)}
        self._counts = {g.name: g.weight_count for g in geoms}
        self.state = {n: _LayerState(d) for n, d in zip(names, densities, strict=True)}
        self._taps: dict[str, Tap] = {}
        for name, module in self.layers.items():
            if getattr(module, "_accelsim_swat", None) is not None:
                raise ConfigError(f"layer {name} already has SWAT installed; call remove() on "
                                  "the old sparsifier first")
            module._accelsim_swat = self
            module.forward = types.MethodType(self._make_forward(name), module)

    # -- the layer forward --------------------------------------------------------------
    def _make_forward(self, name: str) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
        sparsifier = self

        def forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return sparsifier._forward(name, module, x)
        return forward

    def _recompute_due(self, st: _LayerState) -> bool:
        if st.t_weight is None:
            return True
        return (self.iteration % self.config.period == 0) and st.computed_at != self.iteration

    def _forward(self, name: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        st = self.state[name]
        cfg = self.config
        conv = None if isinstance(module, nn.Linear) else (
            module.stride, module.padding, module.dilation, module.groups)
        sparse = st.density < 1.0
        w_mask = a_mask = None
        training = module.training and torch.is_grad_enabled()
        with torch.no_grad():
            if sparse:
                recompute = training and self._recompute_due(st)
                wv = cfg.weight_topk
                ws = scores(module.weight, wv)
                if recompute or st.t_weight is None:
                    t = threshold(module.weight, st.density, wv, precomputed=ws)
                    st.t_weight = reusable_threshold(t, module.weight, wv, "weight")
                w_mask = mask_from_threshold(module.weight, st.t_weight, wv, precomputed=ws)
                if training and cfg.sparsify_activations:
                    av = cfg.activation_topk
                    xs = scores(x, av)
                    if recompute or st.t_activation is None:
                        t = threshold(x, st.density, av, precomputed=xs)
                        st.t_activation = reusable_threshold(t, x, av, "activation")
                        if cfg.period > 1:
                            self._event("threshold", boundary=False, layer=name,
                                        density=st.density)
                    a_mask = mask_from_threshold(x, st.t_activation, av, precomputed=xs)
                if recompute:
                    st.computed_at = self.iteration
            if training:
                w_nnz = (int(w_mask.count_nonzero()) if w_mask is not None
                         else int(module.weight.count_nonzero()))
                # a kept element has |x| > t >= 0, so it is non-zero (t < 0: all kept)
                if a_mask is not None and bool((st.t_activation >= 0).all()):
                    a_nnz = int(a_mask.count_nonzero())
                else:
                    a_nnz = int((x if a_mask is None else x * a_mask).count_nonzero())
                st.counts += torch.tensor([w_nnz, module.weight.numel(), a_nnz, x.numel()],
                                          dtype=torch.float64)
        if not training:
            w = module.weight if w_mask is None else module.weight * w_mask
            out = (F.linear(x, w, module.bias) if conv is None
                   else F.conv2d(x, w, module.bias, *conv))
            tap = self._taps.get(name)
            if tap is not None:
                tap("forward", {"weight": w, "activation": x, "output": out})
            return out
        return SwatFunction.apply(x, module.weight, module.bias, w_mask, a_mask, conv,
                                   self._taps.get(name))

    # -- recording ----------------------------------------------------------------------
    def set_tap(self, name: str, tap: Tap | None) -> None:
        """Install (or remove, with None) the trace recorder's tap on layer ``name``."""
        if name not in self.layers:
            raise ConfigError(f"no SWAT layer named {name!r}")
        if tap is None:
            self._taps.pop(name, None)
        else:
            self._taps[name] = tap

    # -- schedule -----------------------------------------------------------------------
    def step(self) -> None:
        """After ``optimizer.step()``: advance the iteration counter."""
        self.before_forward(self.iteration + 1)

    def before_forward(self, iteration: int) -> None:
        """Set the iteration; with periodic Top-K a recompute iteration is a boundary
        (so a recorder records the step whose thresholds are new)."""
        self.iteration = iteration
        if self.config.period > 1 and iteration % self.config.period == 0:
            self._boundary = True

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if self._by_momentum and epoch > 0:
            self._redistribute_by_momentum()

    def _mean_momentum(self) -> dict[str, float] | None:
        if self.optimizer is None:
            raise ConfigError("SWAT-M needs the optimizer: call sparsifier.attach_optimizer("
                              "optimizer) before training")
        out = {}
        for name, module in self.layers.items():
            buf = self.optimizer.state.get(module.weight, {}).get("momentum_buffer")
            if buf is None:
                buf = self.optimizer.state.get(module.weight, {}).get("exp_avg")
            if buf is None:
                return None
            st = self.state[name]
            if st.t_weight is not None and st.density < 1.0:
                mask = mask_from_threshold(module.weight, st.t_weight, self.config.weight_topk)
                active = buf.abs()[mask]
            else:
                active = buf.abs().reshape(-1)
            out[name] = float(active.mean()) if active.numel() else 0.0
        return out

    def _redistribute_by_momentum(self) -> None:
        """SWAT-M: ``K_l = clip(B * N_l m_l / sum_j N_j m_j, min_density N_l, N_l)`` over
        the non-fixed layers, ``B`` = the budget ``(1 - s) * sum N_l`` minus fixed layers;
        clipped layers are frozen and the rest re-solved (water filling)."""
        with torch.no_grad():
            mom = self._mean_momentum()
        if mom is None:
            return
        free = [n for n in self.layers if n not in self._fixed]
        total = sum(self._counts.values())
        budget = (1 - self.config.sparsity) * total - sum(
            self.state[n].density * self._counts[n] for n in self._fixed)
        lo = self.config.min_density
        dens: dict[str, float] = {}
        rest = list(free)
        while rest:
            weight = {n: self._counts[n] * max(mom[n], 1e-30) for n in rest}
            remaining = budget - sum(dens[n] * self._counts[n] for n in dens)
            scale = remaining / sum(weight.values())
            trial = {n: scale * weight[n] / self._counts[n] for n in rest}
            clipped = {n: min(1.0, max(lo, d)) for n, d in trial.items() if d > 1.0 or d < lo}
            if not clipped:
                dens.update(trial)
                break
            dens.update(clipped)
            rest = [n for n in rest if n not in clipped]
        for n, d in dens.items():
            self.state[n].density = float(min(1.0, max(lo, d)))
            self.state[n].t_weight = None               # force a recompute at the new density
            self.state[n].t_activation = None
        self._event("redistribute", densities={n: round(self.state[n].density, 6) for n in free})

    # -- reporting ----------------------------------------------------------------------
    def target_densities(self) -> dict[str, float]:
        return {n: st.density for n, st in self.state.items()}

    def weight_masks(self) -> dict[str, torch.Tensor]:
        """Top-K masks of the weights as the next forward would use them."""
        out = {}
        with torch.no_grad():
            for name, module in self.layers.items():
                st = self.state[name]
                if st.density >= 1.0:
                    out[name] = torch.ones_like(module.weight, dtype=torch.bool)
                    continue
                t = st.t_weight
                if t is None:
                    t = threshold(module.weight, st.density, self.config.weight_topk)
                out[name] = mask_from_threshold(module.weight, t, self.config.weight_topk)
        return out

    def measured_densities(self, reset: bool = True) -> dict[str, dict[str, float]]:
        """Measured densities since the last reset: per layer the fraction of non-zero
        weights used in forward and of the activation saved for backward-weight."""
        out = {}
        for name, st in self.state.items():
            w_nnz, w_tot, a_nnz, a_tot = st.counts.tolist()
            if w_tot:
                out[name] = {"weight": w_nnz / w_tot, "saved_activation": a_nnz / a_tot,
                             "target": st.density}
            if reset:
                st.counts.zero_()
        return out

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **self.config.to_dict()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "config": self.config.to_dict(),
                "layers": {n: {"density": st.density, "t_weight": st.t_weight,
                               "t_activation": st.t_activation, "computed_at": st.computed_at,
                               "counts": st.counts.clone()}
                           for n, st in self.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if SwatConfig.from_dict(state["config"]) != self.config:
            raise ConfigError("checkpoint's SWAT config differs from this run's; resume with "
                              "the same --sparsity and SWAT options")
        if set(state["layers"]) != set(self.state):
            raise ConfigError("checkpoint's SWAT layers do not match the model's layers")
        for n, s in state["layers"].items():
            st = self.state[n]
            st.density = float(s["density"])
            st.t_weight = s["t_weight"]
            st.t_activation = s["t_activation"]
            st.computed_at = int(s["computed_at"])
            st.counts = s["counts"].clone()

    def remove(self) -> None:
        for module in self.layers.values():
            if getattr(module, "_accelsim_swat", None) is self:
                del module.forward
                del module._accelsim_swat
        self._taps.clear()


def apply(model: nn.Module, config: SwatConfig) -> SwatSparsifier:
    """Install SWAT on every Conv2d/Linear of ``model``; returns the sparsifier."""
    return SwatSparsifier(model, config)


def build(ctx: Any) -> SwatSparsifier:
    """Registry builder of ``swat-u``, ``swat-erk`` and ``swat-m``: the paper's preset of
    the method, with the ``topk_period``, ``weight_topk`` and ``activation_topk`` params."""
    p = ctx.params
    return SwatSparsifier(ctx.model, SwatConfig.for_method(
        ctx.config.method, ctx.config.sparsity, period=p["topk_period"],
        weight_topk=p["weight_topk"], activation_topk=p["activation_topk"]))
