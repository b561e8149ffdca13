"""What each sparse-training method does to the operands of the three passes, as far as
it can be known without training (for FLOP accounting and synthetic traces).

=========  ==============  ==================  ========================================
method     weights         first layer         activation saved for backward-weight
=========  ==============  ==================  ========================================
dense      dense           dense               as produced (natural ReLU zeros)
swat-u     uniform Top-K   dense               Top-K at the layer's weight density
swat-erk   ERK Top-K       ERK (not forced)    Top-K at the layer's weight density
acdc       uniform*        sparse              as produced
=========  ==============  ==================  ========================================

Forward and backward-input use the weights as pruned; output gradients stay dense.
(*) AC/DC prunes by global magnitude, whose per-layer split is only known from a run;
the spec approximates it as uniform over all layers and describes a compressed phase.
SWAT-M's per-layer split comes from momentum during training: use a trace for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import ConfigError


@dataclass(frozen=True)
class MethodProfile:
    """How a method sparsifies operands.  ``distribution`` is ``None`` for dense."""

    name: str
    description: str
    distribution: str | None
    first_layer_dense: bool
    topk_saved_activation: bool


METHOD_PROFILES: dict[str, MethodProfile] = {
    "dense": MethodProfile("dense", "dense baseline", None, True, False),
    "swat-u": MethodProfile("swat-u", "SWAT, uniform sparsity, first layer dense", "uniform",
                            True, True),
    "swat-erk": MethodProfile("swat-erk", "SWAT, Erdos-Renyi-Kernel sparsity", "erk", False, True),
    "acdc": MethodProfile("acdc", "AC/DC compressed phase (global magnitude, taken as uniform)",
                          "uniform", False, False),
}
TRACE_ONLY_METHODS = {"swat-m": "SWAT-M's per-layer sparsity is set by momentum during "
                                "training; record a trace and pass it instead"}


def method_profile(name: str) -> MethodProfile:
    if name in TRACE_ONLY_METHODS:
        raise ConfigError(f"method {name!r}: {TRACE_ONLY_METHODS[name]}")
    if name not in METHOD_PROFILES:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHOD_PROFILES)}")
    return METHOD_PROFILES[name]
