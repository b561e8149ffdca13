r"""Pruning at initialisation: SNIP, GraSP, SynFlow (seed 002, Price 2021 survey slides).

One global mask over all Conv2d/Linear weights together, computed when the method is built
(before the first step) and fixed for the run (the base class re-applies it after every
optimizer step); it keeps exactly ``K = rnd((1 - s) N)`` weights, the ``K`` largest scores
(:func:`training.masks.top_k_masks`: ``torch.kthvalue`` threshold, ties in layer then
row-major order).  Each method is a class that supplies its :meth:`scores`.  With ``L``
the loss (``ctx.criterion``) summed over ``n`` batches ``ctx.batches(n)`` and ``g = dL/dw``:

* SNIP (Lee et al. 2019, :class:`SnipSparsifier`): ``S = |g * w|``.
* GraSP (Wang et al. 2020, :class:`GraspSparsifier`): ``S = -w * (H g)``, ``H`` the Hessian
  of ``L`` w.r.t. the prunable weights, computed as ``Hg = d/dw (g . stop_grad(g))`` (a
  Hessian-gradient product with ``torch.autograd.grad(create_graph=True)``); the logits
  are divided by a temperature (200 in the paper's code).  The paper removes the
  *largest* ``S``, so the kept weights are the ``K`` largest ``-S = w * Hg``.
* SynFlow (Tanaka et al. 2020, :class:`SynflowSparsifier`), data-free: on a float64 copy
  of the model in eval mode with every parameter and buffer replaced by its absolute
  value, ``R = 1^T f(1)`` (the sum of the outputs on an all-ones input of the data's shape;
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
from accelsim.numeric import round_half_up
from training.masks import keep_count, top_k_masks
from training.methods.dst import MaskedSparsifier

__all__ = ["GraspSparsifier", "PaiSparsifier", "SnipSparsifier", "SynflowSparsifier",
           "build_grasp", "build_snip", "build_synflow", "grasp_scores", "scoring_mode",
           "snip_scores", "synflow_masks", "synflow_scores"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
        keep_k = keep if k == iterations else max(keep, min(total, round_half_up(total * frac)))
        scores = synflow_scores(model, input_shape, masks)
        if masks is not None:
            scores = {n: s.masked_fill(~masks[n].to(s.device), -math.inf)
                      for n, s in scores.items()}
        _all_reduce_mean(list(scores.values()))
        masks = top_k_masks(scores, keep_k)[0]
    assert masks is not None
    return {n: masks[n].to(m.weight.device) for n, m in layers.items()}


# ------------------------------------------------------------------------------ sparsifiers
class PaiSparsifier(MaskedSparsifier):
    """A fixed global mask of the subclass's :meth:`scores` at initialisation.

    ``batches`` are the scoring batches (SynFlow reads only the shape of the first one's
    inputs); ``criterion`` the loss.  Events: ``"masks"`` (initial) with the per-layer
    densities at epoch 0.
    """

    #: the score, for describe()
    score = ""

    def __init__(self, model: nn.Module, sparsity: float, *, batches: Batches,
                 criterion: Criterion | None = None) -> None:
        super().__init__(model, sparsity)
        if not batches:
            raise ConfigError(f"{self.method} needs at least one batch to score with")
        self.batches = batches
        self.criterion = criterion or nn.CrossEntropyLoss()
        self.n_batches = len(batches)
        self.total_weights = sum(m.weight.numel() for m in self.layers.values())
        self.keep = keep_count(self.sparsity, self.total_weights)
        if self.keep == 0:
            raise ConfigError(f"{self.method} sparsity {self.sparsity} keeps no weight; "
                              "lower it")

    def _prune_at_init(self) -> None:
        masks = self.select(self.keep)[0]
        self.set_masks({n: masks[n].to(m.weight.device) for n, m in self.layers.items()})

    def _params(self) -> dict[str, Any]:
        return {"batches": self.n_batches}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "score": self.score, "kept_weights": self.keep,
                "total_weights": self.total_weights, "mask": "global, fixed for the run"}


class SnipSparsifier(PaiSparsifier):
    """SNIP: keep the largest ``|g * w|``."""

    method = "snip"
    score = "|g * w|"

    def __init__(self, model: nn.Module, sparsity: float, *, batches: Batches,
                 criterion: Criterion | None = None) -> None:
        super().__init__(model, sparsity, batches=batches, criterion=criterion)
        self._prune_at_init()

    def scores(self) -> dict[str, torch.Tensor]:
        return snip_scores(self.model, self.layers, self.batches, self.criterion)


class GraspSparsifier(PaiSparsifier):
    """GraSP: keep the largest ``w * Hg`` (remove the largest ``-w * Hg``)."""

    method = "grasp"
    score = "-w * Hg (largest removed)"

    def __init__(self, model: nn.Module, sparsity: float, *, batches: Batches,
                 criterion: Criterion | None = None, temperature: float = 200.0) -> None:
        super().__init__(model, sparsity, batches=batches, criterion=criterion)
        self.temperature = float(temperature)
        if self.temperature <= 0:
            raise ConfigError(f"grasp temperature {temperature} must be > 0")
        self._prune_at_init()

    def scores(self) -> dict[str, torch.Tensor]:
        scores = grasp_scores(self.model, self.layers, self.batches, self.criterion,
                              self.temperature)
        return {n: -s for n, s in scores.items()}

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "temperature": self.temperature}


class SynflowSparsifier(PaiSparsifier):
    """SynFlow: iterative, data-free; the mask of :func:`synflow_masks`."""

    method = "synflow"
    score = "(dR/dw) * w, iterative, data-free"

    def __init__(self, model: nn.Module, sparsity: float, *, batches: Batches,
                 criterion: Criterion | None = None, iterations: int = 100,
                 schedule: str = "exponential") -> None:
        super().__init__(model, sparsity, batches=batches, criterion=criterion)
        if int(iterations) < 1 or schedule not in ("exponential", "linear"):
            raise ConfigError(f"synflow iterations {iterations} must be >= 1 and schedule "
                              f"{schedule!r} exponential or linear")
        self.iterations, self.schedule = int(iterations), schedule
        masks = synflow_masks(model, tuple(batches[0][0].shape[1:]), self.keep,
                              self.iterations, schedule)
        self.set_masks({n: masks[n].to(m.weight.device) for n, m in self.layers.items()})

    def scores(self) -> dict[str, torch.Tensor]:
        """One SynFlow scoring pass of the current masks (:func:`synflow_scores`)."""
        return synflow_scores(self.model, tuple(self.batches[0][0].shape[1:]), self.masks)

    def _params(self) -> dict[str, Any]:
        return {"iterations": self.iterations, "schedule": self.schedule}


# ------------------------------------------------------------------------------ registry
def build_snip(ctx: Any) -> PaiSparsifier:
    """Registry builder of ``snip``."""
    return SnipSparsifier(ctx.model, ctx.config.sparsity,
                          batches=ctx.batches(int(ctx.params["batches"])),
                          criterion=ctx.criterion)


def build_grasp(ctx: Any) -> PaiSparsifier:
    """Registry builder of ``grasp``."""
    return GraspSparsifier(ctx.model, ctx.config.sparsity,
                           batches=ctx.batches(int(ctx.params["batches"])),
                           criterion=ctx.criterion, temperature=ctx.params["temperature"])


def build_synflow(ctx: Any) -> PaiSparsifier:
    """Registry builder of ``synflow`` (one batch, for its input shape)."""
    return SynflowSparsifier(ctx.model, ctx.config.sparsity, batches=ctx.batches(1),
                             criterion=ctx.criterion, iterations=ctx.params["iterations"],
                             schedule=ctx.params["schedule"])
