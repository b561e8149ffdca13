"""Fit a value profile (:mod:`accelsim.trace.profile`) from the traces of a training run.

:func:`fit_profile` reads every trace of a run directory (from ``min_step`` on: the
statistics of a freshly initialised network differ from those of a training one, e.g. the
gradients' upper tail is fatter) or one trace (a file, or ``step=``), layer by layer, and pools per layer and role: densities and sign shares over
all traces; the ``log2`` histograms over all traces (at most :data:`MAX_VALUES` non-zeros
per tensor, a seeded subsample); the per-channel densities into quantiles; the ``log2``
maximum as a median; the zero clustering fitted on the last :data:`CLUSTER_TRACES` traces
(for each, the ``sigma`` of :func:`accelsim.trace.profiled.clustered_mask` whose share of
equal neighbours matches the trace's, interpolated on :data:`CLUSTER_GRID`, then the share
of the noise common to all channels that matches how much the channels share their
non-zero pixels, on :data:`SHARED_GRID`) as a median.
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
from accelsim.trace.profiled import channel_agreement, clustered_mask, neighbour_agreement
from accelsim.trace.reader import open_trace
from accelsim.trace.rundir import find_trace, list_traces

__all__ = ["fit_clustering", "fit_profile", "role_samples", "trace_paths"]

MAX_VALUES = 200_000
SAMPLE_QUANTILE = 0.99
"""A sample's scale is this quantile of its ``log2`` magnitudes (gradients of samples differ
in their upper tail, not in their bulk)."""
CLUSTER_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
CLUSTER_TRACES = 4
SHARED_GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 0.95)
CLUSTER_SAMPLES = 4
"""The clustering is fitted on at most this many samples of a tensor (time)."""


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
    shared: list[float] = field(default_factory=list)


def _group_quantiles(groups: np.ndarray, values: np.ndarray, n: int, q: float) -> np.ndarray:
    """The ``q``-quantile (lower-upper midpoint) of ``values`` per group id in ``range(n)``
    (nan for an empty group)."""
    order = np.lexsort((values, groups))
    v = values[order]
    counts = np.bincount(groups, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full(n, np.nan)
    has = counts > 0
    at = q * (counts - 1)
    lo, hi = starts + np.floor(at).astype(np.int64), starts + np.ceil(at).astype(np.int64)
    out[has] = 0.5 * (v[lo[has]] + v[hi[has]])
    return out


def _group_medians(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` per group id in ``range(n)`` (nan for an empty group)."""
    return _group_quantiles(groups, values, n, 0.5)


def role_samples(x: np.ndarray, channel_axis: int) -> dict[str, np.ndarray]:
    """The ``log2`` parts of one tensor's non-zeros (``magnitude`` relative to the maximum,
    ``sample_offset`` (activations and gradients: each sample's :data:`SAMPLE_QUANTILE`
    quantile minus the tensor's, removed before the rest; ``sample_relative``: the values
    relative to their sample's quantile), ``channel_offset`` (per output
    filter of a weight, per (sample, channel) plane of an activation or gradient),
    ``position_offset`` (activations and gradients), ``residual``) and its
    per-channel densities (``channel_density``; for weights also ``in_channel_density`` and
    the per-tap ``spatial`` map of a conv kernel; for 4-d activations and gradients the
    per-pixel ``spatial`` map)."""
    nz = x != 0
    idx = np.nonzero(nz)
    other = tuple(i for i in range(x.ndim) if i != channel_axis)
    out = {"channel_density": nz.mean(axis=other)}
    if channel_axis == 0:
        out["in_channel_density"] = nz.mean(axis=tuple(i for i in range(x.ndim) if i != 1))
    if x.ndim == 4:
        out["spatial"] = nz.mean(axis=(0, 1))
    if idx[0].size == 0:
        return out
    v = np.log2(np.abs(x[idx]).astype(np.float64))
    out["magnitude"] = v - v.max()
    if channel_axis == 1:  # a (sample, channel) plane of an activation or gradient
        top = _group_quantiles(idx[0], v, x.shape[0], SAMPLE_QUANTILE)
        out["sample_offset"] = top[~np.isnan(top)] - np.quantile(v, SAMPLE_QUANTILE)
        v = v - top[idx[0]]
        out["sample_relative"] = v
        chan, planes = idx[0] * x.shape[1] + idx[1], x.shape[0] * x.shape[1]
    else:
        chan, planes = idx[channel_axis], x.shape[channel_axis]
    chan_med = _group_medians(chan, v, planes)
    out["channel_offset"] = chan_med[~np.isnan(chan_med)] - np.median(v)
    rest = v - chan_med[chan]
    if channel_axis == 1:
        pos = np.ravel_multi_index((idx[0],) + idx[2:], (x.shape[0],) + x.shape[2:])
        pos_med = _group_medians(pos, rest, int(pos.max()) + 1)
        out["position_offset"] = pos_med[~np.isnan(pos_med)]
        rest = rest - pos_med[pos]
    out["residual"] = rest
    return out


def _interpolate(target: float, grid: tuple[float, ...], values: list[float]) -> float:
    """The grid point (linearly interpolated) where ``values`` (rising) reach ``target``."""
    if target <= values[0]:
        return grid[0]
    for i in range(1, len(values)):
        if target <= values[i]:
            lo, hi = values[i - 1], values[i]
            t = (target - lo) / (hi - lo) if hi > lo else 0.0
            return round(grid[i - 1] + t * (grid[i] - grid[i - 1]), 3)
    return grid[-1]


def fit_clustering(mask: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """``(sigma, shared)``: the correlation length (pixels) and the share common to all
    channels of the noise whose masks, with this mask's per-channel counts and pixel map
    (the pixel map explains part of the clustering), have its share of
    equal neighbours and its :func:`channel_agreement` ((0, 0) for a mask without zeros,
    non-zeros or two spatial axes)."""
    mask = mask[:CLUSTER_SAMPLES]
    target = neighbour_agreement(mask)
    if mask.ndim != 4 or np.isnan(target) or mask.all() or not mask.any():
        return 0.0, 0.0
    counts = mask.sum(axis=(0, 2, 3))
    pixels = mask.mean(axis=(0, 1)) / mask.mean()

    def made(sigma: float, shared: float) -> np.ndarray:
        return clustered_mask(mask.shape, counts, 1, sigma, np.random.default_rng(seed),
                              shared=shared, pixels=pixels)

    sigma = _interpolate(target, CLUSTER_GRID,
                         [neighbour_agreement(made(s, 0.0)) for s in CLUSTER_GRID])
    target = channel_agreement(mask)
    if np.isnan(target):
        return sigma, 0.0
    return sigma, _interpolate(target, SHARED_GRID,
                               [channel_agreement(made(sigma, r)) for r in SHARED_GRID])


def trace_paths(path: str | os.PathLike[str], step: int | None = None,
                min_step: int = 0) -> list[Path]:
    """The traces a profile is fitted from: one file, a run directory's ``step``, or every
    trace of the run directory at step ``min_step`` or later."""
    p = Path(path)
    if step is not None or not p.is_dir():
        return [find_trace(p, step)]
    listed = list_traces(p)
    found = [f for s, f in listed if s >= min_step]
    if listed and not found:
        raise ProfileError(f"profile: run directory {p} has no trace at step >= {min_step} "
                           f"(its last is step {listed[-1][0]}); lower --min-step")
    return found or [find_trace(p)]


def _add(pool: _Pool, x: np.ndarray, channel_axis: int, rng: np.random.Generator,
         cluster: bool) -> None:
    samples = role_samples(x, channel_axis)
    for name in ("channel_density", "in_channel_density", "spatial"):
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
        sigma, shared = fit_clustering(x != 0)
        pool.clustering.append(sigma)
        pool.shared.append(shared)


def _quantiles(values: list[np.ndarray]) -> tuple[float, ...]:
    q = np.quantile(np.concatenate(values), np.linspace(0, 1, QUANTILES))
    return tuple(round(float(v), 7) for v in np.maximum.accumulate(q))


def _spatial(values: list[np.ndarray]) -> tuple[tuple[int, int], tuple[float, ...]] | None:
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
        magnitude=hist.get("magnitude"), sample_offset=hist.get("sample_offset"),
        sample_relative=hist.get("sample_relative"),
        channel_offset=hist.get("channel_offset"),
        position_offset=hist.get("position_offset"), residual=hist.get("residual"),
        channel_density=_quantiles(dens["channel_density"]),
        clustering=float(np.median(pool.clustering)) if pool.clustering else 0.0,
        shared=float(np.median(pool.shared)) if pool.shared else 0.0,
        in_channel_density=_quantiles(dens["in_channel_density"])
        if "in_channel_density" in dens else None,
        spatial=_spatial(dens.get("spatial", [])))


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
                min_step: int = 0, seed: int = 0) -> Profile:
    """Fit a profile from a run directory's traces (those at ``min_step`` or later, or the
    one of ``step``) or one trace file (module docstring); ``seed`` drives the subsampling
    and the clustering fit."""
    paths = trace_paths(path, step, min_step)
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

