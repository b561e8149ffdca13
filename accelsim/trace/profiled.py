"""Operands drawn from a value profile (:mod:`accelsim.trace.profile`), numpy only.

* **Weight masks**: the ``round(density * size)`` positions of largest ``log d_out + log
  d_in + log d_tap + Gumbel noise`` (weighted sampling without replacement), the per-output
  and per-input channel densities drawn from the profile's quantiles, the tap densities the
  profile's when the kernel has its shape.
* **Other masks**: per-channel non-zero counts follow the profile's per-channel density quantiles,
  scaled so that the tensor has exactly ``round(density * size)`` non-zeros (a channel never
  exceeds its size); inside a channel the non-zeros are the top of Gaussian noise smoothed
  over the two spatial axes with the profile's ``clustering`` (pixels), as in the
  uncalibrated generator, a share ``shared`` of whose variance is common to all channels
  (the channels' non-zeros sit at the same pixels, as ReLU and Top-K zeros do), biased per
  pixel by the profile's pixel map when the trace is of the profile's data set (the data's
  layout: a digit's blank border).
* **Values**: the magnitudes of a weight are drawn from the profile's ``log2(|x| /
  max|x|)`` histogram, those of an activation or gradient per sample (a sample offset plus
  draws relative to it), and placed (inside a sample) by rank on a latent score ``channel
  offset + position offset + residual`` (each drawn from its histogram; the channel offset
  is per output filter of a weight and per (sample, channel) plane of an activation or
  gradient, a position is an (n, h, w) pixel): the tensor follows the profile's magnitude
  distributions and their spread between samples, channels and pixels approximately.  Signs are positive with the profile's share;
  the scale is ``2**log2_max``.
* **SWAT's saved activation**: the saved (Top-K) mask is drawn first with the ``saved``
  role's statistics, the forward activation's mask contains it, and the saved positions take
  the largest magnitudes, so the saved tensor is the Top-K of the forward one.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, zoom
from scipy.special import ndtri

from accelsim.trace.profile import QUANTILES, RoleStats
from accelsim.trace.ranked import profiled_values

JUMP = 0.5
"""Neighbouring density quantiles further apart than this are a jump, not a slope."""

__all__ = ["channel_agreement", "channel_counts", "clustered_mask", "neighbour_agreement",
           "pixel_map", "profiled_pair", "profiled_tensor", "profiled_weight",
           "sample_channel_densities"]


def sample_channel_densities(stats: RoleStats, channels: int, rng: np.random.Generator,
                             quantiles: tuple[float, ...] | None = None) -> np.ndarray:
    """``channels`` densities drawn from the profile's per-channel density quantiles (or
    ``quantiles``): linear between neighbouring quantiles, one or the other across a
    :data:`JUMP`."""
    q = np.asarray(stats.channel_density if quantiles is None else quantiles)
    u = rng.random(channels) * (QUANTILES - 1)
    i = np.minimum(u.astype(np.int64), QUANTILES - 2)
    t = u - i
    lo, hi = q[i], q[i + 1]
    # inside a bin: linear, but across a jump (e.g. dead channels next to live ones) the
    # channel takes one end or the other, as the data do
    jump = hi - lo > JUMP
    return np.where(jump, np.where(rng.random(channels) < t, hi, lo), lo + t * (hi - lo))


def profiled_weight(shape: tuple[int, ...], density: float, stats: RoleStats,
                    rng: np.random.Generator) -> np.ndarray:
    """A weight of ``shape`` with exactly ``round(density * size)`` non-zeros (module
    docstring), values from ``stats``."""
    size = int(np.prod(shape))
    k = int(round(density * size))
    expand = (-1,) + (1,) * (len(shape) - 1)
    logp = np.log(np.maximum(sample_channel_densities(stats, shape[0], rng), 1e-6)).reshape(expand)
    if stats.in_channel_density is not None and len(shape) >= 2:
        d_in = sample_channel_densities(stats, shape[1], rng, stats.in_channel_density)
        logp = logp + np.log(np.maximum(d_in, 1e-6)).reshape((1, -1) + (1,) * (len(shape) - 2))
    if stats.spatial is not None and len(shape) == 4 and tuple(shape[2:]) == stats.spatial[0]:
        logp = logp + np.log(np.maximum(np.asarray(stats.spatial[1]), 1e-6)).reshape(shape[2:])
    gumbel = -np.log(-np.log(rng.random(shape) * (1 - 1e-12) + 1e-12))
    score = (logp + gumbel).reshape(-1)
    mask = np.zeros(size, dtype=bool)
    if k >= size:
        mask[:] = True
    elif k > 0:
        mask[np.argpartition(score, size - k)[size - k:]] = True
    return profiled_values(mask.reshape(shape), stats, 0, rng)


def channel_counts(total: int, densities: np.ndarray, capacity: int) -> np.ndarray:
    """Non-zeros per channel: proportional to ``densities``, at most ``capacity`` each,
    summing to ``total`` exactly (``total <= channels * capacity``)."""
    target = np.clip(np.asarray(densities, dtype=np.float64), 0.0, 1.0) * capacity
    if target.sum() <= 0:
        target = np.full(target.size, float(capacity))
    for _ in range(50):
        target = np.minimum(target * (total / target.sum()), capacity)
        if abs(target.sum() - total) < 0.5:
            break
    counts = np.minimum(np.floor(target).astype(np.int64), capacity)
    while counts.sum() != total:
        rest = total - int(counts.sum())
        if rest > 0:
            room = np.flatnonzero(counts < capacity)
            pick = room[np.argsort(counts[room] - target[room], kind="stable")][:rest]
            counts[pick] += 1
        else:
            full = np.flatnonzero(counts > 0)
            pick = full[np.argsort(target[full] - counts[full], kind="stable")][:-rest]
            counts[pick] -= 1
    return counts


def _top(noise: np.ndarray, channel_axis: int, counts: np.ndarray) -> np.ndarray:
    """Per channel, the ``counts[c]`` largest scores (more only on exact ties, which smoothed
    float noise all but never has): the scores at or above the channel's threshold, its
    ``count``-th largest, found by partition one channel at a time."""
    channels = noise.shape[channel_axis]
    thr = np.empty(channels, dtype=noise.dtype)
    for c in range(channels):
        scores = np.take(noise, c, axis=channel_axis).reshape(-1)
        k = min(max(scores.size - int(counts[c]), 0), scores.size - 1)
        thr[c] = np.partition(scores, k)[k]
    along = [1] * noise.ndim
    along[channel_axis] = channels
    return (noise >= thr.reshape(along)) & (np.asarray(counts) > 0).reshape(along)


def _noise(shape: tuple[int, ...], channel_axis: int, sigma: float, shared: float,
           rng: np.random.Generator) -> np.ndarray:
    """float32 noise drawn (and smoothed) one sample (axis 0) at a time: the draws of one
    ``standard_normal(shape)`` without its float64 copy of the whole tensor."""
    noise = np.empty(shape, dtype=np.float32)
    for s in range(shape[0]):
        noise[s] = rng.standard_normal(shape[1:])
    if shared > 0 and len(shape) >= 2 and channel_axis == 1:
        common = rng.standard_normal((shape[0], 1) + tuple(shape[2:])).astype(np.float32)
        for s in range(shape[0]):
            noise[s] *= np.float32(np.sqrt(1 - shared))
            noise[s] += np.float32(np.sqrt(shared)) * common[s]
    if sigma > 0 and len(shape) == 4 and channel_axis == 1:
        for s in range(shape[0]):
            noise[s] = gaussian_filter(noise[s], sigma=(0, sigma, sigma), mode="wrap")
    return noise


def pixel_map(stats: RoleStats, shape: tuple[int, ...]) -> np.ndarray | None:
    """The profile's per-pixel relative density resampled (bilinear) to the H x W of
    ``shape`` (mean 1), or None (no map, or not an N x C x H x W tensor)."""
    if stats.spatial is None or len(shape) != 4:
        return None
    (h, w), values = stats.spatial
    m = np.asarray(values, dtype=np.float64).reshape(h, w)
    if (h, w) != tuple(shape[2:]):
        m = np.maximum(zoom(m, (shape[2] / h, shape[3] / w), order=1, mode="nearest",
                            grid_mode=True), 0.0)
    mean = m.mean()
    return m / mean if mean > 0 else None


def clustered_mask(shape: tuple[int, ...], counts: np.ndarray, channel_axis: int, sigma: float,
                   rng: np.random.Generator, *, shared: float = 0.0,
                   pixels: np.ndarray | None = None,
                   inside: np.ndarray | None = None) -> np.ndarray:
    """A mask with ``counts[c]`` non-zeros in channel ``c``: the top of smoothed noise
    (``sigma`` pixels over the spatial axes of an N x C x H x W tensor) whose share
    ``shared`` of the variance is one field common to all channels (so that channels have
    their non-zeros at the same pixels), biased per pixel so that pixel (h, w) is non-zero
    about ``pixels[h, w]`` times as often as the mean; positions of ``inside`` (a mask) come
    first."""
    noise = _noise(shape, channel_axis, sigma, shared, rng)
    if pixels is not None and channel_axis == 1:
        d = min(max(float(counts.sum()) / noise.size, 1e-4), 1 - 1e-4)
        p = np.clip(d * pixels, 1e-4, 1 - 1e-4)
        noise /= np.float32(max(float(noise.std()), 1e-12))
        noise += (ndtri(1 - d) - ndtri(1 - p)).astype(np.float32)
    if inside is not None:
        noise[inside] = np.inf
    return _top(noise, channel_axis, counts)


def channel_agreement(mask: np.ndarray) -> float:
    """How much channels share their non-zero pixels: the variance over (n, h, ...) of the
    share of non-zero channels, over its value were the channels' masks one and the same
    (``d (1 - d)``); 1/C-ish for independent channels, 1 for identical ones (nan without
    zeros, non-zeros or two channels)."""
    if mask.ndim < 2 or mask.shape[1] < 2:
        return float("nan")
    d = float(mask.mean())
    if d in (0.0, 1.0):
        return float("nan")
    return float(mask.mean(axis=1).var() / (d * (1 - d)))


def neighbour_agreement(mask: np.ndarray) -> float:
    """Share of horizontally and vertically adjacent pixel pairs (same sample and channel)
    whose zero state agrees, of an N x C x H x W mask (nan without such pairs)."""
    same, pairs = 0, 0
    if mask.ndim == 4:
        for axis in (2, 3):
            if mask.shape[axis] > 1:
                a = np.diff(mask.astype(np.int8), axis=axis) == 0
                same, pairs = same + int(a.sum()), pairs + a.size
    return same / pairs if pairs else float("nan")


def profiled_tensor(shape: tuple[int, ...], density: float, stats: RoleStats, channel_axis: int,
                    clustering: float, rng: np.random.Generator, *,
                    layout: bool = False) -> np.ndarray:
    """A tensor of ``shape`` with exactly ``round(density * size)`` non-zeros drawn from
    ``stats`` (channel axis 1 for activations and gradients, 0 for weights); ``layout``: use
    the profile's pixel map (:func:`pixel_map`)."""
    size = int(np.prod(shape))
    channels = shape[channel_axis]
    total = int(round(density * size))
    counts = channel_counts(total, sample_channel_densities(stats, channels, rng),
                            size // channels)
    mask = clustered_mask(shape, counts, channel_axis, clustering, rng, shared=stats.shared,
                          pixels=pixel_map(stats, shape) if layout else None)
    return profiled_values(mask, stats, channel_axis, rng)


def profiled_pair(shape: tuple[int, ...], density: float, saved_density: float,
                  activation: RoleStats, saved: RoleStats, clustering: tuple[float, float],
                  rng: np.random.Generator, *, layout: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """SWAT's forward activation and its saved Top-K (module docstring): ``density`` and
    ``saved_density`` are fractions of the size, ``clustering`` the (activation, saved)
    correlation lengths, ``layout`` as for :func:`profiled_tensor`.  -> (activation, saved)."""
    size = int(np.prod(shape))
    channels = shape[1]
    capacity = size // channels
    n_saved = int(round(min(saved_density, density) * size))
    saved_counts = channel_counts(n_saved, sample_channel_densities(saved, channels, rng),
                                  capacity)
    top = clustered_mask(shape, saved_counts, 1, clustering[1], rng, shared=saved.shared,
                         pixels=pixel_map(saved, shape) if layout else None)
    counts = channel_counts(int(round(density * size)),
                            sample_channel_densities(activation, channels, rng), capacity)
    extra = counts - saved_counts
    if (extra < 0).any():  # a channel must hold its saved non-zeros: take them from others
        short = int(-extra[extra < 0].sum())
        counts = np.maximum(counts, saved_counts)
        spare = np.flatnonzero(counts > saved_counts)
        take = spare[np.argsort(saved_counts[spare] - counts[spare], kind="stable")][:short]
        counts[take] -= 1
    mask = clustered_mask(shape, counts, 1, clustering[0], rng, shared=activation.shared,
                          pixels=pixel_map(activation, shape) if layout else None, inside=top)
    a = profiled_values(mask, activation, 1, rng, top=top)
    return a, np.where(top, a, np.float32(0))
