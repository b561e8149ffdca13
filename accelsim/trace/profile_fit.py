"""Fit a value profile (:mod:`accelsim.trace.profile`) from the traces of a training run.

:func:`fit_profile` reads every trace of a run directory (or one trace: a file, or
``step=``), layer by layer, and pools per layer and role: densities and sign shares over
all traces; the ``log2`` histograms over all traces (at most :data:`MAX_VALUES` non-zeros
per tensor, a seeded subsample); the per-channel densities into quantiles; the ``log2``
maximum as a median; the zero clustering fitted on the last :data:`CLUSTER_TRACES` traces
(for each, the ``sigma`` of :func:`accelsim.trace.profiled.clustered_mask` whose share of
equal neighbours matches the trace's, interpolated on :data:`CLUSTER_GRID`) as a median.
Every trace must hold the three passes (the roles come from forward and backward-weight).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import ProfileError
from accelsim.trace.profile import (
    QUANTILES,
    ROLE_SOURCES,
    ROLES,
    Histogram,
    LayerProfile,
    Profile,
    RoleStats,
)
from accelsim.trace.profiled import clustered_mask, neighbour_agreement
from accelsim.trace.reader import open_trace
from accelsim.trace.rundir import find_trace, list_traces

__all__ = ["fit_clustering", "fit_profile", "role_samples", "trace_paths"]

MAX_VALUES = 200_000
CLUSTER_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
CLUSTER_TRACES = 4


@dataclass
class _Pool:
    """What one (layer, role) accumulates over the traces."""

    nonzero: int = 0
    size: int = 0
    positive: int = 0
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    densities: dict[str, list[np.ndarray]] = field(default_factory=dict)
    log2_max: list[float] = field(default_factory=list)
    clustering: list[float] = field(default_factory=list)


def _group_medians(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` per group id in ``range(n)`` (nan for an empty group)."""
    order = np.lexsort((values, groups))
    v = values[order]
    counts = np.bincount(groups, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    med = np.full(n, np.nan)
    has = counts > 0
    lo, hi = starts + (counts - 1) // 2, starts + counts // 2
    med[has] = 0.5 * (v[lo[has]] + v[hi[has]])
    return med


def role_samples(x: np.ndarray, channel_axis: int) -> dict[str, np.ndarray]:
    """The ``log2`` parts of one tensor's non-zeros (``magnitude`` relative to the maximum,
    ``channel_offset``, ``position_offset`` (activations and gradients), ``residual``) and its
    per-channel densities (``channel_density``; for weights also ``in_channel_density`` and
    the per-tap ``taps`` of a conv kernel)."""
    nz = x != 0
    idx = np.nonzero(nz)
    other = tuple(i for i in range(x.ndim) if i != channel_axis)
    out = {"channel_density": nz.mean(axis=other)}
    if channel_axis == 0:
        out["in_channel_density"] = nz.mean(axis=tuple(i for i in range(x.ndim) if i != 1))
        if x.ndim == 4:
            out["taps"] = nz.mean(axis=(0, 1))
    if idx[0].size == 0:
        return out
    v = np.log2(np.abs(x[idx]).astype(np.float64))
    chan = idx[channel_axis]
    chan_med = _group_medians(chan, v, x.shape[channel_axis])
    out["magnitude"] = v - v.max()
    out["channel_offset"] = chan_med[~np.isnan(chan_med)] - np.median(v)
    rest = v - chan_med[chan]
    if channel_axis == 1:
        pos = np.ravel_multi_index((idx[0],) + idx[2:], (x.shape[0],) + x.shape[2:])
        pos_med = _group_medians(pos, rest, int(pos.max()) + 1)
        out["position_offset"] = pos_med[~np.isnan(pos_med)]
        rest = rest - pos_med[pos]
    out["residual"] = rest
    return out


def fit_clustering(mask: np.ndarray, seed: int = 0) -> float:
    """The ``sigma`` (pixels) whose clustered masks, with this mask's per-channel counts,
    have its share of equal neighbours (0 for masks without two spatial axes)."""
    target = neighbour_agreement(mask)
    if mask.ndim != 4 or np.isnan(target) or mask.all() or not mask.any():
        return 0.0
    counts = mask.sum(axis=(0, 2, 3))
    agree = [neighbour_agreement(clustered_mask(mask.shape, counts, 1, s,
                                                np.random.default_rng(seed)))
             for s in CLUSTER_GRID]
    if target <= agree[0]:
        return 0.0
    for i in range(1, len(agree)):
        if target <= agree[i]:
            lo, hi = agree[i - 1], agree[i]
            t = (target - lo) / (hi - lo) if hi > lo else 0.0
            return round(CLUSTER_GRID[i - 1] + t * (CLUSTER_GRID[i] - CLUSTER_GRID[i - 1]), 3)
    return CLUSTER_GRID[-1]


def trace_paths(path: str | os.PathLike[str], step: int | None = None) -> list[Path]:
    """The traces a profile is fitted from: one file, a run directory's ``step``, or every
    trace of the run directory."""
    p = Path(path)
    if step is not None or not p.is_dir():
        return [find_trace(p, step)]
    found = [f for _, f in list_traces(p)]
    return found or [find_trace(p)]


def _add(pool: _Pool, x: np.ndarray, channel_axis: int, rng: np.random.Generator,
         cluster: bool) -> None:
    samples = role_samples(x, channel_axis)
    for name in ("channel_density", "in_channel_density", "taps"):
        if name in samples:
            pool.densities.setdefault(name, []).append(samples.pop(name))
    nz = np.count_nonzero(x)
    pool.nonzero += nz
    pool.size += x.size
    pool.positive += int((x > 0).sum())
    if nz:
        pool.log2_max.append(float(np.log2(np.abs(x).max())))
    for name, values in samples.items():
        if values.size > MAX_VALUES:
            values = rng.choice(values, MAX_VALUES, replace=False)
        pool.parts.setdefault(name, []).append(values)
    if cluster and channel_axis == 1:
        pool.clustering.append(fit_clustering(x != 0))


def _quantiles(values: list[np.ndarray]) -> tuple[float, ...]:
    q = np.quantile(np.concatenate(values), np.linspace(0, 1, QUANTILES))
    return tuple(round(float(v), 7) for v in np.maximum.accumulate(q))


def _taps(values: list[np.ndarray]) -> tuple[tuple[int, int], tuple[float, ...]] | None:
    if not values or len({v.shape for v in values}) != 1:
        return None
    mean = np.mean(values, axis=0)
    rel = mean / mean.mean() if mean.mean() > 0 else np.ones_like(mean)
    return (int(mean.shape[0]), int(mean.shape[1])), tuple(round(float(v), 6) for v in rel.ravel())


def _stats(pool: _Pool) -> RoleStats:
    hist = {n: Histogram.of(np.concatenate(v)) for n, v in pool.parts.items()}
    dens = pool.densities
    return RoleStats(
        density=round(pool.nonzero / pool.size, 7),
        positive=round(pool.positive / pool.nonzero, 7) if pool.nonzero else 0.0,
        log2_max=round(float(np.median(pool.log2_max)), 4) if pool.log2_max else 0.0,
        magnitude=hist.get("magnitude"), channel_offset=hist.get("channel_offset"),
        position_offset=hist.get("position_offset"), residual=hist.get("residual"),
        channel_density=_quantiles(dens["channel_density"]),
        clustering=float(np.median(pool.clustering)) if pool.clustering else 0.0,
        in_channel_density=_quantiles(dens["in_channel_density"])
        if "in_channel_density" in dens else None,
        taps=_taps(dens.get("taps", [])))


def _read_trace(path: Path, pools: dict[tuple[str, str], _Pool], layers: dict[str, Any],
                rng: np.random.Generator, cluster: bool) -> dict[str, Any]:
    with open_trace(path) as t:
        first = next(iter(layers), None)
        if first is not None and set(t.layer_names) != set(layers):
            raise ProfileError(f"profile: trace {path} has other layers than the first trace "
                               f"(model {t.metadata.model}); fit on the traces of one run")
        for layer in t.iter_layers():
            layers.setdefault(layer.name, layer.geometry)
            for role, (pass_name, operand) in ROLE_SOURCES.items():
                if pass_name not in layer.passes:
                    raise ProfileError(
                        f"profile: trace {path} layer {layer.name} has no {pass_name} pass; "
                        "fit on training traces that record all three passes")
                x = layer.operand(pass_name, operand)
                _add(pools.setdefault((layer.name, role), _Pool()), x,
                     0 if role == "weight" else 1, rng, cluster)
        return t.metadata.to_dict()


def fit_profile(path: str | os.PathLike[str], step: int | None = None, *,
                seed: int = 0) -> Profile:
    """Fit a profile from a run directory's traces (all of them, or ``step``) or one trace
    file (module docstring); ``seed`` drives the subsampling and the clustering fit."""
    paths = trace_paths(path, step)
    rng = np.random.default_rng(seed)
    pools: dict[tuple[str, str], _Pool] = {}
    layers: dict[str, Any] = {}
    metas = [_read_trace(p, pools, layers, rng, i >= len(paths) - CLUSTER_TRACES)
             for i, p in enumerate(paths)]
    count = len(layers)
    out = []
    for i, (name, g) in enumerate(layers.items()):
        missing = [r for r in ROLES if (name, r) not in pools]
        if missing:
            raise ProfileError(f"profile: layer {name} lacks {', '.join(missing)} in some "
                               "traces; fit on traces of one model")
        roles = {r: _stats(pools[(name, r)]) for r in ROLES}
        out.append(LayerProfile(name, g.kind, round(i / max(count - 1, 1), 6),
                                roles["weight"].density, roles))
    md = metas[-1]
    source = {"path": str(Path(path)), "steps": [m.get("step") for m in metas],
              "samples_per_trace": len(md.get("batch_indices") or ()),
              "method_params": md.get("method_params", {})}
    return Profile(md["model"], md["dataset"], md["method"], source, tuple(out))

