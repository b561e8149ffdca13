r"""Dynamic sparse training (SET, RigL) and pruning at initialisation (SNIP, GraSP, SynFlow).

Both families keep a boolean mask per Conv2d/Linear weight and re-apply it in place after
every optimizer step (``w <- w * m``), so the model computes with exactly the masked weights
(biases and BN are never pruned).  Source: seed 002 (Price 2021, survey slides).

Dynamic sparse training (:class:`DstSparsifier`, ``set`` / ``rigl``)
    Start sparse, then every ``delta_t`` optimizer steps *prune and regrow* inside each
    layer, so each layer's number of active weights ``K_l`` never changes.

    * Initial per-layer densities ``d_l`` from :func:`accelsim.spec.sparsity.layer_densities`
      (``erk`` by default: ``d_l = min(1, eps (sum of dims) / prod(dims))`` with ``eps``
      solved so that ``sum_l d_l N_l = (1 - s) N``; ``uniform``: ``d_l = 1 - s``); every
      layer is sparsified (no dense first layer).  ``K_l = rnd(d_l N_l)`` positions are drawn
      uniformly at random (the Erdos-Renyi random graph) from the method's own generator
      seeded by ``config.seed`` and the masked weights are zeroed.
    * Update after optimizer step ``t`` (1-based count of steps done) when
      ``t mod delta_t = 0`` and ``t < T_end = rnd(stop * T)``, ``T`` the run's steps.
      Drop fraction (cosine decay, RigL eq. 1):
      ``f(t) = zeta / 2 (1 + cos(pi t / T_end))``; per layer ``n = rnd(f(t) K_l)``.
    * Drop: the ``n`` active weights of smallest ``|w|``.
    * Regrow ``n`` among the positions inactive after the drop (a just-dropped one may come
      back): SET at random (uniform, the method's generator); RigL the ``n`` largest
      ``|dL/dw|`` of the dense gradient of this step (``weight.grad``: the loss gradient
      w.r.t. every weight, masked ones included).  Newly grown weights (inactive before the
      update) start at exactly zero and their optimizer state (momentum, Adam moments) is
      zeroed; a dropped-and-regrown weight keeps its value.  Ties: stable sort, lowest flat
      index first.
    * ``delta_t = 0`` (default) means ``min(100, steps_per_epoch)``: RigL's 100 steps, or
      once per epoch when epochs are shorter.

Pruning at initialisation (:class:`PaiSparsifier`, ``snip`` / ``grasp`` / ``synflow``)
    One global mask over all Conv2d/Linear weights together, computed when the method is
    built (before the first step) and fixed for the run; it keeps exactly
    ``K = rnd((1 - s) N)`` weights, the ``K`` largest scores (``torch.kthvalue`` threshold,
    ties in layer then row-major order, as AC/DC).  With ``L`` the loss (``ctx.criterion``)
    summed over ``n`` batches ``ctx.batches(n)`` and ``g = dL/dw``:

    * SNIP (Lee et al. 2019): ``S = |g * w|``.
    * GraSP (Wang et al. 2020): ``S = -w * (H g)``, ``H`` the Hessian of ``L`` w.r.t. the
      prunable weights, computed as ``Hg = d/dw (g . stop_grad(g))`` (a Hessian-gradient
      product with ``torch.autograd.grad(create_graph=True)``); the logits are divided by a
      temperature (200 in the paper's code).  The paper removes the *largest* ``S``, so the
      kept weights are the ``K`` largest ``-S = w * Hg``.
    * SynFlow (Tanaka et al. 2020), data-free: on a float64 copy of the model in eval mode
      with every parameter and buffer replaced by its absolute value,
      ``R = 1^T f(1)`` (the sum of the outputs on an all-ones input of the data's shape;
      only the shape of one batch is read, never its values) and ``S = (dR/dw) * w``;
      iterated ``iterations`` times (100), after iteration ``k`` keeping
      ``rnd(N (1 - s)^{k/n})`` weights (exponential schedule; ``linear``:
      ``rnd(N (1 - s k/n))``), pruned weights staying pruned.

    Scoring runs with the model in train mode (batch statistics) on the first batches of
    epoch 0; BN running statistics, the train/eval flag and the global RNG are restored
    afterwards and ``.grad`` is never touched, so the run continues as if nothing happened.
    Under DistributedDataParallel scores are averaged over ranks before selection.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import check_sparsity, layer_densities
from training.acdc import keep_count, mask_churn
from training.layers import weight_geometry
from training.methods import MethodContext, MethodSpec, ParamSpec, register
from training.sparsifier import (
    Sparsifier,
    apply_weight_masks,
    load_layer_tensors,
    mask_densities,
)

__all__ = ["DstSparsifier", "PaiSparsifier", "drop_fraction", "global_score_masks",
           "grasp_scores", "scoring_mode", "snip_scores", "synflow_masks", "synflow_scores"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_OPTIMIZER_SLOTS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf")


def _rnd(x: float) -> int:
    return int(math.floor(x + 0.5))


def drop_fraction(zeta: float, t: int, end: int) -> float:
    """Cosine-decayed update fraction ``zeta / 2 (1 + cos(pi t / end))`` (0 at ``t >= end``)."""
    if end <= 0 or t >= end:
        return 0.0
    return 0.5 * zeta * (1.0 + math.cos(math.pi * t / end))


def global_score_masks(scores: Mapping[str, torch.Tensor], keep: int) -> dict[str, torch.Tensor]:
    """Masks keeping exactly the ``keep`` largest (signed) scores over all tensors together.

    The threshold ``t`` is the ``keep``-th largest score (``torch.kthvalue``, float64);
    kept are all scores ``> t`` plus the first ``keep - #{> t}`` equal to ``t`` in the order
    of ``scores`` then row-major (deterministic ties).  ``-inf`` scores are never kept
    unless needed to reach ``keep``; NaN scores raise.
    """
    if not scores:
        raise ConfigError("no weights to score")
    flat = torch.cat([s.detach().flatten().to(torch.float64).cpu() for s in scores.values()])
    total = flat.numel()
    if not 0 <= keep <= total:
        raise ConfigError(f"cannot keep {keep} of {total} weights")
    if bool(torch.isnan(flat).any()):
        raise ConfigError("pruning scores contain NaN (the network diverged at "
                          "initialisation); check the model and data")
    if keep == 0:
        kept = torch.zeros(total, dtype=torch.bool)
    else:
        t = torch.kthvalue(flat, total - keep + 1).values
        kept = flat > t
        need = keep - int(kept.sum())
        if need > 0:
            kept[torch.nonzero(flat == t).flatten()[:need]] = True
    out, offset = {}, 0
    for name, s in scores.items():
        n = s.numel()
        out[name] = kept[offset:offset + n].view(s.shape).to(s.device)
        offset += n
    return out


def _all_reduce_mean(tensors: list[torch.Tensor]) -> None:
    """Average tensors in place over DDP ranks (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for t in tensors:
            dist.all_reduce(t)
            t.div_(dist.get_world_size())


@contextlib.contextmanager
def scoring_mode(model: nn.Module) -> Iterator[None]:
    """Train mode for scoring; buffers (BN statistics), the mode and the RNG restored."""
    was_training = model.training
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        try:
            model.train()
            yield
        finally:
            with torch.no_grad():
                for n, b in model.named_buffers():
                    if n in saved:
                        b.copy_(saved[n])
            model.train(was_training)


def _weights(layers: Mapping[str, nn.Module]) -> list[torch.Tensor]:
    return [m.weight for m in layers.values()]


def snip_scores(model: nn.Module, layers: Mapping[str, nn.Module], batches: Batches,
                criterion: Criterion) -> dict[str, torch.Tensor]:
    """SNIP connection sensitivity ``|g * w|``, ``g = d/dw sum_b L(batch_b)``."""
    if not batches:
        raise ConfigError("SNIP needs at least one batch")
    weights = _weights(layers)
    grads = [torch.zeros_like(w) for w in weights]
    with scoring_mode(model):
        for x, y in batches:
            gs = torch.autograd.grad(criterion(model(x), y), weights, allow_unused=True)
            for acc, g in zip(grads, gs, strict=True):
                if g is not None:
                    acc.add_(g)
    scores = [(g * w.detach()).abs() for g, w in zip(grads, weights, strict=True)]
    _all_reduce_mean(scores)
    return dict(zip(layers, scores, strict=True))


def grasp_scores(model: nn.Module, layers: Mapping[str, nn.Module], batches: Batches,
                 criterion: Criterion, temperature: float = 200.0) -> dict[str, torch.Tensor]:
    """GraSP scores ``S = -w * (H g)`` with the loss ``sum_b L(f(x_b) / T, y_b)``.

    ``g`` is accumulated over the batches first (no graph); then for each batch
    ``Hg += d/dw (g_b . stop_grad(g))`` with ``g_b`` built with ``create_graph=True``.
    """
    if not batches:
        raise ConfigError("GraSP needs at least one batch")
    weights = _weights(layers)
    total = [torch.zeros_like(w) for w in weights]
    hg = [torch.zeros_like(w) for w in weights]
    with scoring_mode(model):
        for x, y in batches:
            gs = torch.autograd.grad(criterion(model(x) / temperature, y), weights,
                                     allow_unused=True)
            for acc, g in zip(total, gs, strict=True):
                if g is not None:
                    acc.add_(g)
        for x, y in batches:
            gs = torch.autograd.grad(criterion(model(x) / temperature, y), weights,
                                     create_graph=True, allow_unused=True)
            z = sum((g * t).sum() for g, t in zip(gs, total, strict=True) if g is not None)
            if not isinstance(z, torch.Tensor) or not z.requires_grad:
                continue
            hs = torch.autograd.grad(z, weights, allow_unused=True)
            for acc, h in zip(hg, hs, strict=True):
                if h is not None:
                    acc.add_(h)
    scores = [-w.detach() * h for w, h in zip(weights, hg, strict=True)]
    _all_reduce_mean(scores)
    return dict(zip(layers, scores, strict=True))


def _abs_copy(model: nn.Module) -> nn.Module:
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.abs_()
    return net


def synflow_scores(model: nn.Module, input_shape: Sequence[int],
                   masks: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """One SynFlow scoring pass: ``S = (dR/dw) * w``, ``R = sum(f_|theta|(1))`` in float64
    on an eval-mode copy of ``model`` with absolute parameters and buffers (and
    ``|w| * m`` for the prunable weights when ``masks`` are given).  ``model`` is not
    changed."""
    net = _abs_copy(model)
    layers = OrderedDict((n, m) for n, m in net.named_modules()
                         if isinstance(m, nn.Conv2d | nn.Linear))
    if masks is not None:
        with torch.no_grad():
            for name, m in layers.items():
                m.weight.mul_(masks[name].to(m.weight.device, torch.float64))
    device = next(net.parameters()).device
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    weights = [m.weight for m in layers.values()]
    grads = torch.autograd.grad(net(ones).sum(), weights, allow_unused=True)
    return {name: (torch.zeros_like(w) if g is None else g * w).detach()
            for (name, w), g in zip(zip(layers, weights, strict=True), grads, strict=True)}


def synflow_masks(model: nn.Module, input_shape: Sequence[int], keep: int,
                  iterations: int = 100, schedule: str = "exponential") -> dict[str, torch.Tensor]:
    """Iterative SynFlow: ``iterations`` rounds of scoring and global pruning; round ``k``
    keeps ``rnd(N rho^{k/n})`` (exponential, ``rho = keep / N``) or ``rnd(N (1 - (1 - rho)
    k/n))`` (linear) weights, the last exactly ``keep``; pruned weights stay pruned."""
    layers = OrderedDict((n, m) for n, m in model.named_modules()
                         if isinstance(m, nn.Conv2d | nn.Linear))
    total = sum(m.weight.numel() for m in layers.values())
    rho = keep / total
    masks: dict[str, torch.Tensor] | None = None
    for k in range(1, iterations + 1):
        frac = rho ** (k / iterations) if schedule == "exponential" else (
            1.0 - (1.0 - rho) * k / iterations)
        keep_k = keep if k == iterations else max(keep, min(total, _rnd(total * frac)))
        scores = synflow_scores(model, input_shape, masks)
        if masks is not None:
            scores = {n: s.masked_fill(~masks[n].to(s.device), -math.inf)
                      for n, s in scores.items()}
        _all_reduce_mean(list(scores.values()))
        masks = global_score_masks(scores, keep_k)
    assert masks is not None
    return {n: masks[n].to(m.weight.device) for n, m in layers.items()}


# ------------------------------------------------------------------------------ sparsifiers
class _MaskedSparsifier(Sparsifier):
    """A mask per Conv2d/Linear weight, re-applied in place after every optimizer step."""

    def __init__(self, model: nn.Module, sparsity: float) -> None:
        super().__init__(model)
        self.sparsity = check_sparsity(sparsity, f"{self.method} sparsity")
        self.masks: dict[str, torch.Tensor] = {}
        self._announced = False

    def _apply_masks(self) -> None:
        apply_weight_masks(self.layers, self.masks)

    def step(self) -> None:
        """Re-apply the masks after ``optimizer.step()``."""
        self._apply_masks()

    def _densities(self) -> dict[str, float]:
        return mask_densities(self.masks)

    def _overall_density(self) -> float:
        return (sum(int(m.sum()) for m in self.masks.values())
                / sum(m.numel() for m in self.masks.values()))

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if not self._announced:
            self._announced = True
            if epoch == 0:
                self._event("masks", when="initial", density=self._overall_density(),
                            densities=self._densities())

    def weight_masks(self) -> dict[str, torch.Tensor]:
        return {n: m.clone() for n, m in self.masks.items()}

    def target_densities(self) -> dict[str, float]:
        return self._densities()

    def _params(self) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity, **self._params(),
                "density": self._overall_density(), "layers": list(self.layers)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "sparsity": self.sparsity, "params": self._params(),
                "masks": {n: m.clone().cpu() for n, m in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if float(state["sparsity"]) != self.sparsity or state["params"] != self._params():
            raise ConfigError(f"checkpoint's {self.method} sparsity/parameters differ from this "
                              "run's; resume with the same --sparsity and --param values")
        self.masks = load_layer_tensors(state["masks"], self.layers, f"{self.method} mask")
        self._announced = True
        self._apply_masks()


class DstSparsifier(_MaskedSparsifier):
    """SET or RigL (module docstring): constant per-layer densities, prune-and-regrow every
    ``delta_t`` steps until ``stop * total_steps``.

    Parameters: ``method`` ``"set"`` | ``"rigl"``; ``sparsity`` overall target;
    ``total_steps`` optimizer steps of the run; ``zeta`` initial update fraction;
    ``delta_t`` steps between updates (>= 1); ``stop`` fraction of the run after which the
    masks are frozen; ``distribution`` ``erk`` | ``uniform``; ``seed`` of the method's
    generator (initial masks, SET regrowth).  Events: ``"dst_update"`` at each update with
    ``update``, ``fraction``, ``dropped``/``grown`` per layer, ``churn`` and ``densities``.
    """

    def __init__(self, model: nn.Module, sparsity: float, *, method: str, total_steps: int,
                 zeta: float = 0.3, delta_t: int = 100, stop: float = 0.75,
                 distribution: str = "erk", seed: int = 0) -> None:
        if method not in ("set", "rigl"):
            raise ConfigError(f"dynamic sparse training method {method!r}; use set or rigl")
        self.method = method
        super().__init__(model, sparsity)
        if not 0.0 < zeta <= 1.0:
            raise ConfigError(f"{method} drop fraction {zeta} must be in (0, 1]")
        if delta_t < 1 or total_steps < 1:
            raise ConfigError(f"{method} delta_t = {delta_t} and total steps = {total_steps} "
                              "must be >= 1")
        if not 0.0 < stop <= 1.0:
            raise ConfigError(f"{method} stop = {stop} must be in (0, 1]")
        self.zeta, self.delta_t, self.stop = float(zeta), int(delta_t), float(stop)
        self.distribution, self.seed = distribution, int(seed)
        self.total_steps = int(total_steps)
        self.end_step = _rnd(self.stop * self.total_steps)
        self.updates = 0
        self.generator = torch.Generator()
        self.generator.manual_seed(self.seed)
        geoms = [weight_geometry(n, m) for n, m in self.layers.items()]
        dens = layer_densities(geoms, self.sparsity, distribution=distribution,
                               first_layer_dense=False)
        self.keep = {n: _rnd(d * m.weight.numel())
                     for (n, m), d in zip(self.layers.items(), dens, strict=True)}
        for name, module in self.layers.items():
            n = module.weight.numel()
            flat = torch.zeros(n, dtype=torch.bool)
            flat[torch.randperm(n, generator=self.generator)[:self.keep[name]]] = True
            self.masks[name] = flat.view(module.weight.shape).to(module.weight.device)
        self._apply_masks()

    def _params(self) -> dict[str, Any]:
        return {"zeta": self.zeta, "delta_t": self.delta_t, "stop": self.stop,
                "distribution": self.distribution, "seed": self.seed,
                "total_steps": self.total_steps}

    def step(self) -> None:
        """Re-apply the masks; after every ``delta_t``-th step before ``T_end``, update them."""
        self._apply_masks()
        t = self.iteration + 1
        if t % self.delta_t == 0 and t < self.end_step:
            self._update(t)

    def _update(self, t: int) -> None:
        frac = drop_fraction(self.zeta, t, self.end_step)
        previous = {n: m.clone() for n, m in self.masks.items()}
        dropped: dict[str, int] = {}
        with torch.no_grad():
            for name, module in self.layers.items():
                w, old = module.weight, self.masks[name]
                k, total = self.keep[name], w.numel()
                n = min(_rnd(frac * k), k)
                if n == 0 or k == total:
                    dropped[name] = 0
                    continue
                flat_old = old.flatten()
                inf = torch.tensor(math.inf, device=w.device, dtype=w.dtype)
                drop_score = torch.where(flat_old, w.detach().abs().flatten(), inf)
                drop = torch.sort(drop_score, stable=True).indices[:n]
                new = flat_old.clone()
                new[drop] = False
                if self.method == "rigl":
                    g = (w.grad.detach().abs().flatten() if w.grad is not None
                         else torch.zeros(total, device=w.device, dtype=w.dtype))
                    grow_score = torch.where(new, -inf, g)
                    grow = torch.sort(grow_score, descending=True, stable=True).indices[:n]
                else:
                    candidates = torch.nonzero(~new).flatten()
                    pick = torch.randperm(candidates.numel(), generator=self.generator)[:n]
                    grow = candidates[pick.to(candidates.device)]
                new[grow] = True
                born = (new & ~flat_old).view(w.shape)
                w.masked_fill_(born, 0.0)
                self._reset_state(w, born)
                self.masks[name] = new.view(w.shape)
                dropped[name] = n
        self._apply_masks()
        churn, _ = mask_churn(previous, self.masks)
        self._event("dst_update", update=self.updates, step=t, fraction=frac,
                    dropped=dropped, grown=dropped, churn=churn, densities=self._densities())
        self.updates += 1

    def _reset_state(self, weight: torch.Tensor, where: torch.Tensor) -> None:
        if self.optimizer is None:
            return
        state = self.optimizer.state.get(weight, {})
        for key in _OPTIMIZER_SLOTS:
            buf = state.get(key)
            if isinstance(buf, torch.Tensor) and buf.shape == weight.shape:
                buf.masked_fill_(where, 0.0)

    def target_densities(self) -> dict[str, float]:
        """``K_l / N_l`` (constant for the run)."""
        return {n: self.keep[n] / m.weight.numel() for n, m in self.layers.items()}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "end_step": self.end_step,
                "regrowth": "random" if self.method == "set" else "gradient magnitude",
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


class PaiSparsifier(_MaskedSparsifier):
    """Pruning at initialisation: a fixed global mask from SNIP, GraSP or SynFlow scores.

    ``batches`` are the scoring batches (SNIP, GraSP; SynFlow reads only the shape of the
    first one's inputs); ``criterion`` the loss; ``temperature`` GraSP's logit divisor;
    ``iterations`` and ``schedule`` SynFlow's.  Events: ``"masks"`` (initial) with the
    threshold-free per-layer densities at epoch 0.
    """

    def __init__(self, model: nn.Module, sparsity: float, *, method: str, batches: Batches,
                 criterion: Criterion | None = None, temperature: float = 200.0,
                 iterations: int = 100, schedule: str = "exponential") -> None:
        if method not in ("snip", "grasp", "synflow"):
            raise ConfigError(f"pruning-at-initialisation method {method!r}; use snip, grasp "
                              "or synflow")
        self.method = method
        super().__init__(model, sparsity)
        if not batches:
            raise ConfigError(f"{method} needs at least one batch to score with")
        criterion = criterion or nn.CrossEntropyLoss()
        self.n_batches, self.temperature = len(batches), float(temperature)
        self.iterations, self.schedule = int(iterations), schedule
        self.total_weights = sum(m.weight.numel() for m in self.layers.values())
        self.keep = keep_count(self.sparsity, self.total_weights)
        if self.keep == 0:
            raise ConfigError(f"{method} sparsity {self.sparsity} keeps no weight; lower it")
        if method == "snip":
            self.masks = global_score_masks(
                snip_scores(model, self.layers, batches, criterion), self.keep)
        elif method == "grasp":
            if self.temperature <= 0:
                raise ConfigError(f"grasp temperature {temperature} must be > 0")
            scores = grasp_scores(model, self.layers, batches, criterion, self.temperature)
            self.masks = global_score_masks({n: -s for n, s in scores.items()}, self.keep)
        else:
            if self.iterations < 1 or schedule not in ("exponential", "linear"):
                raise ConfigError(f"synflow iterations {iterations} must be >= 1 and schedule "
                                  f"{schedule!r} exponential or linear")
            shape = tuple(batches[0][0].shape[1:])
            self.masks = synflow_masks(model, shape, self.keep, self.iterations, schedule)
        self.masks = {n: self.masks[n].to(m.weight.device) for n, m in self.layers.items()}
        self._apply_masks()

    def _params(self) -> dict[str, Any]:
        if self.method == "synflow":
            return {"iterations": self.iterations, "schedule": self.schedule}
        out: dict[str, Any] = {"batches": self.n_batches}
        if self.method == "grasp":
            out["temperature"] = self.temperature
        return out

    def describe(self) -> dict[str, Any]:
        score = {"snip": "|g * w|", "grasp": "-w * Hg (largest removed)",
                 "synflow": "(dR/dw) * w, iterative, data-free"}[self.method]
        return {**super().describe(), "score": score, "kept_weights": self.keep,
                "total_weights": self.total_weights, "mask": "global, fixed for the run"}


# ------------------------------------------------------------------------------ registry
def _delta_t(ctx: MethodContext) -> int:
    given = int(ctx.params["delta_t"])
    return given if given > 0 else max(1, min(100, ctx.steps_per_epoch))


def _dst(method: str) -> Callable[[MethodContext], Sparsifier]:
    def build(ctx: MethodContext) -> Sparsifier:
        p = ctx.params
        return DstSparsifier(ctx.model, ctx.config.sparsity, method=method,
                             total_steps=ctx.config.epochs * max(1, ctx.steps_per_epoch),
                             zeta=p["zeta"], delta_t=_delta_t(ctx), stop=p["stop"],
                             distribution=p["distribution"], seed=int(ctx.config.seed))
    return build


def _pai(method: str) -> Callable[[MethodContext], Sparsifier]:
    def build(ctx: MethodContext) -> Sparsifier:
        p = ctx.params
        batches = ctx.batches(1 if method == "synflow" else int(p["batches"]))
        return PaiSparsifier(ctx.model, ctx.config.sparsity, method=method, batches=batches,
                             criterion=ctx.criterion,
                             temperature=p.get("temperature", 200.0),
                             iterations=p.get("iterations", 100),
                             schedule=p.get("schedule", "exponential"))
    return build


def _dst_params(zeta: float, stop: float) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("zeta", float, zeta, "drop/regrow fraction of each layer's active weights "
                  "at step 0, cosine-decayed to 0 at the stop step", minimum=1e-6, maximum=1.0),
        ParamSpec("delta_t", int, 0, "optimizer steps between mask updates (0: min(100, "
                  "steps per epoch))", minimum=0),
        ParamSpec("stop", float, stop, "fraction of the run after which masks are frozen",
                  minimum=1e-6, maximum=1.0),
        ParamSpec("distribution", str, "erk", "initial per-layer densities (all layers "
                  "sparse)", choices=("erk", "uniform")),
    )


register(MethodSpec(
    "set", "SET: random sparse start, drop smallest |w|, regrow at random every delta_t "
    "steps (per-layer density constant)", "seed 002 (Mocanu et al. 2018)", _dst("set"),
    params=_dst_params(0.3, 1.0)))
register(MethodSpec(
    "rigl", "RigL: ERK random start, drop smallest |w|, regrow largest dense |gradient| "
    "(at zero) every delta_t steps until stop", "seed 002 (Evci et al. 2020)", _dst("rigl"),
    params=_dst_params(0.3, 0.75)))
_BATCHES = ParamSpec("batches", int, 1, "training batches the scores are summed over",
                     minimum=1)
register(MethodSpec(
    "snip", "SNIP: global mask at initialisation keeping the largest |g * w|, fixed",
    "seed 002 (Lee et al. 2019)", _pai("snip"), params=(_BATCHES,)))
register(MethodSpec(
    "grasp", "GraSP: global mask at initialisation removing the largest -w * Hg "
    "(Hessian-gradient product), fixed", "seed 002 (Wang et al. 2020)", _pai("grasp"),
    params=(_BATCHES, ParamSpec("temperature", float, 200.0, "logits divided by this "
                                "when scoring", minimum=1e-6))))
register(MethodSpec(
    "synflow", "SynFlow: iterative data-free global mask keeping the largest synaptic flow "
    "(dR/dw) * w, fixed", "seed 002 (Tanaka et al. 2020)", _pai("synflow"),
    params=(ParamSpec("iterations", int, 100, "pruning rounds", minimum=1),
            ParamSpec("schedule", str, "exponential", "kept fraction per round",
                      choices=("exponential", "linear")))))
