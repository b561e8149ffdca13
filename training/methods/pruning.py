"""Weight pruning during training: magnitude (one-shot, gradual, iterative with rewinding),
Global Taylor, LAMP and Activate-while-Pruning (AP), on one sparsifier design.

Every method here is a :class:`PruningSparsifier`: a **scorer**
(:mod:`training.methods.pruning_scores`: magnitude, Taylor, LAMP), a **plan** of prune
points (:mod:`training.methods.pruning_plans`: global iterations at which the model is
pruned to a target sparsity) and, for iterative methods, **weight rewinding**.  The masks
are owned and re-applied after every optimizer step by the base class (pruned weights stay
exactly zero; a pruned weight is never revived, since later prune points select only among
the weights that are still kept).  Biases are never pruned.

Selection (seed 004, section 2; :func:`training.masks.top_k_masks`): with ``N`` prunable
weights and target sparsity ``s`` a prune point keeps ``K = rnd((1 - s) N)`` weights
(:func:`training.masks.keep_count`).  ``scope = global`` ranks all layers together (exact
global count ``K``); ``scope = layer`` keeps ``K_l = rnd((1 - s) N_l)`` in every layer.
The kept weights are the largest scores among the weights still kept, by k-th value
selection with deterministic ties (first in layer order, then row-major).

Rewinding (lottery ticket, Frankle & Carbin 2019; seed 002; seed 004 Algorithm 2): the
weights of the pruned layers are saved before the forward pass of the rewind iteration
``k`` (``rewind_step``, or the first step of ``rewind_epoch``; default 0, the
initialisation); at every cycle's prune point the surviving weights are reset to exactly
those values (pruned ones are 0) and the optimizer's momentum is reset
(:func:`training.masks.reset_momentum`).  Biases, BN and the learning-rate schedule are not
rewound (the loop's schedule continues, unless ``lr_rewind`` restarts it).

AP (seed 004, section 3.3, Algorithms 1-2; :func:`~training.methods.pruning_scores.ap_prune`):
at an AP prune point the weights to prune, ``P`` in all (the cycle's share of the remaining
weights), are split: ``a = rnd(q/p * P)`` by AP and ``P - a`` by the base score first;
then AP prunes the ``a`` negative weights with the smallest movement.  If fewer than ``a``
negative weights remain the base score prunes the rest, so the count is exact.  ``q = 0.1
p`` by default (``q_ratio = 0.1``).  AP-Pro applies this split, then rewinds and retrains,
in every cycle; AP-Lite only in the last cycle.  Each AP prune point measures the
dead-neuron rates (:class:`training.monitors.DeadNeuronMonitor`) on ``dnr_batches``
training batches before and after pruning (the trained weights, before rewinding) and logs
them in its event.

Events: one ``"prune"`` event per prune point (a trace-recording boundary) with
``prune_point``, ``target_sparsity``, ``kept``, ``total``, ``kept_per_layer``, ``churn``
and ``layer_churn`` (:func:`training.masks.mask_churn`), ``rewound``, ``momentum_reset``,
``densities``; AP points add ``ap_pruned``, ``ap_requested``, ``ap_shortfall`` and
``dnr_before``/``dnr_after``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.numeric import round_half_up
from training.catalog import SCOPES, SCORES
from training.masks import (
    keep_count,
    load_layer_tensors,
    mask_churn,
    nonzero_densities,
    reset_momentum,
)
from training.methods.pruning_plans import (
    PrunePoint,
    check_plan,
    cycle_plan,
    gradual_plan,
    oneshot_plan,
)
from training.methods.pruning_scores import (
    ApConfig,
    LampScorer,
    MagnitudeScorer,
    Scorer,
    TaylorConfig,
    TaylorScorer,
    ap_prune,
)
from training.monitors import RELU_TYPES, DeadNeuronMonitor
from training.sparsifier import Sparsifier

__all__ = ["PruningSparsifier", "build_ap_lite", "build_ap_pro", "build_gradual",
           "build_imp", "build_lamp", "build_oneshot", "build_taylor"]

Batches = Callable[[int], list[tuple[torch.Tensor, torch.Tensor]]]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Keep = dict[str, int] | int


class PruningSparsifier(Sparsifier):
    """Pruning by ``scorer`` on ``plan`` (see the module docstring for every formula).

    Parameters
    ----------
    model: any model; all its Conv2d/Linear weights are pruned.
    plan: the prune points (iterations strictly increasing, sparsities non-decreasing).
    scorer: a :class:`~training.methods.pruning_scores.Scorer` (default magnitude; LAMP is
        always one global threshold).
    scope: ``global`` (exact global count) or ``layer`` (exact count per layer).
    rewind_iteration: iteration whose weights rewinding restores (and AP measures movement
        from); required when a prune point rewinds or uses AP.
    ap: :class:`ApConfig` (AP prune points only).
    batches / criterion: training batches and loss (Taylor ``batches`` mode, AP's DNR).
    method: the name written in events, checkpoints and traces.
    lr_rewind: restart the loop's LR schedule at every prune point.
    """

    method = "pruning"

    def __init__(self, model: nn.Module, plan: Sequence[PrunePoint], *,
                 scorer: Scorer | None = None, scope: str = "global",
                 rewind_iteration: int | None = None, ap: ApConfig | None = None,
                 batches: Batches | None = None, criterion: Criterion | None = None,
                 method: str = "pruning", lr_rewind: bool = False) -> None:
        super().__init__(model)
        self.method = method
        self.lr_rewind = bool(lr_rewind)
        self.scorer = scorer or MagnitudeScorer()
        if scope not in SCOPES:
            raise ConfigError(f"pruning scope {scope!r}; choose one of {', '.join(SCOPES)}")
        if self.scorer.global_only and scope != "global":
            raise ConfigError(f"{self.scorer.name} is a global threshold over layer-normalised "
                              "scores; use scope = global")
        self.plan = check_plan(list(plan))
        uses_ap = any(p.ap for p in self.plan)
        needs_ref = any(p.rewind or p.ap for p in self.plan)
        if needs_ref:
            if rewind_iteration is None or rewind_iteration < 0:
                raise ConfigError("rewinding and AP need a rewind iteration >= 0")
            if rewind_iteration >= self.plan[0].iteration:
                raise ConfigError(f"rewind iteration {rewind_iteration} must come before the "
                                  f"first prune point (iteration {self.plan[0].iteration})")
        if uses_ap and scope != "global":
            raise ConfigError("AP splits one global pruning count; use scope = global")
        self.scope = scope
        self.rewind_iteration = rewind_iteration if needs_ref else None
        self.ap = (ap or ApConfig()) if uses_ap else None
        self.batches = batches
        self.criterion = criterion or nn.CrossEntropyLoss()
        self.total_weights = sum(m.weight.numel() for m in self.layers.values())
        self.prune_points = 0
        self.reference: dict[str, torch.Tensor] | None = None
        self.scorer.bind(self)

    def _weights(self) -> dict[str, torch.Tensor]:
        return {n: m.weight for n, m in self.layers.items()}

    # -- hooks ----------------------------------------------------------------------------
    def before_forward(self, iteration: int) -> None:
        """Save the rewind point, prune at a prune point, let the scorer look."""
        super().before_forward(iteration)
        if iteration == self.rewind_iteration and self.reference is None:
            self.reference = {n: w.detach().clone() for n, w in self._weights().items()}
        while self.prune_points < len(self.plan) and \
                iteration >= self.plan[self.prune_points].iteration:
            self._prune(self.plan[self.prune_points])
        self.scorer.before_forward(iteration)

    def step(self) -> None:
        """Let the scorer accumulate this step; re-apply the masks."""
        self.scorer.after_step()
        super().step()

    # -- pruning --------------------------------------------------------------------------
    def scores(self) -> dict[str, torch.Tensor]:
        """The scorer's scores (finite, else the run diverged)."""
        scores = self.scorer.scores()
        for n, sc in scores.items():
            if not bool(torch.isfinite(sc).all()):
                raise ConfigError(f"layer {n} has NaN/inf pruning scores: training diverged; "
                                  "lower the learning rate")
        return scores

    def _keep_targets(self, sparsity: float, before: Mapping[str, int]) -> Keep:
        """Kept weights at ``sparsity`` (never more than are still kept: no revival)."""
        if self.scope == "global":
            return min(keep_count(sparsity, self.total_weights), sum(before.values()))
        return {n: min(keep_count(sparsity, m.weight.numel()), before[n])
                for n, m in self.layers.items()}

    @staticmethod
    def _count(mask: Mapping[str, torch.Tensor]) -> dict[str, int]:
        return {n: int(m.sum()) for n, m in mask.items()}

    def _prune(self, point: PrunePoint) -> None:
        if self.lr_rewind:
            self.lr_restart_step = point.iteration     # the loop restarts its LR schedule
        weights = self._weights()
        previous = self.masks or None
        current = previous or {n: torch.ones(w.shape, dtype=torch.bool, device=w.device)
                               for n, w in weights.items()}
        keep = self._keep_targets(point.sparsity, self._count(current))
        scores = self.scores()
        fields: dict[str, Any] = {}
        if point.ap:
            mask = self._ap_select(scores, current, keep, fields)
        else:
            mask = self.select(keep, scores, current)[0]
        churn, layer_churn = mask_churn(previous, mask)
        self.set_masks(mask)
        if point.ap:                    # the pruned trained weights, before any rewinding
            fields["dnr_after"] = self._dnr()
        reset = 0
        if point.rewind:
            assert self.reference is not None
            with torch.no_grad():
                for n, w in weights.items():
                    w.copy_(self.reference[n].to(w.device))
            reset = reset_momentum(self.optimizer)
            self.apply_masks()
        kept = self._count(mask)
        self._event("prune", prune_point=self.prune_points, target_sparsity=point.sparsity,
                    kept=sum(kept.values()), total=self.total_weights, kept_per_layer=kept,
                    score=self.scorer.name, scope=self.scope, churn=churn,
                    layer_churn=layer_churn, rewound=point.rewind, momentum_reset=reset,
                    ap=point.ap, densities=nonzero_densities(self.layers), **fields)
        self.prune_points += 1

    def _ap_select(self, scores: Mapping[str, torch.Tensor],
                   current: Mapping[str, torch.Tensor], keep: Keep,
                   fields: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The base score prunes (p - q) first, then AP the rest (module docstring)."""
        assert self.ap is not None and self.reference is not None
        fields["dnr_before"] = self._dnr()
        before = self._count(current)
        if isinstance(keep, int):
            prune_total = {"all": sum(before.values()) - keep}
        else:
            prune_total = {n: before[n] - keep[n] for n in keep}
        requested = sum(round_half_up(self.ap.q_ratio * v) for v in prune_total.values())
        base_keep: Keep = (keep + requested if isinstance(keep, int) else
                           {n: keep[n] + round_half_up(self.ap.q_ratio * prune_total[n]) for n in keep})
        mask = self.select(base_keep, scores, current)[0]
        mask, done = ap_prune(self._weights(), self.reference, mask, requested)
        if done < requested:        # too few negative weights: the base prunes the rest
            mask = self.select(keep, scores, mask)[0]
        fields.update(ap_requested=requested, ap_pruned=done, ap_shortfall=requested - done)
        return mask

    def _dnr(self) -> dict[str, Any] | None:
        assert self.ap is not None
        if self.ap.dnr_batches == 0 or self.batches is None or not any(
                isinstance(m, RELU_TYPES) for m in self.model.modules()):
            return None
        was_training = self.model.training
        self.model.eval()
        try:
            with DeadNeuronMonitor(self.model) as monitor, torch.no_grad():
                for x, _ in self.batches(self.ap.dnr_batches):
                    self.model(x)
            stats = monitor.result()
        except ConfigError:
            return None
        finally:
            self.model.train(was_training)
        return {"dnr": stats.dnr, "dynamic_dnr": stats.dynamic_dnr,
                "static_dnr": stats.static_dnr,
                "sites": {k: {"dynamic_dnr": v["dynamic_dnr"], "static_dnr": v["static_dnr"]}
                          for k, v in stats.sites.items()}}

    # -- what the method did --------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method, "score": self.scorer.name, "scope": self.scope,
            "sparsity": self.plan[-1].sparsity, "plan": [p.to_list() for p in self.plan],
            "rewind_iteration": self.rewind_iteration, "lr_rewind": self.lr_rewind,
            "total_weights": self.total_weights,
            "pruned_layers": list(self.layers), **self.scorer.describe()}
        if self.ap is not None:
            out["ap"] = {"q_ratio": self.ap.q_ratio, "dnr_batches": self.ap.dnr_batches}
        return out

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        reference = self.reference
        return {**super().state_dict(), "describe": self.describe(),
                "prune_points": self.prune_points,
                "reference": None if reference is None else {n: t.clone()
                                                             for n, t in reference.items()},
                "scorer": self.scorer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("describe") != self.describe():
            raise ConfigError(f"checkpoint's {self.method} plan or parameters differ from this "
                              "run's; resume with the same options, epochs and model")
        self.prune_points = int(state["prune_points"])
        self.reference = load_layer_tensors(state["reference"], self.layers,
                                            f"{self.method} state", None)
        self.scorer.load_state_dict(state["scorer"])


# -- registry builders --------------------------------------------------------------------
def _rewind_iteration(ctx: Any) -> int:
    p = ctx.params
    if p["rewind_step"] >= 0:
        return int(p["rewind_step"])
    if p["rewind_epoch"] >= ctx.config.epochs:
        raise ConfigError(f"rewind_epoch = {p['rewind_epoch']} must be below the "
                          f"{ctx.config.epochs} epochs")
    return int(p["rewind_epoch"]) * ctx.steps_per_epoch


def _taylor_scorer(ctx: Any) -> Scorer:
    return TaylorScorer(TaylorConfig(ctx.params["accumulate"],
                                     min(ctx.params["taylor_window"],
                                         max(1, ctx.steps_per_epoch))))


#: score name (:data:`training.catalog.SCORES`) -> its scorer, built from the registry context
_SCORERS: dict[str, Callable[[Any], Scorer]] = {
    "magnitude": lambda ctx: MagnitudeScorer(),
    "taylor": _taylor_scorer,
    "lamp": lambda ctx: LampScorer(),
}
assert tuple(_SCORERS) == SCORES, "one scorer per score name of the catalog"


def _scorer(ctx: Any, score: str) -> Scorer:
    return _SCORERS[score](ctx)


def _cycles(ctx: Any, rewind: bool, ap: str | None = None) -> tuple[list[PrunePoint], int]:
    k = _rewind_iteration(ctx)
    plan = cycle_plan(ctx.config.sparsity, ctx.config.epochs, ctx.steps_per_epoch,
                      rate=ctx.params["rate"], rounds=ctx.params["rounds"],
                      rewind_iteration=k if (rewind or ap) else None, rewind=rewind, ap=ap,
                      final_fraction=ctx.params["final_fraction"])
    return plan, k


def build_oneshot(ctx: Any) -> PruningSparsifier:
    """``magnitude-oneshot``."""
    plan = oneshot_plan(ctx.config.sparsity, ctx.config.epochs, ctx.steps_per_epoch,
                        ctx.params["epoch"])
    return PruningSparsifier(ctx.model, plan, scope=ctx.params["scope"],
                             method="magnitude-oneshot")


def build_gradual(ctx: Any) -> PruningSparsifier:
    """``magnitude-gradual``."""
    p = ctx.params
    plan = gradual_plan(ctx.config.sparsity, ctx.config.epochs, ctx.steps_per_epoch,
                        initial_sparsity=p["initial_sparsity"], start_epoch=p["start_epoch"],
                        end_epoch=p["end_epoch"], frequency=p["frequency"])
    return PruningSparsifier(ctx.model, plan, scope=p["scope"], method="magnitude-gradual")


def build_imp(ctx: Any) -> PruningSparsifier:
    """``imp``: magnitude cycles with rewinding."""
    plan, k = _cycles(ctx, True)
    return PruningSparsifier(ctx.model, plan, scope=ctx.params["scope"], rewind_iteration=k,
                             method="imp", lr_rewind=ctx.params["lr_rewind"])


def _scored(ctx: Any, score: str) -> PruningSparsifier:
    rewind = ctx.params["rewind"]
    plan, k = _cycles(ctx, rewind)
    return PruningSparsifier(ctx.model, plan, scorer=_scorer(ctx, score),
                             scope=ctx.params.get("scope", "global"),
                             rewind_iteration=k if rewind else None, batches=ctx.batches,
                             criterion=ctx.criterion, method=score,
                             lr_rewind=ctx.params["lr_rewind"])


def build_taylor(ctx: Any) -> PruningSparsifier:
    """``taylor``: Global Taylor cycles."""
    return _scored(ctx, "taylor")


def build_lamp(ctx: Any) -> PruningSparsifier:
    """``lamp``: LAMP cycles."""
    return _scored(ctx, "lamp")


def _ap(ctx: Any, variant: str) -> PruningSparsifier:
    p = ctx.params
    plan, k = _cycles(ctx, p["rewind"], ap=variant)
    return PruningSparsifier(
        ctx.model, plan, scorer=_scorer(ctx, p["base"]), scope="global", rewind_iteration=k,
        ap=ApConfig(p["q_ratio"], p["dnr_batches"]), batches=ctx.batches,
        criterion=ctx.criterion, method=f"ap-{variant}", lr_rewind=p["lr_rewind"])


def build_ap_lite(ctx: Any) -> PruningSparsifier:
    """``ap-lite``: AP in the last cycle."""
    return _ap(ctx, "lite")


def build_ap_pro(ctx: Any) -> PruningSparsifier:
    """``ap-pro``: AP in every cycle."""
    return _ap(ctx, "pro")
