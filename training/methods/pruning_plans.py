"""Prune plans: when a pruning method prunes and to which sparsity (frozen dataclasses).

A plan is a tuple of :class:`PrunePoint` (``E`` epochs of ``S`` steps, ``T = E S`` steps;
prune points are iterations at which the sparsifier prunes, before the forward pass):

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from accelsim.errors import ConfigError
from accelsim.numeric import require_int, round_half_up
from accelsim.spec.sparsity import check_sparsity

__all__ = ["PrunePoint", "check_plan", "cubic_sparsity", "cycle_plan", "gradual_plan",
           "oneshot_plan"]


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
        require_int(v, f"pruning plan: {name}", 1)


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
    start = round_half_up(0.1 * epochs) if start_epoch == -1 else start_epoch
    end = (min(epochs - 1, max(start + 1, round_half_up(0.75 * epochs))) if end_epoch == -1
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
    last = max(1, epochs - max(1, round_half_up(final_fraction * epochs)))

    def bounds(r: int) -> list[int]:
        return [round_half_up(i * last / r) for i in range(1, r + 1)]

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


def check_plan(plan: list[PrunePoint]) -> list[PrunePoint]:
    """``plan`` if its iterations increase from >= 0 and its sparsities do not decrease."""
    if not plan:
        raise ConfigError("pruning plan has no prune point")
    for a, b in zip(plan, plan[1:], strict=False):
        if b.iteration <= a.iteration or b.sparsity < a.sparsity:
            raise ConfigError("pruning plan: iterations must increase and sparsities must "
                              f"not decrease ({a} then {b})")
    if plan[0].iteration < 0:
        raise ConfigError(f"pruning plan starts at iteration {plan[0].iteration} < 0")
    return plan
