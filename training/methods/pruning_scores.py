"""What the pruning methods rank weights by: one scorer object per score, and AP's split.

Scores (the largest are kept; :class:`Scorer` is the hook the pruning sparsifier calls):

* :class:`MagnitudeScorer`: ``|w|``.
* :class:`TaylorScorer` (Global Taylor, Molchanov et al. 2019, as seed 004 uses it):
  ``|w * dL/dw|``, accumulated as ``sum_b |w_b * g_b|`` over the ``window`` training steps
  ``b`` before the prune point (``w_b`` the weights the step's gradient ``g_b`` was taken
  at; ``accumulate = steps``) or over ``window`` training batches evaluated at the prune
  point (``accumulate = batches``, model in eval mode; the loop's ``ctx.batches`` gives the
  first batches of epoch 0's order, the same at every prune point).
* :class:`LampScorer` (Lee et al. 2021): in each layer, sort the weights ascending by
  ``|w|`` (``w_1 <= ... <= w_n``, stable); ``score(u) = w_u^2 / sum_{v >= u} w_v^2`` (0 when
  the denominator is 0), then one global threshold over all layers.

AP (seed 004, section 3.3, Algorithm 1; :func:`ap_prune`): among the kept weights that are
**negative** (``w < 0``: with non-negative post-ReLU inputs, removing them raises the
pre-activation of a dead neuron), prune the ``count`` with the **smallest movement**
``|w - w_0|`` from the rewind point ``w_0`` (small movement locates neurons that were often
dead: their gradient is zero).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from accelsim.errors import ConfigError
from accelsim.numeric import require_int
from training.catalog import ACCUMULATE
from training.masks import load_layer_tensors, top_k_masks

__all__ = ["ApConfig", "LampScorer", "MagnitudeScorer", "Scorer", "TaylorConfig",
           "TaylorScorer", "ap_prune", "lamp_scores", "taylor_scores"]


def taylor_scores(weights: Mapping[str, torch.Tensor],
                  grads: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``|w * dL/dw|`` per weight (one batch; sum these over batches to accumulate)."""
    out = {}
    for n, w in weights.items():
        if n not in grads or grads[n].shape != w.shape:
            raise ConfigError(f"no gradient of the shape of layer {n}'s weight for its Taylor "
                              "score")
        out[n] = (w.detach() * grads[n].detach()).abs()
    return out


def lamp_scores(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LAMP: per layer, with its weights sorted ascending by ``|w|`` (stable: ties in
    row-major order), ``score(u) = w_u^2 / sum_{v >= u} w_v^2`` (0 where the sum is 0).
    Computed and returned in float64."""
    out = {}
    for n, w in weights.items():
        sq = w.detach().flatten().to(torch.float64) ** 2
        order = torch.argsort(sq, stable=True)
        ordered = sq[order]
        suffix = torch.flip(torch.cumsum(torch.flip(ordered, [0]), 0), [0])
        score = torch.where(suffix > 0, ordered / torch.where(suffix > 0, suffix, 1.0),
                            torch.zeros_like(ordered))
        flat = torch.empty_like(score)
        flat[order] = score
        out[n] = flat.view(w.shape)
    return out


def ap_prune(weights: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor],
             mask: Mapping[str, torch.Tensor], count: int) -> tuple[dict[str, torch.Tensor], int]:
    """AP's metric (seed 004, Algorithm 1): among the kept (``mask``) weights with
    ``w < 0``, prune the ``count`` with the smallest movement ``|w - w_ref|`` (ties: first
    in layer order, then row-major).  Returns the new masks and how many were pruned
    (fewer than ``count`` when fewer negative weights are kept)."""
    eligible = {n: mask[n] & (w.detach() < 0) for n, w in weights.items()}
    available = sum(int(e.sum()) for e in eligible.values())
    pruned = min(count, available)
    movement = {n: (w.detach() - reference[n].to(w.device)).abs()
                for n, w in weights.items()}
    kept, _ = top_k_masks(movement, available - pruned, eligible)
    return {n: mask[n] & ~(eligible[n] & ~kept[n]) for n in weights}, pruned


@dataclass(frozen=True)
class TaylorConfig:
    """How Taylor scores accumulate: over the ``window`` training ``steps`` before a prune
    point, or over ``window`` training ``batches`` at the prune point."""

    accumulate: str = "steps"
    window: int = 8

    def __post_init__(self) -> None:
        if self.accumulate not in ACCUMULATE:
            raise ConfigError(f"Taylor accumulate = {self.accumulate!r}; choose one of "
                              f"{', '.join(ACCUMULATE)}")
        require_int(self.window, "Taylor window", 1)


@dataclass(frozen=True)
class ApConfig:
    """AP on top of the base score: ``q_ratio = q / p`` (0.1: q = 0.1 p), DNR measured on
    ``dnr_batches`` training batches at every AP prune point (0: not measured)."""

    q_ratio: float = 0.1
    dnr_batches: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.q_ratio <= 1.0:
            raise ConfigError(f"AP q_ratio = {self.q_ratio} must be in [0, 1]")
        if self.dnr_batches < 0:
            raise ConfigError(f"AP dnr_batches = {self.dnr_batches} must be >= 0")


class Scorer(ABC):
    """The score of a pruning sparsifier (``sparsifier``: the
    :class:`~training.methods.pruning.PruningSparsifier` it is bound to).  Hooks run with
    the sparsifier's; ``state_dict`` holds what must survive a resume."""

    name = "score"
    #: True when the score is only meaningful ranked over all layers together
    global_only = False

    def bind(self, sparsifier: Any) -> None:
        """Attach to the sparsifier (its layers, plan, model and batches)."""
        self.sparsifier = sparsifier

    def before_forward(self, iteration: int) -> None:  # noqa: B027 - optional hook
        """Called after the sparsifier's own ``before_forward`` work."""

    def after_step(self) -> None:  # noqa: B027 - optional hook
        """Called after ``optimizer.step()``, before the masks are re-applied."""

    @abstractmethod
    def scores(self) -> dict[str, torch.Tensor]:
        """One non-negative score per weight of every layer, at the current prune point."""

    def describe(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore :meth:`state_dict`."""

    def _weights(self) -> dict[str, torch.Tensor]:
        return {n: m.weight for n, m in self.sparsifier.layers.items()}


class MagnitudeScorer(Scorer):
    """``|w|``."""

    name = "magnitude"

    def scores(self) -> dict[str, torch.Tensor]:
        return {n: w.detach().abs() for n, w in self._weights().items()}


class LampScorer(Scorer):
    """LAMP scores (:func:`lamp_scores`), one global threshold."""

    name = "lamp"
    global_only = True

    def scores(self) -> dict[str, torch.Tensor]:
        return lamp_scores(self._weights())


class TaylorScorer(Scorer):
    """``|w * dL/dw|`` accumulated over steps or batches (:class:`TaylorConfig`)."""

    name = "taylor"

    def __init__(self, config: TaylorConfig | None = None) -> None:
        self.config = config or TaylorConfig()
        self._sum: dict[str, torch.Tensor] | None = None
        self._count = 0
        self._weights_at: dict[str, torch.Tensor] | None = None
        self._steps: set[int] = set()

    def bind(self, sparsifier: Any) -> None:
        super().bind(sparsifier)
        if self.config.accumulate == "batches" and sparsifier.batches is None:
            raise ConfigError("Taylor accumulate = batches needs training batches; build the "
                              "method through training.loop.train or pass batches=")
        if self.config.accumulate == "steps":
            for p in sparsifier.plan:
                self._steps.update(range(max(0, p.iteration - self.config.window),
                                         p.iteration))

    def before_forward(self, iteration: int) -> None:
        """Snapshot the weights this step's gradient is taken at (window steps only)."""
        if iteration in self._steps:
            self._weights_at = {n: w.detach().clone() for n, w in self._weights().items()}

    def after_step(self) -> None:
        """Add this step's ``|w_b * g_b|``."""
        if self._weights_at is None:
            return
        if self._sum is None:
            self._sum = {}
        for n, w in self._weights().items():
            g = w.grad if w.grad is not None else torch.zeros_like(w)
            term = (self._weights_at[n] * g.detach()).abs()
            self._sum[n] = term if n not in self._sum else self._sum[n] + term
        self._count += 1
        self._weights_at = None

    def scores(self) -> dict[str, torch.Tensor]:
        if self.config.accumulate == "batches":
            return self._from_batches()
        if self._sum is None or self._count == 0:
            raise ConfigError(f"no training step before the Taylor prune point at iteration "
                              f"{self.sparsifier.iteration} to accumulate scores; prune later")
        scores, self._sum, self._count = self._sum, None, 0
        return scores

    def _from_batches(self) -> dict[str, torch.Tensor]:
        sp = self.sparsifier
        weights = self._weights()
        total = {n: torch.zeros_like(w) for n, w in weights.items()}
        was_training = sp.model.training
        sp.model.eval()
        try:
            for x, y in sp.batches(self.config.window):
                loss = sp.criterion(sp.model(x), y)
                grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
                for (n, w), g in zip(weights.items(), grads, strict=True):
                    if g is not None:
                        total[n] += (w.detach() * g).abs()
        finally:
            sp.model.train(was_training)
        return total

    def describe(self) -> dict[str, Any]:
        return {"taylor": {"accumulate": self.config.accumulate, "window": self.config.window}}

    def state_dict(self) -> dict[str, Any]:
        return {"sum": None if self._sum is None else {n: t.clone()
                                                       for n, t in self._sum.items()},
                "count": self._count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._sum = load_layer_tensors(state["sum"], self.sparsifier.layers,
                                       f"{self.sparsifier.method} state", None)
        self._count = int(state["count"])
        self._weights_at = None
