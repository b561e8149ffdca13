"""Weight pruning during training: magnitude (one-shot, gradual, iterative with rewinding),
Global Taylor, LAMP and Activate-while-Pruning (AP), on one sparsifier design.

Every method here is a :class:`PruningSparsifier`: a **score** per weight, a **plan** of
prune points (global iterations at which the model is pruned to a target sparsity) and,
for iterative methods, **weight rewinding**.  Masks are applied to the weights in place at
every prune point and re-applied after every optimizer step (pruned weights stay exactly
zero; a pruned weight is never revived, since later prune points select only among the
weights that are still kept).  Biases are never pruned.

Selection (seed 004, section 2; :func:`select_keep`): with ``N`` prunable weights and
target sparsity ``s`` a prune point keeps ``K = rnd((1 - s) N)`` weights,
``rnd(x) = floor(x + 1/2)`` (:func:`training.acdc.keep_count`).  ``scope = global`` ranks
all layers together (exact global count ``K``); ``scope = layer`` keeps
``K_l = rnd((1 - s) N_l)`` in every layer.  The kept weights are the largest scores among
the weights still kept, by k-th value selection with deterministic ties
(:func:`training.acdc.global_magnitude_masks`: first in layer order, then row-major).

Scores (:func:`magnitude_scores`, :func:`taylor_scores`, :func:`lamp_scores`):

* magnitude: ``|w|``.
* Global Taylor (Molchanov et al. 2019, as seed 004 uses it): ``|w * dL/dw|``,
  accumulated as ``sum_b |w_b * g_b|`` over the ``taylor_window`` training steps ``b``
  before the prune point (``w_b`` the weights the step's gradient ``g_b`` was taken at;
  ``accumulate = steps``) or over ``taylor_window`` training batches evaluated at the prune
  point (``accumulate = batches``, model in eval mode; the loop's ``ctx.batches`` gives the
  first batches of epoch 0's order, the same at every prune point).
* LAMP (Lee et al. 2021): in each layer, sort the weights ascending by ``|w|``
  (``w_1 <= ... <= w_n``, stable); ``score(u) = w_u^2 / sum_{v >= u} w_v^2`` (0 when the
  denominator is 0), then one global threshold over all layers.

Plans (``E`` epochs of ``S`` steps, ``T = E S`` steps; prune points are iterations at
which :meth:`before_forward` prunes, before the forward pass):

* one-shot (:func:`oneshot_plan`): sparsity ``s`` at the first step of epoch ``e``
  (default ``floor(E / 2)``), then training continues on that support.
* gradual (Zhu & Gupta 2018, :func:`gradual_plan`): at ``t = t0 + j dt``,
  ``j = 0 .. n``, ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3``; ``t0`` the first
  step of ``start_epoch`` (default ``rnd(0.1 E)``), ``n = floor((t_end - t0) / dt)``,
  ``t_end`` the first step of ``end_epoch`` (default ``min(E - 1, max(start + 1,
  rnd(0.75 E)))``), ``dt`` default ``max(1, floor(S / 4))``; the last point
  ``t0 + n dt`` is pruned to exactly ``s_f``.
* cycles (:func:`cycle_plan`; IMP, Taylor, LAMP, AP): ``R`` rounds laid out over the
  first part of the epochs, round ``i`` ending at the first step of epoch
  ``b_i = rnd(i B / R)`` with ``B = E - max(1, rnd(f E))`` (``i = 1 .. R``); the last
  ``E - B`` epochs (``f = final_fraction``, default 0.5) train the final ticket, so that a
  ticket rewound to initialisation is trained long enough in a single run.  Each round prunes
  the same fraction ``p = 1 - (1 - s)^(1/R)`` of the remaining weights, so after round
  ``i`` the sparsity is ``s_i = 1 - (1 - s)^(i/R)`` and ``s_R = s`` exactly.  Default
  ``R = min(E - 1, ceil(log(1 - s) / log(1 - rate)))`` with ``rate = 0.2`` (seed 004's
  20% per cycle), fewer if the rewind point would not precede the first prune point.

Rewinding (lottery ticket, Frankle & Carbin 2019; seed 002; seed 004 Algorithm 2): the
weights (all parameters of the pruned layers' weights) are saved before the forward pass
of the rewind iteration ``k`` (``rewind_step``, or the first step of ``rewind_epoch``;
default 0, the initialisation); at every cycle's prune point the surviving weights are
reset to exactly those values (pruned ones are 0) and the optimizer's momentum is reset
(:func:`training.acdc.reset_momentum`).  Biases, BN and the learning-rate schedule are not
rewound (the loop's schedule continues).

AP (seed 004, section 3.3, Algorithms 1-2; :func:`ap_prune`): at an AP prune point the
weights to prune, ``P`` in all (the cycle's share of the remaining weights), are split:
``a = rnd(q/p * P)`` by AP and ``P - a`` by the base method (magnitude, Taylor or LAMP)
first; then, among the weights still kept that are **negative** (``w < 0``: with
non-negative post-ReLU inputs, removing them raises the pre-activation of a dead neuron),
the ``a`` with the **smallest movement** ``|w - w_0|`` from the rewind point ``w_0`` are
pruned (small movement locates neurons that were often dead: their gradient is zero).  If
fewer than ``a`` negative weights remain the base method prunes the rest, so the count is
exact.  ``q = 0.1 p`` by default (``q_ratio = 0.1``).  AP-Pro applies this split, then
rewinds and retrains, in every cycle; AP-Lite only in the last cycle (the earlier cycles
are the base method's), i.e. the three AP steps once at the end of pruning.  Each AP prune
point measures the dead-neuron rates (:class:`training.metrics.DeadNeuronMonitor`: DNR,
dynamic and static DNR per ReLU call site, model in eval mode) on ``dnr_batches`` training
batches before and after pruning (the trained weights, before rewinding) and logs them in
its event; the loop's epoch metrics report them per epoch as well.

Events: one ``"prune"`` event per prune point (a trace-recording boundary) with
``prune_point``, ``target_sparsity``, ``kept``, ``total``, ``kept_per_layer``, ``churn``
and ``layer_churn`` (:func:`training.acdc.mask_churn`), ``rewound``, ``momentum_reset``,
``densities``; AP points add ``ap_pruned``, ``ap_requested``, ``ap_shortfall`` and
``dnr_before``/``dnr_after``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import check_sparsity
from training.acdc import global_magnitude_masks, keep_count, mask_churn, reset_momentum
from training.methods import MethodContext, MethodSpec, ParamSpec, register
from training.metrics import RELU_TYPES, DeadNeuronMonitor
from training.sparsifier import (
    Sparsifier,
    apply_weight_masks,
    load_layer_tensors,
    mask_densities,
    nonzero_densities,
)

__all__ = ["SCORES", "SCOPES", "ApConfig", "PrunePoint", "PruningSparsifier", "TaylorConfig",
           "ap_prune", "cubic_sparsity", "cycle_plan", "gradual_plan", "lamp_scores",
           "magnitude_scores", "oneshot_plan", "select_keep", "taylor_scores"]

SCORES = ("magnitude", "taylor", "lamp")
SCOPES = ("global", "layer")
ACCUMULATE = ("steps", "batches")
Batches = Callable[[int], list[tuple[torch.Tensor, torch.Tensor]]]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _rnd(x: float) -> int:
    """Round half up."""
    return int(math.floor(x + 0.5))


# -- plans --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrunePoint:
    """Prune to ``sparsity`` before the forward pass of global ``iteration``; ``rewind``:
    reset the survivors to the rewind point; ``ap``: split the pruning with AP."""

    iteration: int
    sparsity: float
    rewind: bool = False
    ap: bool = False

    def to_list(self) -> list[Any]:
        return [self.iteration, self.sparsity, self.rewind, self.ap]


def _check_run(epochs: int, steps_per_epoch: int) -> None:
    for name, v in (("epochs", epochs), ("steps per epoch", steps_per_epoch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"pruning plan: {name} = {v!r} must be an integer >= 1")


def oneshot_plan(sparsity: float, epochs: int, steps_per_epoch: int,
                 epoch: int = -1) -> list[PrunePoint]:
    """One prune point: ``sparsity`` at the first step of ``epoch`` (-1: ``floor(E/2)``)."""
    _check_run(epochs, steps_per_epoch)
    s = check_sparsity(sparsity, "pruning sparsity")
    e = epochs // 2 if epoch == -1 else epoch
    if not 0 <= e < epochs:
        raise ConfigError(f"magnitude-oneshot epoch = {epoch} must be in [0, {epochs - 1}] "
                          f"(0-based, the run has {epochs} epochs), or -1 for the middle")
    return [PrunePoint(e * steps_per_epoch, s)]


def cubic_sparsity(t: int, s_i: float, s_f: float, t0: int, n: int, dt: int) -> float:
    """Zhu & Gupta: ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3`` for
    ``t0 <= t <= t0 + n dt`` (``s_i`` before, ``s_f`` after)."""
    if n < 1 or dt < 1:
        raise ConfigError(f"cubic schedule needs n >= 1 and dt >= 1, got n = {n}, dt = {dt}")
    if t <= t0:
        return s_i
    if t >= t0 + n * dt:
        return s_f
    return s_f + (s_i - s_f) * (1.0 - (t - t0) / (n * dt)) ** 3


def gradual_plan(sparsity: float, epochs: int, steps_per_epoch: int, *,
                 initial_sparsity: float = 0.0, start_epoch: int = -1, end_epoch: int = -1,
                 frequency: int = 0) -> list[PrunePoint]:
    """Zhu & Gupta's cubic schedule (module docstring); -1 / 0 select the defaults."""
    _check_run(epochs, steps_per_epoch)
    s_f = check_sparsity(sparsity, "pruning sparsity")
    s_i = check_sparsity(initial_sparsity, "magnitude-gradual initial_sparsity")
    if s_i > s_f:
        raise ConfigError(f"magnitude-gradual initial_sparsity = {s_i} exceeds the target "
                          f"sparsity {s_f}; lower it")
    start = _rnd(0.1 * epochs) if start_epoch == -1 else start_epoch
    end = (min(epochs - 1, max(start + 1, _rnd(0.75 * epochs))) if end_epoch == -1
           else end_epoch)
    if not 0 <= start < end <= epochs - 1:
        raise ConfigError(f"magnitude-gradual needs 0 <= start_epoch < end_epoch <= "
                          f"{epochs - 1} (the last prune point must be a step of the run), "
                          f"got start {start}, end {end} with {epochs} epochs; train longer "
                          "or move them")
    dt = max(1, steps_per_epoch // 4) if frequency == 0 else frequency
    t0, t_end = start * steps_per_epoch, end * steps_per_epoch
    n = (t_end - t0) // dt
    if n < 1:
        raise ConfigError(f"magnitude-gradual frequency = {dt} steps is longer than the "
                          f"pruning window of {t_end - t0} steps; lower it")
    plan = [PrunePoint(t0 + j * dt, cubic_sparsity(t0 + j * dt, s_i, s_f, t0, n, dt))
            for j in range(n)]
    return plan + [PrunePoint(t0 + n * dt, s_f)]


def cycle_plan(sparsity: float, epochs: int, steps_per_epoch: int, *, rate: float = 0.2,
               rounds: int = 0, rewind_iteration: int | None = 0, rewind: bool = True,
               ap: str | None = None, final_fraction: float = 0.5) -> list[PrunePoint]:
    """``R`` pruning rounds over the epochs (module docstring); ``rounds = 0`` chooses
    ``R`` from ``rate``.  ``ap``: None, ``"lite"`` (AP on the last round) or ``"pro"``
    (every round)."""
    _check_run(epochs, steps_per_epoch)
    s = check_sparsity(sparsity, "pruning sparsity")
    if not 0.0 < rate < 1.0:
        raise ConfigError(f"pruning rate = {rate} must be in (0, 1)")
    if epochs < 2:
        raise ConfigError(f"iterative pruning needs at least 2 epochs (one round and the "
                          f"final training), got {epochs}")
    k = 0 if rewind_iteration is None else rewind_iteration

    if not 0.0 <= final_fraction < 1.0:
        raise ConfigError(f"final_fraction = {final_fraction} must be in [0, 1)")
    last = max(1, epochs - max(1, _rnd(final_fraction * epochs)))

    def bounds(r: int) -> list[int]:
        return [_rnd(i * last / r) for i in range(1, r + 1)]

    if rounds == 0:
        wanted = 1 if s == 0.0 else math.ceil(math.log(1.0 - s) / math.log(1.0 - rate) - 1e-9)
        r = max(1, min(last, wanted))
        while r > 1 and bounds(r)[0] * steps_per_epoch <= k:
            r -= 1
    else:
        r = rounds
        if r > last:
            raise ConfigError(f"{r} pruning rounds do not fit in the first {last} of {epochs} "
                              "epochs (one round per epoch at most); lower rounds or "
                              "final_fraction, or train longer")
    b = bounds(r)
    if b[0] * steps_per_epoch <= k:
        raise ConfigError(f"the rewind point (step {k}) must come before the first prune "
                          f"point (step {b[0] * steps_per_epoch}, epoch {b[0]}); rewind "
                          "earlier or use fewer rounds")
    plan = []
    for i, epoch in enumerate(b, start=1):
        s_i = s if i == r else 1.0 - (1.0 - s) ** (i / r)
        use_ap = ap == "pro" or (ap == "lite" and i == r)
        plan.append(PrunePoint(epoch * steps_per_epoch, s_i, rewind=rewind, ap=use_ap))
    return plan


# -- scores and selection -----------------------------------------------------------------
def magnitude_scores(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``|w|`` per weight."""
    return {n: w.detach().abs() for n, w in weights.items()}


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


def select_keep(scores: Mapping[str, torch.Tensor], eligible: Mapping[str, torch.Tensor],
                keep: int) -> tuple[dict[str, torch.Tensor], float]:
    """Masks keeping exactly the ``keep`` largest scores among the ``eligible`` entries
    (all layers together); entries not eligible are never kept.  Returns ``(masks, t)``,
    ``t`` the ``keep``-th largest eligible score (``inf`` when ``keep == 0``).  Scores must
    be finite and >= 0 (k-th value selection of :func:`global_magnitude_masks`)."""
    sub = {}
    for n, sc in scores.items():
        if not bool(torch.isfinite(sc).all()):
            raise ConfigError(f"layer {n} has NaN/inf pruning scores: training diverged; lower "
                              "the learning rate")
        sub[n] = sc.detach()[eligible[n]]
    available = sum(v.numel() for v in sub.values())
    if not 0 <= keep <= available:
        raise ConfigError(f"cannot keep {keep} of the {available} weights still unpruned")
    kept_sub, threshold = global_magnitude_masks(sub, keep)
    out = {}
    for n, sc in scores.items():
        mask = torch.zeros(sc.shape, dtype=torch.bool, device=sc.device)
        mask[eligible[n]] = kept_sub[n]
        out[n] = mask
    return out, threshold


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
    kept, _ = select_keep(movement, eligible, available - pruned)
    return {n: mask[n] & ~(eligible[n] & ~kept[n]) for n in weights}, pruned


# -- the sparsifier -----------------------------------------------------------------------
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
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"Taylor window = {self.window!r} must be an integer >= 1")


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


class PruningSparsifier(Sparsifier):
    """Pruning by ``score`` on ``plan`` (see the module docstring for every formula).

    Parameters
    ----------
    model: any model; all its Conv2d/Linear weights are pruned.
    plan: the prune points (iterations strictly increasing, sparsities non-decreasing).
    score: ``magnitude``, ``taylor`` or ``lamp`` (LAMP is always one global threshold).
    scope: ``global`` (exact global count) or ``layer`` (exact count per layer).
    rewind_iteration: iteration whose weights rewinding restores (and AP measures movement
        from); required when a prune point rewinds or uses AP.
    taylor: :class:`TaylorConfig` (Taylor scores only).
    ap: :class:`ApConfig` (AP prune points only).
    batches / criterion: training batches and loss (Taylor ``batches`` mode, AP's DNR).
    method: the name written in events, checkpoints and traces.
    """

    method = "pruning"

    def __init__(self, model: nn.Module, plan: Sequence[PrunePoint], *,
                 score: str = "magnitude", scope: str = "global",
                 rewind_iteration: int | None = None, taylor: TaylorConfig | None = None,
                 ap: ApConfig | None = None, batches: Batches | None = None,
                 criterion: Criterion | None = None, method: str = "pruning",
                 lr_rewind: bool = False) -> None:
        super().__init__(model)
        self.method = method
        self.lr_rewind = bool(lr_rewind)
        if score not in SCORES:
            raise ConfigError(f"pruning score {score!r}; choose one of {', '.join(SCORES)}")
        if scope not in SCOPES:
            raise ConfigError(f"pruning scope {scope!r}; choose one of {', '.join(SCOPES)}")
        if score == "lamp" and scope != "global":
            raise ConfigError("LAMP is a global threshold over layer-normalised scores; use "
                              "scope = global (per-layer LAMP is per-layer magnitude)")
        plan = list(plan)
        if not plan:
            raise ConfigError("pruning plan has no prune point")
        for a, b in zip(plan, plan[1:], strict=False):
            if b.iteration <= a.iteration or b.sparsity < a.sparsity:
                raise ConfigError("pruning plan: iterations must increase and sparsities must "
                                  f"not decrease ({a} then {b})")
        if plan[0].iteration < 0:
            raise ConfigError(f"pruning plan starts at iteration {plan[0].iteration} < 0")
        needs_ref = any(p.rewind or p.ap for p in plan)
        if needs_ref:
            if rewind_iteration is None or rewind_iteration < 0:
                raise ConfigError("rewinding and AP need a rewind iteration >= 0")
            if rewind_iteration >= plan[0].iteration:
                raise ConfigError(f"rewind iteration {rewind_iteration} must come before the "
                                  f"first prune point (iteration {plan[0].iteration})")
        if any(p.ap for p in plan) and scope != "global":
            raise ConfigError("AP splits one global pruning count; use scope = global")
        if any(p.ap for p in plan) and ap is None:
            ap = ApConfig()
        self.plan = plan
        self.score = score
        self.scope = scope
        self.rewind_iteration = rewind_iteration if needs_ref else None
        self.taylor = (taylor or TaylorConfig()) if score == "taylor" else None
        self.ap = ap if any(p.ap for p in plan) else None
        self.batches = batches
        self.criterion = criterion or nn.CrossEntropyLoss()
        if self.taylor is not None and self.taylor.accumulate == "batches" and batches is None:
            raise ConfigError("Taylor accumulate = batches needs training batches; build the "
                              "method through training.loop.train or pass batches=")
        self.total_weights = sum(m.weight.numel() for m in self.layers.values())
        self.prune_points = 0
        self.mask: dict[str, torch.Tensor] | None = None
        self.reference: dict[str, torch.Tensor] | None = None
        self._taylor_sum: dict[str, torch.Tensor] | None = None
        self._taylor_count = 0
        self._taylor_weights: dict[str, torch.Tensor] | None = None
        self._taylor_steps = self._window_steps()

    def _window_steps(self) -> set[int]:
        if self.taylor is None or self.taylor.accumulate != "steps":
            return set()
        steps: set[int] = set()
        for p in self.plan:
            steps.update(range(max(0, p.iteration - self.taylor.window), p.iteration))
        return steps

    def _weights(self) -> dict[str, torch.Tensor]:
        return {n: m.weight for n, m in self.layers.items()}

    # -- hooks ----------------------------------------------------------------------------
    def before_forward(self, iteration: int) -> None:
        """Save the rewind point, prune at a prune point, snapshot weights for Taylor."""
        super().before_forward(iteration)
        if iteration == self.rewind_iteration and self.reference is None:
            self.reference = {n: w.detach().clone() for n, w in self._weights().items()}
        while self.prune_points < len(self.plan) and \
                iteration >= self.plan[self.prune_points].iteration:
            self._prune(self.plan[self.prune_points])
        if iteration in self._taylor_steps:
            self._taylor_weights = {n: w.detach().clone() for n, w in self._weights().items()}

    def step(self) -> None:
        """Accumulate Taylor scores of this step; re-apply the mask."""
        if self._taylor_weights is not None:
            for n, w in self._weights().items():
                g = w.grad if w.grad is not None else torch.zeros_like(w)
                term = (self._taylor_weights[n] * g.detach()).abs()
                if self._taylor_sum is None:
                    self._taylor_sum = {}
                self._taylor_sum[n] = (term if n not in self._taylor_sum
                                       else self._taylor_sum[n] + term)
            self._taylor_count += 1
            self._taylor_weights = None
        if self.mask is not None:
            self._apply_mask()

    def _apply_mask(self) -> None:
        assert self.mask is not None
        apply_weight_masks(self.layers, self.mask)

    # -- pruning --------------------------------------------------------------------------
    def _scores(self) -> dict[str, torch.Tensor]:
        weights = self._weights()
        if self.score == "magnitude":
            return magnitude_scores(weights)
        if self.score == "lamp":
            return lamp_scores(weights)
        assert self.taylor is not None
        if self.taylor.accumulate == "batches":
            return self._taylor_from_batches()
        if self._taylor_sum is None or self._taylor_count == 0:
            raise ConfigError(f"no training step before the Taylor prune point at iteration "
                              f"{self.iteration} to accumulate scores; prune later")
        scores, self._taylor_sum, self._taylor_count = self._taylor_sum, None, 0
        return scores

    def _taylor_from_batches(self) -> dict[str, torch.Tensor]:
        assert self.batches is not None and self.taylor is not None
        weights = self._weights()
        total: dict[str, torch.Tensor] = {n: torch.zeros_like(w) for n, w in weights.items()}
        was_training = self.model.training
        self.model.eval()
        try:
            for x, y in self.batches(self.taylor.window):
                loss = self.criterion(self.model(x), y)
                grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
                for (n, w), g in zip(weights.items(), grads, strict=True):
                    if g is not None:
                        total[n] += (w.detach() * g).abs()
        finally:
            self.model.train(was_training)
        return total

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

    def _keep_targets(self, sparsity: float) -> dict[str, int] | int:
        if self.scope == "global":
            return keep_count(sparsity, self.total_weights)
        return {n: keep_count(sparsity, m.weight.numel()) for n, m in self.layers.items()}

    def _select(self, scores: Mapping[str, torch.Tensor], eligible: Mapping[str, torch.Tensor],
                keep: dict[str, int] | int) -> dict[str, torch.Tensor]:
        if isinstance(keep, int):
            return select_keep(scores, eligible, keep)[0]
        out = {}
        for n in scores:
            out.update(select_keep({n: scores[n]}, {n: eligible[n]}, keep[n])[0])
        return out

    @staticmethod
    def _count(mask: Mapping[str, torch.Tensor]) -> dict[str, int]:
        return {n: int(m.sum()) for n, m in mask.items()}

    def _prune(self, point: PrunePoint) -> None:
        if self.lr_rewind:
            self.lr_restart_step = point.iteration     # the loop restarts its LR schedule
        weights = self._weights()
        previous = self.mask
        current = previous or {n: torch.ones(w.shape, dtype=torch.bool, device=w.device)
                               for n, w in weights.items()}
        before = self._count(current)
        keep = self._keep_targets(point.sparsity)
        # never revive: a target above the weights still kept keeps them all
        if isinstance(keep, int):
            keep = min(keep, sum(before.values()))
        else:
            keep = {n: min(k, before[n]) for n, k in keep.items()}
        scores = self._scores()
        fields: dict[str, Any] = {}
        if point.ap:
            assert self.ap is not None and self.reference is not None
            fields["dnr_before"] = self._dnr()
            if isinstance(keep, int):
                prune_total = {"all": sum(before.values()) - keep}
            else:
                prune_total = {n: before[n] - keep[n] for n in keep}
            requested = sum(_rnd(self.ap.q_ratio * v) for v in prune_total.values())
            # the base method's share first: (p - q) of the remaining weights
            if isinstance(keep, int):
                base_keep: dict[str, int] | int = keep + requested
            else:
                base_keep = {n: keep[n] + _rnd(self.ap.q_ratio * prune_total[n]) for n in keep}
            mask = self._select(scores, current, base_keep)
            mask, done = ap_prune(weights, self.reference, mask, requested)
            if done < requested:        # too few negative weights: the base prunes the rest
                mask = self._select(scores, mask, keep)
            fields.update(ap_requested=requested, ap_pruned=done,
                          ap_shortfall=requested - done)
        else:
            mask = self._select(scores, current, keep)
        churn, layer_churn = mask_churn(previous, mask)
        self.mask = mask
        self._apply_mask()
        if point.ap:                    # the pruned trained weights, before any rewinding
            fields["dnr_after"] = self._dnr()
        reset = 0
        if point.rewind:
            assert self.reference is not None
            with torch.no_grad():
                for n, w in weights.items():
                    w.copy_(self.reference[n].to(w.device))
            reset = reset_momentum(self.optimizer)
            self._apply_mask()
        kept = self._count(mask)
        self._event("prune", prune_point=self.prune_points, target_sparsity=point.sparsity,
                    kept=sum(kept.values()), total=self.total_weights, kept_per_layer=kept,
                    score=self.score, scope=self.scope, churn=churn, layer_churn=layer_churn,
                    rewound=point.rewind, momentum_reset=reset, ap=point.ap,
                    densities=self._densities(), **fields)
        self.prune_points += 1

    def _densities(self) -> dict[str, float]:
        return nonzero_densities(self.layers)

    # -- what the method did --------------------------------------------------------------
    def weight_masks(self) -> dict[str, torch.Tensor]:
        """The current mask after the first prune point (``weight != 0`` before)."""
        if self.mask is None:
            return super().weight_masks()
        return {n: m.clone() for n, m in self.mask.items()}

    def target_densities(self) -> dict[str, float]:
        """Kept fraction of each layer at the last prune point (1.0 before the first)."""
        if self.mask is None:
            return super().target_densities()
        return mask_densities(self.mask)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method, "score": self.score, "scope": self.scope,
            "sparsity": self.plan[-1].sparsity, "plan": [p.to_list() for p in self.plan],
            "rewind_iteration": self.rewind_iteration, "lr_rewind": self.lr_rewind,
            "total_weights": self.total_weights,
            "pruned_layers": list(self.layers)}
        if self.taylor is not None:
            out["taylor"] = {"accumulate": self.taylor.accumulate, "window": self.taylor.window}
        if self.ap is not None:
            out["ap"] = {"q_ratio": self.ap.q_ratio, "dnr_batches": self.ap.dnr_batches}
        return out

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        def copy(d: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
            return None if d is None else {n: t.clone() for n, t in d.items()}

        return {**super().state_dict(), "describe": self.describe(),
                "prune_points": self.prune_points, "mask": copy(self.mask),
                "reference": copy(self.reference), "taylor_sum": copy(self._taylor_sum),
                "taylor_count": self._taylor_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("describe") != self.describe():
            raise ConfigError(f"checkpoint's {self.method} plan or parameters differ from this "
                              "run's; resume with the same options, epochs and model")

        def load(d: Mapping[str, torch.Tensor] | None,
                 dtype: torch.dtype | None) -> dict[str, torch.Tensor] | None:
            return load_layer_tensors(d, self.layers, f"{self.method} state", dtype)

        self.prune_points = int(state["prune_points"])
        self.mask = load(state["mask"], torch.bool)
        self.reference = load(state["reference"], None)
        self._taylor_sum = load(state["taylor_sum"], None)
        self._taylor_count = int(state["taylor_count"])
        self._taylor_weights = None
        if self.mask is not None:
            self._apply_mask()


# -- registry -----------------------------------------------------------------------------
def _p_scope() -> ParamSpec:
    return ParamSpec("scope", str, "global", "rank weights over all layers together "
                     "(exact global count) or keep the same fraction in every layer",
                     choices=SCOPES)


_CYCLE_PARAMS = (
    ParamSpec("rate", float, 0.2, "per-round pruning rate used to choose the number of "
              "rounds (each round then prunes 1-(1-s)^(1/R) of the remaining weights)",
              minimum=0.01, maximum=0.99),
    ParamSpec("rounds", int, 0, "pruning rounds R (0: from rate, at most one per epoch "
              "before the final training)", minimum=0),
    ParamSpec("lr_rewind", bool, True, "restart the learning-rate schedule at every prune "
              "point (learning-rate rewinding, Renda et al. 2020, seed 004's set-up)"),
    ParamSpec("final_fraction", float, 0.5, "fraction of the epochs left to train the final "
              "ticket after the last round", minimum=0.0, maximum=0.95),
    ParamSpec("rewind_epoch", int, 0, "rewind to the weights at the start of this epoch "
              "(0: initialisation)", minimum=0),
    ParamSpec("rewind_step", int, -1, "rewind to the weights at this global step instead "
              "(-1: use rewind_epoch)", minimum=-1),
)
_REWIND = ParamSpec("rewind", bool, True, "reset the surviving weights to the rewind point "
                    "after every round (seed 004 Algorithm 2)")
_TAYLOR_PARAMS = (
    ParamSpec("accumulate", str, "steps", "accumulate |w*dL/dw| over the training steps "
              "before a prune point, or over training batches at it", choices=ACCUMULATE),
    ParamSpec("taylor_window", int, 8, "steps (or batches) accumulated per prune point",
              minimum=1),
)
_AP_PARAMS = (
    ParamSpec("base", str, "magnitude", "base pruning method that prunes (p - q)",
              choices=SCORES),
    ParamSpec("q_ratio", float, 0.1, "AP's share q/p of each AP prune (q = 0.1 p)",
              minimum=0.0, maximum=1.0),
    ParamSpec("dnr_batches", int, 2, "training batches to measure dynamic/static DNR on "
              "at each AP prune point (0: off)", minimum=0),
)


def _rewind_iteration(ctx: MethodContext) -> int:
    p = ctx.params
    step = p["rewind_step"]
    if step >= 0:
        return int(step)
    if p["rewind_epoch"] >= ctx.config.epochs:
        raise ConfigError(f"rewind_epoch = {p['rewind_epoch']} must be below the "
                          f"{ctx.config.epochs} epochs")
    return int(p["rewind_epoch"]) * ctx.steps_per_epoch


def _taylor(ctx: MethodContext) -> TaylorConfig:
    return TaylorConfig(ctx.params.get("accumulate", "steps"),
                        min(ctx.params.get("taylor_window", 8), max(1, ctx.steps_per_epoch)))


def _build_oneshot(ctx: MethodContext) -> Sparsifier:
    plan = oneshot_plan(ctx.config.sparsity, ctx.config.epochs, ctx.steps_per_epoch,
                        ctx.params["epoch"])
    return PruningSparsifier(ctx.model, plan, scope=ctx.params["scope"],
                             method="magnitude-oneshot")


def _build_gradual(ctx: MethodContext) -> Sparsifier:
    p = ctx.params
    plan = gradual_plan(ctx.config.sparsity, ctx.config.epochs, ctx.steps_per_epoch,
                        initial_sparsity=p["initial_sparsity"], start_epoch=p["start_epoch"],
                        end_epoch=p["end_epoch"], frequency=p["frequency"])
    return PruningSparsifier(ctx.model, plan, scope=p["scope"], method="magnitude-gradual")


def _cycles(ctx: MethodContext, rewind: bool, ap: str | None = None) -> tuple[
        list[PrunePoint], int]:
    k = _rewind_iteration(ctx)
    plan = cycle_plan(ctx.config.sparsity, ctx.config.epochs, ctx.steps_per_epoch,
                      rate=ctx.params["rate"], rounds=ctx.params["rounds"],
                      rewind_iteration=k if (rewind or ap) else None, rewind=rewind, ap=ap,
                      final_fraction=ctx.params["final_fraction"])
    return plan, k


def _build_imp(ctx: MethodContext) -> Sparsifier:
    plan, k = _cycles(ctx, True)
    return PruningSparsifier(ctx.model, plan, scope=ctx.params["scope"], rewind_iteration=k,
                             method="imp", lr_rewind=ctx.params["lr_rewind"])


def _build_scored(score: str) -> Callable[[MethodContext], Sparsifier]:
    def build(ctx: MethodContext) -> Sparsifier:
        rewind = ctx.params["rewind"]
        plan, k = _cycles(ctx, rewind)
        return PruningSparsifier(ctx.model, plan, score=score,
                                 scope=ctx.params.get("scope", "global"),
                                 rewind_iteration=k if rewind else None,
                                 taylor=_taylor(ctx) if score == "taylor" else None,
                                 batches=ctx.batches, criterion=ctx.criterion, method=score,
                                 lr_rewind=ctx.params["lr_rewind"])
    return build


def _build_ap(variant: str) -> Callable[[MethodContext], Sparsifier]:
    def build(ctx: MethodContext) -> Sparsifier:
        p = ctx.params
        plan, k = _cycles(ctx, p["rewind"], ap=variant)
        return PruningSparsifier(
            ctx.model, plan, score=p["base"], scope="global", rewind_iteration=k,
            taylor=_taylor(ctx) if p["base"] == "taylor" else None,
            ap=ApConfig(p["q_ratio"], p["dnr_batches"]), batches=ctx.batches,
            criterion=ctx.criterion, method=f"ap-{variant}", lr_rewind=p["lr_rewind"])
    return build


register(MethodSpec(
    "magnitude-oneshot", "magnitude pruning to the target sparsity at one epoch, then "
    "training on that support", "seed 002; seed 004 section 2", _build_oneshot,
    params=(ParamSpec("epoch", int, -1, "0-based epoch at whose start to prune (-1: "
                      "epochs // 2)", minimum=-1), _p_scope())))
register(MethodSpec(
    "magnitude-gradual", "gradual magnitude pruning on Zhu & Gupta's cubic schedule "
    "s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3", "seed 002 (Zhu & Gupta 2018)",
    _build_gradual,
    params=(ParamSpec("initial_sparsity", float, 0.0, "s_i at the first prune point",
                      minimum=0.0, maximum=0.99),
            ParamSpec("start_epoch", int, -1, "epoch of t0 (-1: round(0.1 epochs))",
                      minimum=-1),
            ParamSpec("end_epoch", int, -1, "epoch at which s_f is reached (-1: "
                      "min(epochs-1, round(0.75 epochs)))", minimum=-1),
            ParamSpec("frequency", int, 0, "dt, steps between prune points (0: steps per "
                      "epoch // 4)", minimum=0),
            _p_scope())))
register(MethodSpec(
    "imp", "iterative magnitude pruning with weight rewinding (lottery ticket): prune a "
    "fraction of the remaining weights each round, rewind the survivors",
    "seed 002 (Frankle & Carbin 2019); seed 004 section 2", _build_imp,
    params=(*_CYCLE_PARAMS, _p_scope())))
register(MethodSpec(
    "taylor", "Global Taylor: iterative pruning by |w * dL/dw| accumulated over steps or "
    "batches", "seed 004 section 2 (Molchanov et al. 2019)", _build_scored("taylor"),
    params=(*_CYCLE_PARAMS, _REWIND, *_TAYLOR_PARAMS, _p_scope())))
register(MethodSpec(
    "lamp", "LAMP: iterative pruning by w_u^2 / sum_{v>=u} w_v^2 per layer, global "
    "threshold", "seed 004 (Lee et al. 2021)", _build_scored("lamp"),
    params=(*_CYCLE_PARAMS, _REWIND)))
register(MethodSpec(
    "ap-lite", "Activate-while-Pruning Lite: base method, and once in the last cycle "
    "q of the pruning goes to negative weights with the smallest movement",
    "seed 004 section 3.3", _build_ap("lite"),
    params=(*_AP_PARAMS, *_CYCLE_PARAMS, _REWIND, *_TAYLOR_PARAMS)))
register(MethodSpec(
    "ap-pro", "Activate-while-Pruning Pro: in every cycle q of the pruning goes to negative "
    "weights with the smallest movement, then rewind and retrain", "seed 004 section 3.3",
    _build_ap("pro"),
    params=(*_AP_PARAMS, *_CYCLE_PARAMS, _REWIND, *_TAYLOR_PARAMS)))
