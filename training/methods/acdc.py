"""AC/DC: Alternating Compressed/DeCompressed training (Peste et al., 2021).

Training alternates *dense* phases, where every weight trains, with *compressed* phases,
where the weights are pruned once by global magnitude at the start of the phase and then
trained on that fixed support (the base class re-applies the mask after every optimizer
step, i.e. iterative hard thresholding with a frozen support).  The run starts with a dense
warm-up and ends with a compressed phase, so it yields a sparse model (and, at every dense
phase end, a dense one).  The phases are :class:`~training.methods.acdc_schedule.AcdcSchedule`.

Pruning (:class:`AcdcSparsifier`): at the start of every compressed phase all pruned
layers' weights ``w`` (biases are never pruned) are ranked together by ``|w|``; with ``N``
weights in total, ``K = rnd((1 - s) N)`` are kept (:func:`training.masks.top_k_masks`:
exact count, deterministic ties).  Mask churn at a prune point is ``|m_new XOR m_prev| /
N``, ``m_prev`` being the mask of the previous prune point; the first prune point compares
with the all-ones mask of the dense warm-up, so its churn is the fraction pruned
(``1 - K/N``).

Momentum is reset at every phase change (:func:`training.masks.reset_momentum`): a stale
momentum would otherwise push freshly pruned weights, or re-grown ones, with the other
phase's history.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import check_sparsity
from training.masks import (
    keep_count,
    load_layer_tensors,
    magnitude_scores,
    mask_churn,
    nonzero_densities,
    reset_momentum,
)
from training.methods.acdc_schedule import AcdcPhase, AcdcSchedule, schedule_from_params
from training.sparsifier import Sparsifier

__all__ = ["AcdcSparsifier", "apply", "build"]

LayerFilter = Callable[[str, nn.Module], bool]


def _match(patterns: Iterable[str], names: Sequence[str], what: str) -> set[str]:
    chosen: set[str] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ConfigError(f"AC/DC {what} entry {pattern!r} must be a layer name or pattern")
        hits = fnmatch.filter(names, pattern)
        if not hits:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise ConfigError(f"AC/DC {what} {pattern!r} matches no Conv2d/Linear layer; "
                              f"layers are: {shown}")
        chosen.update(hits)
    return chosen


def _chosen_layers(layers: OrderedDict[str, nn.Module],
                   include: Iterable[str] | LayerFilter | None, exclude: tuple[str, ...],
                   keep_first_dense: bool, keep_last_dense: bool) -> set[str]:
    names = list(layers)
    if include is None:
        chosen = set(names)
    elif callable(include):
        chosen = {n for n in names if include(n, layers[n])}
    elif isinstance(include, str):
        chosen = _match([include], names, "layers")
    else:
        chosen = _match(list(include), names, "layers")
    chosen -= _match(exclude, names, "exclude")
    if keep_first_dense:
        chosen.discard(names[0])
    if keep_last_dense:
        chosen.discard(names[-1])
    if not chosen:
        raise ConfigError("AC/DC has no layer left to prune (layers/exclude/keep_*_dense "
                          "remove them all); prune at least one Conv2d/Linear layer")
    return chosen


class AcdcSparsifier(Sparsifier):
    """AC/DC on any model: global magnitude pruning on a dense/compressed phase schedule.

    Parameters
    ----------
    model: any ``nn.Module``; its Conv2d/Linear weights are the candidates.
    sparsity: target fraction of zeros over the *pruned* layers' weights together
        (global magnitude: the per-layer split follows from the magnitudes).
    schedule: an :class:`AcdcSchedule`, or the number of epochs for the default one.
    layers: which layers to prune: ``None`` (default: every Conv2d/Linear), names/fnmatch
        patterns, or a callable ``(name, module) -> bool``.
    exclude: names/patterns of layers kept dense.
    keep_first_dense / keep_last_dense: keep the first / last Conv2d/Linear (registration
        order) dense, as some AC/DC set-ups do (the paper's ``no_conv1_fc`` runs).  Default
        ``False``: the paper's main ResNet-50 results prune every layer.

    Hooks: ``on_epoch_start(epoch)`` enters the epoch's phase when it changes (prune and
    set the masks at a compressed start, lift them at a dense start; reset momentum at every
    change).  Events: ``"prune"`` at each compressed start and ``"phase"`` at each dense
    start, with ``phase_id``, ``phase``, ``start_epoch``, ``end_epoch``, ``momentum_reset``
    (parameter states reset) and per-layer ``densities``; prune events add ``prune_point``,
    ``kept``, ``total``, ``threshold``, ``churn`` and ``layer_churn``.
    """

    method = "acdc"

    def __init__(self, model: nn.Module, sparsity: float, schedule: AcdcSchedule | int, *,
                 layers: Iterable[str] | LayerFilter | None = None, exclude: Iterable[str] = (),
                 keep_first_dense: bool = False, keep_last_dense: bool = False) -> None:
        super().__init__(model)
        self.sparsity = check_sparsity(sparsity, "AC/DC sparsity")
        if isinstance(schedule, int) and not isinstance(schedule, bool):
            schedule = AcdcSchedule(schedule)
        if not isinstance(schedule, AcdcSchedule):
            raise ConfigError(f"AC/DC schedule must be an AcdcSchedule or a number of epochs, "
                              f"got {type(schedule).__name__}")
        self.schedule = schedule
        self.keep_first_dense = bool(keep_first_dense)
        self.keep_last_dense = bool(keep_last_dense)
        self.exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude)
        chosen = _chosen_layers(self.layers, layers, self.exclude, self.keep_first_dense,
                                self.keep_last_dense)
        self.pruned: OrderedDict[str, nn.Module] = OrderedDict(
            (n, m) for n, m in self.layers.items() if n in chosen)
        self.total_weights = sum(m.weight.numel() for m in self.pruned.values())
        self.keep = keep_count(self.sparsity, self.total_weights)
        if self.keep == 0:
            raise ConfigError(f"AC/DC sparsity {self.sparsity} keeps no weight of the "
                              f"{self.total_weights} pruned ones; lower the sparsity")
        self.phase_id: int | None = None
        self._phase_kind: str | None = None
        self.prune_points = 0
        #: mask of the last prune point before the current phase (for churn)
        self.previous_mask: dict[str, torch.Tensor] | None = None

    # -- hooks ----------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        phase = self.schedule.phase_at(epoch)
        if phase.phase_id != self.phase_id:
            self._enter(phase)

    def scores(self) -> dict[str, torch.Tensor]:
        """``|w|`` of the pruned layers (one global magnitude ranking)."""
        return magnitude_scores({n: m.weight for n, m in self.pruned.items()})

    def _enter(self, phase: AcdcPhase) -> None:
        reset = reset_momentum(self.optimizer)
        common = {"phase_id": phase.phase_id, "phase": phase.kind, "start_epoch": phase.start,
                  "end_epoch": phase.end, "momentum_reset": reset}
        if phase.kind == "compressed":
            reference = self.masks or self.previous_mask
            masks, threshold = self.select(self.keep)
            churn, layer_churn = mask_churn(reference, masks)
            self.previous_mask = reference
            self.set_masks(masks)
            self.phase_id, self._phase_kind = phase.phase_id, phase.kind
            self._event("prune", **common, prune_point=self.prune_points, kept=self.keep,
                        total=self.total_weights, threshold=threshold, churn=churn,
                        layer_churn=layer_churn, densities=nonzero_densities(self.layers))
            self.prune_points += 1
        else:
            if self.masks:
                # pruned weights restart from exactly zero: nothing kept their old values
                self.apply_masks()
                self.previous_mask = self.masks
                self.clear_masks()
            self.phase_id, self._phase_kind = phase.phase_id, phase.kind
            self._event("phase", **common, densities=nonzero_densities(self.layers))

    # -- what the method did --------------------------------------------------------------
    def phase(self) -> str | None:
        """``dense`` or ``compressed``: the phase entered last (None before the first)."""
        return self._phase_kind

    def current_phase(self) -> AcdcPhase | None:
        """The phase entered last (``None`` before the first ``on_epoch_start``)."""
        return None if self.phase_id is None else self.schedule.phases()[self.phase_id]

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity,
                "schedule": self.schedule.to_dict(), "pruning": "global magnitude",
                "pruned_layers": list(self.pruned), "exclude": list(self.exclude),
                "keep_first_dense": self.keep_first_dense,
                "keep_last_dense": self.keep_last_dense,
                "kept_weights": self.keep, "total_weights": self.total_weights,
                "momentum_reset": "every phase change"}

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        previous = self.previous_mask
        return {**super().state_dict(), "sparsity": self.sparsity,
                "schedule": self.schedule.to_dict(), "pruned_layers": list(self.pruned),
                "phase_id": self.phase_id, "phase": self._phase_kind,
                "prune_points": self.prune_points,
                "previous_mask": None if previous is None else {n: m.clone()
                                                                for n, m in previous.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if AcdcSchedule.from_dict(state["schedule"]) != self.schedule:
            raise ConfigError("checkpoint's AC/DC schedule differs from this run's; resume with "
                              "the same --epochs and phase options")
        if float(state["sparsity"]) != self.sparsity:
            raise ConfigError(f"checkpoint's AC/DC sparsity {state['sparsity']} differs from "
                              f"{self.sparsity}; resume with the same --sparsity")
        if list(state["pruned_layers"]) != list(self.pruned):
            raise ConfigError("checkpoint's AC/DC pruned layers differ from this run's; resume "
                              "with the same model and layer options")
        super().load_state_dict(state)
        self.previous_mask = load_layer_tensors(state["previous_mask"], self.pruned,
                                                "AC/DC mask")
        self.phase_id = None if state["phase_id"] is None else int(state["phase_id"])
        self._phase_kind = state["phase"]
        self.prune_points = int(state["prune_points"])


def apply(model: nn.Module, sparsity: float, schedule: AcdcSchedule | int,
          **options: Any) -> AcdcSparsifier:
    """AC/DC on ``model`` (``options`` as for :class:`AcdcSparsifier`)."""
    return AcdcSparsifier(model, sparsity, schedule, **options)


def build(ctx: Any) -> AcdcSparsifier:
    """Registry builder: the schedule of the ``acdc_*`` parameters over the run's epochs."""
    return AcdcSparsifier(ctx.model, ctx.config.sparsity,
                          schedule_from_params(ctx.params, ctx.config.epochs))
