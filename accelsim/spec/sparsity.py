"""Per-layer sparsity distributions (numpy only, shared by training and synthetic traces).

* ``uniform``: every layer at the target sparsity ``s``; with ``first_layer_dense`` the
  first layer stays dense (SWAT-U), so the network-wide sparsity is a little below ``s``.
* ``erk`` (Erdos-Renyi-Kernel, Evci et al. 2020, as used by SWAT-ERK): layer ``l`` gets
  density ``min(1, eps * (out + in/g + kh + kw) / (out * in/g * kh * kw))`` with ``eps``
  chosen so that the network keeps exactly ``(1 - s)`` of all weights; layers that would
  exceed density 1 are made dense and ``eps`` is re-solved over the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from accelsim.errors import ConfigError
from accelsim.spec.geometry import LayerGeometry

DISTRIBUTIONS = ("uniform", "erk")


def check_sparsity(value: float, what: str = "sparsity") -> float:
    """A sparsity must be a finite number in [0, 1)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {value!r} is not a number; give a fraction such as 0.9") from None
    if not 0.0 <= v < 1.0:
        raise ConfigError(f"{what} = {value} must be in [0, 1) (a fraction of zeros, e.g. 0.9)")
    return v


def _erk_scores(layers: Sequence[LayerGeometry]) -> list[float]:
    scores = []
    for g in layers:
        dims = [g.out_channels, g.in_channels // g.groups]
        if g.kind == "conv":
            dims += [g.kernel_h, g.kernel_w]
        total = 1
        for d in dims:
            total *= d
        scores.append(sum(dims) / total)
    return scores


def layer_densities(layers: Sequence[LayerGeometry], sparsity: float, *,
                    distribution: str = "uniform", first_layer_dense: bool = True,
                    overrides: dict[str, float] | None = None) -> tuple[float, ...]:
    """Target weight density (fraction of non-zeros) per layer.

    ``overrides`` maps layer name -> sparsity for that layer (it is then held fixed and,
    for ERK, excluded from the budget solve)."""
    s = check_sparsity(sparsity)
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"unknown sparsity distribution {distribution!r}; use one of "
                          f"{', '.join(DISTRIBUTIONS)}")
    if not layers:
        raise ConfigError("no layers to distribute sparsity over")
    overrides = dict(overrides or {})
    names = {g.name for g in layers}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"sparsity overrides name unknown layers {sorted(unknown)}")
    fixed: dict[int, float] = {}
    for i, g in enumerate(layers):
        if g.name in overrides:
            fixed[i] = 1.0 - check_sparsity(overrides[g.name], f"sparsity of layer {g.name}")
        elif i == 0 and first_layer_dense:
            fixed[i] = 1.0
    if distribution == "uniform":
        return tuple(fixed.get(i, 1.0 - s) for i in range(len(layers)))
    counts = [g.weight_count for g in layers]
    scores = _erk_scores(layers)
    budget = (1.0 - s) * sum(counts) - sum(fixed[i] * counts[i] for i in fixed)
    if budget < 0:
        raise ConfigError(f"ERK cannot reach sparsity {s}: the dense or overridden layers alone "
                          f"keep more than {1 - s:.3g} of all weights; lower the sparsity or "
                          "sparsify the first layer")
    free = [i for i in range(len(layers)) if i not in fixed]
    dense: set[int] = set()
    while True:
        rest = [i for i in free if i not in dense]
        remaining = budget - sum(counts[i] for i in dense)
        if not rest:
            break
        eps = remaining / sum(scores[i] * counts[i] for i in rest)
        over = {i for i in rest if eps * scores[i] > 1.0}
        if not over:
            break
        dense |= over
    out = []
    for i in range(len(layers)):
        if i in fixed:
            out.append(fixed[i])
        elif i in dense:
            out.append(1.0)
        else:
            out.append(max(0.0, min(1.0, eps * scores[i])))
    return tuple(out)
