"""The interface every sparse-training method implements (it looks like ``torch.optim``).

A sparsifier is created on a model (any model built from Conv2d/Linear layers), then the
user's loop calls, per iteration::

    sparsifier.before_forward(step)     # thresholds / masks for this iteration
    loss = criterion(model(x), y); loss.backward()
    optimizer.step()
    sparsifier.step()                    # after the optimizer: re-apply masks, schedules

and ``sparsifier.on_epoch_start(epoch)`` at the start of every epoch.  ``state_dict()``
and ``load_state_dict()`` make runs resumable.

Like torch.ao.pruning's ``BaseSparsifier`` and jaxpruner, the base class **owns the
masks**: :attr:`Sparsifier.masks` maps a layer name to its boolean mask; the base applies
them in place after every optimizer step (:meth:`step`), reports them
(:meth:`weight_masks`, :meth:`target_densities`) and saves them in :meth:`state_dict`.  A
method supplies its **scores** (:meth:`scores`, magnitude ``|w|`` by default) and its
schedule (a frozen dataclass of the method's module) and calls :meth:`select` /
:meth:`set_masks`; the exact-count selection, mask churn and momentum reset are written
once in :mod:`training.masks`.  Methods that do not mask weights (SWAT recomputes Top-K
masks in every forward) expose what they do through the same reporting methods.

Every method writes what happened (prune points, phase changes, threshold recomputes, mask
churn, measured densities) as plain dicts through :meth:`Sparsifier.pop_events`, so the
training loop can log them and the trace recorder can record at boundaries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from training.layers import prunable_layers
from training.masks import (
    apply_weight_masks,
    load_layer_tensors,
    magnitude_scores,
    mask_densities,
    overlay_masks,
    top_k_masks,
)


class Sparsifier:
    """Base class, and the dense baseline (no masks).  Methods override the hooks.

    Attributes
    ----------
    method: str
        Method name as used by the CLI and in traces (``"dense"``, ``"swat-u"``, ...).
    layers: OrderedDict[str, nn.Module]
        The Conv2d/Linear modules the method acts on, keyed by qualified name.
    masks: dict[str, torch.Tensor]
        The masks the base applies after every optimizer step (layer name -> boolean mask
        of the weight's shape); empty when no weight is masked.
    """

    method = "dense"

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers: OrderedDict[str, nn.Module] = prunable_layers(model)
        self.masks: dict[str, torch.Tensor] = {}
        self.optimizer: torch.optim.Optimizer | None = None
        self.iteration = 0
        self.epoch = 0
        self._events: list[dict[str, Any]] = []
        self._boundary = False
        #: step from which the training loop restarts its LR schedule (learning-rate
        #: rewinding); None: no restart
        self.lr_restart_step: int | None = None

    # -- hooks of the training loop ---------------------------------------------------
    def attach_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Give the method the optimizer (for momentum resets and momentum scores)."""
        self.optimizer = optimizer

    def on_epoch_start(self, epoch: int) -> None:
        """Called before the first iteration of ``epoch`` (0-based)."""
        self.epoch = epoch

    def before_forward(self, iteration: int) -> None:
        """Called before the forward pass of ``iteration`` (0-based, global)."""
        self.iteration = iteration

    def step(self) -> None:
        """Called after ``optimizer.step()``: re-apply the masks."""
        self.apply_masks()

    def regularization(self) -> torch.Tensor | None:
        """A term added to the loss of every step (e.g. Hoyer), or None."""
        return None

    # -- masks ------------------------------------------------------------------------
    def apply_masks(self) -> None:
        """Zero every masked weight in place (``w <- w * m``)."""
        apply_weight_masks(self.layers, self.masks)

    def set_masks(self, masks: Mapping[str, torch.Tensor]) -> None:
        """Replace the masks by ``masks`` and apply them."""
        self.masks = dict(masks)
        self.apply_masks()

    def clear_masks(self) -> None:
        """Stop masking (the weights keep their current values)."""
        self.masks = {}

    def scores(self) -> dict[str, torch.Tensor]:
        """Importance of every weight of the scored layers; the largest are kept.
        The default is the magnitude ``|w|`` of every layer (methods override)."""
        return magnitude_scores({n: m.weight for n, m in self.layers.items()})

    def select(self, keep: int | Mapping[str, int],
               scores: Mapping[str, torch.Tensor] | None = None,
               eligible: Mapping[str, torch.Tensor] | None = None
               ) -> tuple[dict[str, torch.Tensor], float]:
        """Masks keeping exactly the ``keep`` largest ``scores`` (default :meth:`scores`):
        one global count (int) or one count per layer (mapping).  Only ``eligible``
        entries compete.  Returns ``(masks, threshold)`` (the global threshold; NaN for
        per-layer counts)."""
        scores = self.scores() if scores is None else scores
        if isinstance(keep, int):
            return top_k_masks(scores, keep, eligible)
        out: dict[str, torch.Tensor] = {}
        for n, s in scores.items():
            out.update(top_k_masks({n: s}, keep[n],
                                   None if eligible is None else {n: eligible[n]})[0])
        return out, float("nan")

    # -- what the method did ----------------------------------------------------------
    def _event(self, kind: str, boundary: bool = True, **fields: Any) -> None:
        """Log an event; ``boundary`` also makes the next recorder check record a trace."""
        self._events.append({"event": kind, "epoch": self.epoch,
                             "iteration": self.iteration, **fields})
        self._boundary = self._boundary or boundary

    def pop_events(self) -> list[dict[str, Any]]:
        """Events since the last call (and clears them)."""
        events, self._events = self._events, []
        return events

    def at_boundary(self) -> bool:
        """True once after a phase change or threshold recompute (for trace recording)."""
        boundary, self._boundary = self._boundary, False
        return boundary

    def weight_masks(self) -> dict[str, torch.Tensor]:
        """Boolean mask of the weight each layer's kernels compute with right now: the
        owned mask of a masked layer, ``weight != 0`` elsewhere."""
        return overlay_masks({name: m.weight.detach() != 0 for name, m in self.layers.items()},
                             self.masks)

    def target_densities(self) -> dict[str, float]:
        """Target fraction of non-zero weights per layer: the kept fraction of each mask,
        1.0 for layers without one."""
        out = {name: 1.0 for name in self.layers}
        out.update(mask_densities(self.masks))
        return out

    def measured_densities(self) -> dict[str, dict[str, float]] | None:
        """Densities the method measured itself since the last call, per layer
        (``weight``, ``saved_activation``, ``target``), or None when it measures none."""
        return None

    def phase(self) -> str | None:
        """Name of the current phase of a phased schedule (e.g. AC/DC's ``dense`` /
        ``compressed``), None for methods without phases."""
        return None

    def describe(self) -> dict[str, Any]:
        """Method name and parameters, for run configs and trace metadata."""
        return {"method": self.method}

    # -- persistence ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Iteration, epoch, LR restart and the masks (copies)."""
        return {"method": self.method, "iteration": self.iteration, "epoch": self.epoch,
                "lr_restart_step": self.lr_restart_step,
                "masks": {n: m.clone() for n, m in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (same method, same model) and re-apply the masks."""
        if state.get("method") != self.method:
            raise ConfigError(f"checkpoint was written by method {state.get('method')!r}, "
                              f"not {self.method!r}; resume with the same --method")
        self.iteration = int(state["iteration"])
        self.epoch = int(state["epoch"])
        self.lr_restart_step = state.get("lr_restart_step")
        self.masks = load_layer_tensors(state.get("masks", {}), self.layers,
                                        f"{self.method} mask") or {}
        self.apply_masks()

    def remove(self) -> None:
        """Undo anything installed on the model (hooks, forward overrides)."""


def build_dense(ctx: Any) -> Sparsifier:
    """Registry builder of the dense baseline."""
    return Sparsifier(ctx.model)


class ParamsCheckpoint:
    """Mixin for a :class:`Sparsifier` with a ``sparsity`` and ``_params()`` (the method's own
    parameters, a dict): its checkpoint carries both, and a resume with other values is
    refused (one line, naming the fix).  A class that mixes it in without a ``_params`` is
    refused when it is defined (``TypeError``)."""

    method: str
    sparsity: float
    _params: Callable[[], dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "_params", None)):
            raise TypeError(f"{cls.__name__} mixes in ParamsCheckpoint but does not define "
                            "_params()")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "sparsity": self.sparsity,  # type: ignore[misc]
                "params": self._params()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if float(state["sparsity"]) != self.sparsity or state["params"] != self._params():
            raise ConfigError(f"checkpoint's {self.method} sparsity/parameters differ from this "
                              "run's; resume with the same --sparsity and --param values")
        super().load_state_dict(state)  # type: ignore[misc]
