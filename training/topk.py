"""Top-K sparsification by threshold (SWAT section 3.3 and appendix A).

``f_TOPK(x, t)`` keeps the elements with ``|x| > t`` and zeroes the rest; ``t`` is the
k-th largest magnitude, found by selection (``torch.kthvalue``, O(N) average) rather
than a full sort.  The *group* a threshold is computed over is the variant:

===========  ==========================================  ==================================
variant      weights ``[out, in, kh, kw]``               activations ``[n, c, h, w]``
===========  ==========================================  ==================================
``nchw``     whole tensor (TopK-NCHW)                     whole mini-batch
``chw``      per filter (one output channel)              per sample (TopK-CHW)
``hw``       per kernel ``(out, in)`` (TopK-HW)            per (sample, channel)
``kernel``   per filter, whole kernels ranked by L1 norm  (weights only)
``filter``   whole filters ranked by L1 norm              (weights only)
===========  ==========================================  ==================================

For ``kernel`` and ``filter`` (SWAT 3.3.1, channel selection) the score of a group of
weights is its L1 norm and ``f_TOPK`` keeps the group when ``sum |w| > t``.  Linear
layers (``[out, in]`` weights, ``[n, features]`` activations) have no spatial extent:
``hw`` and ``kernel`` fall back to per-element selection per row (same as ``chw``).

Ties at the threshold are dropped (``|x| > t``), so a tensor with fewer than ``k``
non-zeros keeps exactly its non-zeros: ReLU zeros never count as selected.
"""

from __future__ import annotations

import torch

from accelsim.errors import ConfigError
from training.catalog import ACTIVATION_VARIANTS, WEIGHT_VARIANTS


def check_variant(variant: str, operand: str) -> str:
    """Validate a Top-K variant name for ``operand`` ("weight" or "activation")."""
    allowed = WEIGHT_VARIANTS if operand == "weight" else ACTIVATION_VARIANTS
    if variant not in allowed:
        raise ConfigError(f"unknown {operand} Top-K variant {variant!r}; choose one of "
                          f"{', '.join(allowed)}")
    return variant


def scores(x: torch.Tensor, variant: str) -> torch.Tensor:
    """The magnitudes Top-K ranks, as a 2-D ``[groups, members]`` tensor.

    For the elementwise variants a row is one threshold group and its members are the
    elements; for ``kernel``/``filter`` the members are L1 norms of kernels/filters.
    """
    a = x.detach().abs()
    if a.dim() < 2:
        raise ConfigError(f"Top-K needs a tensor with a batch/filter dimension, got shape "
                          f"{list(x.shape)}")
    spatial = a.dim() == 4
    if variant == "nchw":
        return a.reshape(1, -1)
    if variant == "chw" or (not spatial and variant in ("hw", "kernel")):
        return a.reshape(a.shape[0], -1)
    if variant == "hw":
        return a.reshape(a.shape[0] * a.shape[1], -1)
    if variant == "kernel":
        return a.sum(dim=(2, 3))                       # [out, in]: kernels of each filter
    if variant == "filter":
        return a.reshape(a.shape[0], -1).sum(dim=1).reshape(1, -1)   # [1, out]
    raise ConfigError(f"unknown Top-K variant {variant!r}")


def threshold(x: torch.Tensor, density: float, variant: str = "nchw",
              precomputed: torch.Tensor | None = None) -> torch.Tensor:
    """Per-group threshold ``t`` such that ``|x| > t`` keeps ``round(density * members)``
    members of each group (fewer when there are ties or zeros at the threshold).

    Returns a ``[groups, 1]`` tensor (``-1`` where the whole group is kept).
    ``t`` = the ``(m - k)``-th smallest score of the group, with ``m`` members and
    ``k = round(density * m)`` kept.  ``precomputed`` may pass :func:`scores` of ``x`` when the
    caller already has them (one pass over the tensor instead of two).
    """
    if not 0.0 <= density <= 1.0:
        raise ConfigError(f"Top-K density {density} must be in [0, 1]")
    s = scores(x, variant) if precomputed is None else precomputed
    members = s.shape[1]
    keep = int(round(density * members))
    drop = members - keep
    if drop <= 0:
        return torch.full((s.shape[0], 1), -1.0, dtype=s.dtype, device=s.device)
    if keep <= 0:
        return torch.full((s.shape[0], 1), float("inf"), dtype=s.dtype, device=s.device)
    return torch.kthvalue(s, drop, dim=1, keepdim=True).values


def mask_from_threshold(x: torch.Tensor, t: torch.Tensor, variant: str = "nchw",
                        precomputed: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of ``x`` for ``f_TOPK(x, t)``: ``score > t`` per group, broadcast back
    to the elements of ``x``.  ``t`` is what :func:`threshold` returned (or a reused one
    from an earlier iteration, for periodic Top-K)."""
    s = scores(x, variant) if precomputed is None else precomputed
    if t.shape[0] != s.shape[0] and t.shape[0] != 1:
        if variant == "hw" and x.dim() == 4 and t.shape[0] == x.shape[1]:
            t = t.repeat(x.shape[0], 1)                # per-channel thresholds, every sample
        else:
            raise ConfigError(f"Top-K threshold has {t.shape[0]} groups but the tensor of "
                              f"shape {list(x.shape)} has {s.shape[0]} ({variant})")
    keep = s > t
    if variant in ("kernel", "filter") and x.dim() == 4:
        if variant == "kernel":
            return keep[:, :, None, None].expand_as(x)
        return keep.reshape(-1)[:, None, None, None].expand_as(x)
    if variant == "filter":                            # linear: whole output rows
        return keep.reshape(-1)[:, None].expand_as(x)
    return keep.reshape(x.shape)


def reusable_threshold(t: torch.Tensor, x: torch.Tensor, variant: str,
                       operand: str) -> torch.Tensor:
    """The form of a threshold kept for periodic Top-K (SWAT A.6).

    Weights keep their groups (the same filters/kernels exist every iteration).  The
    samples of the next mini-batches are different ones, so an activation threshold is
    averaged over the samples: ``chw`` -> one scalar, ``hw`` -> one per channel.
    """
    if operand == "weight" or variant == "nchw":
        return t.clone()
    if variant == "hw" and x.dim() == 4:
        return t.reshape(x.shape[0], x.shape[1]).mean(dim=0).reshape(-1, 1)
    return t.mean(dim=0, keepdim=True)


def topk_mask(x: torch.Tensor, density: float, variant: str = "nchw") -> torch.Tensor:
    """Boolean Top-K mask of ``x`` at ``density`` (a fresh threshold)."""
    return mask_from_threshold(x, threshold(x, density, variant), variant)
