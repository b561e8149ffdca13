"""Mask helpers shared by every mask-based method, written once.

A mask is a boolean tensor of a layer's weight shape, ``True`` where the weight is kept.
Counts are exact: a selection keeps ``K = rnd((1 - s) N)`` entries, ``rnd(x) = floor(x +
1/2)`` (:func:`keep_count`), chosen by k-th value selection (``torch.kthvalue``, no sort)
with deterministic ties: first in the order of the layers, then row-major
(:func:`top_k_masks`).  Mask churn is ``|m_new XOR m_prev| / N`` (:func:`mask_churn`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.numeric import round_half_up
from accelsim.spec.sparsity import check_sparsity

__all__ = ["apply_weight_masks", "keep_count", "load_layer_tensors", "magnitude_scores",
           "mask_churn", "mask_densities", "nonzero_densities", "overlay_masks",
           "reset_momentum", "reset_optimizer_slots", "top_k_masks"]

_ADAM_MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf")
#: optimizer state slots of a weight's shape (momentum and Adam moments)
_OPTIMIZER_SLOTS = ("momentum_buffer", *_ADAM_MOMENTS)


def keep_count(sparsity: float, total: int) -> int:
    """Weights kept at ``sparsity`` out of ``total``: ``K = floor((1 - s) N + 1/2)``."""
    s = check_sparsity(sparsity, "sparsity")
    return round_half_up((1.0 - s) * total)


def magnitude_scores(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``|w|`` per weight; NaN/inf weights raise (the run diverged)."""
    bad = [n for n, w in weights.items() if not bool(torch.isfinite(w.detach()).all())]
    if bad:
        raise ConfigError(f"layer(s) {', '.join(bad)} have NaN/inf weights at a prune point: "
                          "training diverged; lower the learning rate")
    return {n: w.detach().abs() for n, w in weights.items()}


def top_k_masks(scores: Mapping[str, torch.Tensor], keep: int,
                eligible: Mapping[str, torch.Tensor] | None = None
                ) -> tuple[dict[str, torch.Tensor], float]:
    """Masks keeping exactly the ``keep`` largest (signed) scores over all tensors together.

    Only ``eligible`` entries (boolean masks, default all) compete; the rest are never
    kept.  The threshold ``t`` is the ``keep``-th largest eligible score (``torch.kthvalue``
    in float64); kept are all scores ``> t`` plus the first ``keep - #{> t}`` equal to
    ``t`` in the order of ``scores`` then row-major.  ``-inf`` scores are kept only when
    needed to reach ``keep``; NaN scores raise.  Returns ``(masks, t)``, ``t = inf`` when
    ``keep == 0``.
    """
    if not scores:
        raise ConfigError("no weights to select from")
    first = next(iter(scores.values()))
    device = first.device
    parts = []
    for n, s in scores.items():
        s = s.detach()
        parts.append((s if eligible is None else s[eligible[n]]).flatten()
                     .to(device=device, dtype=torch.float64))
    flat = torch.cat(parts)
    total = flat.numel()
    if not 0 <= keep <= total:
        raise ConfigError(f"cannot keep {keep} of the {total} weights still unpruned")
    if bool(torch.isnan(flat).any()):
        raise ConfigError("pruning scores contain NaN: training diverged; lower the learning "
                          "rate or check the model and data")
    if keep == 0:
        kept = torch.zeros(total, dtype=torch.bool, device=device)
        threshold = math.inf
    else:
        t = torch.kthvalue(flat, total - keep + 1).values
        kept = flat > t
        need = keep - int(kept.sum())
        if need > 0:
            kept[torch.nonzero(flat == t).flatten()[:need]] = True
        threshold = float(t)
    masks: dict[str, torch.Tensor] = {}
    offset = 0
    for (n, s), part in zip(scores.items(), parts, strict=True):
        chunk = kept[offset:offset + part.numel()].to(s.device)
        offset += part.numel()
        if eligible is None:
            masks[n] = chunk.view(s.shape)
        else:
            mask = torch.zeros(s.shape, dtype=torch.bool, device=s.device)
            mask[eligible[n]] = chunk
            masks[n] = mask
    return masks, threshold


def mask_churn(previous: Mapping[str, torch.Tensor] | None,
               current: Mapping[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
    """Fraction of mask bits that changed, ``|m_cur XOR m_prev| / N``, overall and per layer.

    ``previous=None`` means the all-ones mask (dense), so the churn is the pruned fraction.
    """
    changed_total, total = 0, 0
    per_layer: dict[str, float] = {}
    for name, cur in current.items():
        if previous is None:
            changed = int((~cur).sum())
        else:
            if name not in previous or previous[name].shape != cur.shape:
                raise ConfigError(f"previous mask has no layer {name!r} of shape "
                                  f"{tuple(cur.shape)}; the checkpoint is of another model")
            changed = int((cur ^ previous[name].to(cur.device)).sum())
        per_layer[name] = changed / cur.numel() if cur.numel() else 0.0
        changed_total += changed
        total += cur.numel()
    return (changed_total / total if total else 0.0), per_layer


def reset_momentum(optimizer: torch.optim.Optimizer | None) -> int:
    """Clear the momentum of every parameter the optimizer holds; returns how many
    parameter states were reset.

    * ``torch.optim.SGD``: ``momentum_buffer`` is dropped, so the next step starts it from
      the gradient exactly as the first step of training does.
    * Adam family (any state with ``exp_avg``): ``exp_avg``, ``exp_avg_sq``,
      ``max_exp_avg_sq``, ``exp_inf`` zeroed and ``step`` set to 0 (bias correction
      restarts as for a fresh optimizer).
    * any other optimizer with a ``momentum_buffer`` tensor (RMSprop ...): zeroed.
      Second-moment scalers without bias correction (RMSprop's ``square_avg``, Adagrad's
      ``sum``) are left alone: zeroing them would blow up the next steps.
    """
    if optimizer is None:
        return 0
    count = 0
    is_sgd = isinstance(optimizer, torch.optim.SGD)
    for state in optimizer.state.values():
        touched = False
        if "exp_avg" in state:
            for key in _ADAM_MOMENTS:
                if isinstance(state.get(key), torch.Tensor):
                    state[key].zero_()
            if isinstance(state.get("step"), torch.Tensor):
                state["step"].zero_()
            elif "step" in state:
                state["step"] = 0
            touched = True
        if "momentum_buffer" in state:
            if is_sgd:
                del state["momentum_buffer"]
            elif isinstance(state["momentum_buffer"], torch.Tensor):
                state["momentum_buffer"].zero_()
            touched = True
        count += touched
    return count


def reset_optimizer_slots(optimizer: torch.optim.Optimizer | None, weight: torch.Tensor,
                          where: torch.Tensor) -> None:
    """Zero ``weight``'s momentum and Adam moments where the boolean ``where`` is True."""
    if optimizer is None:
        return
    state = optimizer.state.get(weight, {})
    for key in _OPTIMIZER_SLOTS:
        buf = state.get(key)
        if isinstance(buf, torch.Tensor) and buf.shape == weight.shape:
            buf.masked_fill_(where, 0.0)


def apply_weight_masks(layers: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor]) -> None:
    """Zero each masked layer's weight in place where its mask is False."""
    with torch.no_grad():
        for name, mask in masks.items():
            layers[name].weight.masked_fill_(~mask, 0.0)


def nonzero_densities(layers: Mapping[str, nn.Module]) -> dict[str, float]:
    """Measured fraction of non-zero weights of each layer."""
    return {name: float((m.weight.detach() != 0).sum()) / m.weight.numel()
            for name, m in layers.items()}


def mask_densities(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of kept (True) entries of each boolean mask."""
    return {name: float(m.sum()) / m.numel() for name, m in masks.items()}


def overlay_masks(current: dict[str, torch.Tensor],
                  masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``current`` with the layers of ``masks`` replaced by copies of their masks."""
    current.update({name: m.clone() for name, m in masks.items()})
    return current


def load_layer_tensors(saved: Mapping[str, torch.Tensor] | None,
                       layers: Mapping[str, nn.Module], what: str,
                       dtype: torch.dtype | None = torch.bool) -> dict[str, torch.Tensor] | None:
    """Per-layer tensors of a checkpoint (masks, scores) for the layers named in ``saved``,
    each checked against that layer's weight shape and copied to its device (as ``dtype``;
    None keeps the saved dtype); None stays None.  ``what`` names them in the error."""
    if saved is None:
        return None
    out: dict[str, Any] = {}
    for name, t in saved.items():
        module = layers.get(name)
        if module is None or tuple(t.shape) != tuple(module.weight.shape):
            raise ConfigError(f"checkpoint's {what} of layer {name!r} is missing or of another "
                              "shape; resume with the same model")
        out[name] = t.to(device=module.weight.device, dtype=dtype or t.dtype).clone()
    return out
