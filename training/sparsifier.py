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
from typing import Any

import torch
from torch import nn

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
        return {"method": self.method, "iteration": self.iteration, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from accelsim.errors import ConfigError
        if state.get("method") != self.method:
            raise ConfigError(f"checkpoint was written by method {state.get('method')!r}, "
                              f"not {self.method!r}; resume with the same --method")
        self.iteration = int(state["iteration"])
        self.epoch = int(state["epoch"])

    def remove(self) -> None:
        """Undo anything installed on the model (hooks, forward overrides)."""
