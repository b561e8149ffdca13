"""The interface every sparse-training method implements (it looks like ``torch.optim``).

A sparsifier is created on a model (any model built from Conv2d/Linear layers), then the
user's loop calls, per iteration::

    sparsifier.before_forward(step)     # thresholds / masks for this iteration
    loss = criterion(model(x), y); loss.backward()
    optimizer.step()
    sparsifier.step()                    # after the optimizer: re-apply masks, schedules

and ``sparsifier.on_epoch_start(epoch)`` at the start of every epoch.  ``state_dict()``
and ``load_state_dict()`` make runs resumable.  Every method writes what happened (prune
points, phase changes, threshold recomputes, mask churn, measured densities) as plain
dicts through :meth:`Sparsifier.pop_events`, so the training loop can log them and the
trace recorder can record at boundaries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from training.layers import prunable_layers


class Sparsifier:
    """Base class: the dense baseline (no masks).  Methods override the hooks.

    Attributes
    ----------
    method: str
        Method name as used by the CLI and in traces (``"dense"``, ``"swat-u"``, ...).
    layers: OrderedDict[str, nn.Module]
        The Conv2d/Linear modules the method acts on, keyed by qualified name.
    """

    method = "dense"

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers: OrderedDict[str, nn.Module] = prunable_layers(model)
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
        """Called after ``optimizer.step()``."""

    def regularization(self) -> torch.Tensor | None:
        """A term added to the loss of every step (e.g. Hoyer), or None."""
        return None

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
        """Boolean mask of the weight each layer's kernels compute with right now."""
        return {name: m.weight.detach() != 0 for name, m in self.layers.items()}

    def target_densities(self) -> dict[str, float]:
        """Target fraction of non-zero weights per layer (1.0 when dense)."""
        return {name: 1.0 for name in self.layers}

    def describe(self) -> dict[str, Any]:
        """Method name and parameters, for run configs and trace metadata."""
        return {"method": self.method}

    # -- persistence ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"method": self.method, "iteration": self.iteration, "epoch": self.epoch,
                "lr_restart_step": self.lr_restart_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from accelsim.errors import ConfigError
        if state.get("method") != self.method:
            raise ConfigError(f"checkpoint was written by method {state.get('method')!r}, "
                              f"not {self.method!r}; resume with the same --method")
        self.iteration = int(state["iteration"])
        self.epoch = int(state["epoch"])
        self.lr_restart_step = state.get("lr_restart_step")

    def remove(self) -> None:
        """Undo anything installed on the model (hooks, forward overrides)."""


# -- helpers of the mask-based methods ---------------------------------------------------------
def apply_weight_masks(layers: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor]) -> None:
    """Zero each layer's weight in place where its boolean mask (``masks[name]``) is False."""
    with torch.no_grad():
        for name, module in layers.items():
            module.weight.masked_fill_(~masks[name], 0.0)


def nonzero_densities(layers: Mapping[str, nn.Module]) -> dict[str, float]:
    """Measured fraction of non-zero weights of each layer."""
    return {name: float((m.weight.detach() != 0).sum()) / m.weight.numel()
            for name, m in layers.items()}


def mask_densities(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of kept (True) entries of each boolean mask."""
    return {name: float(m.sum()) / m.numel() for name, m in masks.items()}


def overlay_masks(current: dict[str, torch.Tensor],
                  masks: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    """``current`` (e.g. :meth:`Sparsifier.weight_masks`) with the layers of ``masks``
    replaced by copies of their masks (``current`` unchanged when ``masks`` is None)."""
    if masks is not None:
        current.update({name: m.clone() for name, m in masks.items()})
    return current


def load_layer_tensors(saved: Mapping[str, torch.Tensor] | None,
                       layers: Mapping[str, nn.Module], what: str,
                       dtype: torch.dtype | None = torch.bool) -> dict[str, torch.Tensor] | None:
    """Per-layer tensors of a checkpoint (masks, scores), one per layer of ``layers``, each
    checked against the layer's weight shape and copied to its device (as ``dtype``; None
    keeps the saved dtype); None stays None.  ``what`` names them in the error, e.g.
    ``"swat-u mask"``."""
    if saved is None:
        return None
    out = {}
    for name, module in layers.items():
        t = saved.get(name)
        if t is None or tuple(t.shape) != tuple(module.weight.shape):
            raise ConfigError(f"checkpoint's {what} of layer {name!r} is missing or of another "
                              "shape; resume with the same model")
        out[name] = t.to(device=module.weight.device, dtype=dtype or t.dtype).clone()
    return out
