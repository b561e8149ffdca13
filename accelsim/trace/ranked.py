"""The values of a profiled tensor, placed by rank, drawn in blocks of samples (numpy only).

:func:`profiled_values` is the value step of :mod:`accelsim.trace.profiled` (its module
docstring says what is drawn).  A tensor of a large batch is drawn a block of samples at a
time, with the same draws for a given generator as one whole-tensor draw would make:

* every long draw (``n`` uniforms) is a *stream* (:func:`fork`): a copy of the generator at
  the draw's start, read block by block, while the generator itself moves on as if the whole
  draw had been made (``advance`` of PCG64, else drawn and dropped);
* the rank placement is per sample (a sample's keys are offset so that samples never mix),
  so a block's sort is the whole tensor's sort restricted to the block -- exactly so when
  the keys of the block are distinct (the sorting permutation is unique); when a block has
  equal keys (SWAT's saved positions all rank first), the permutation of the whole tensor
  is taken, as before, since the order of equal keys is the sort's own;
* the one whole-tensor quantity, the largest magnitude, is taken between a first pass
  (magnitudes, ``8 bytes`` per non-zero) and a second (signs and values).

Memory: the mask, the output and 8 bytes per non-zero (16 while equal keys are sorted),
plus one block's temporaries, instead of about 100 bytes per non-zero.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np

from accelsim.trace.profile import Histogram, RoleStats

__all__ = ["BLOCK_ELEMENTS", "HistogramStream", "fork", "profiled_values", "sample_blocks"]

BLOCK_ELEMENTS = 1 << 22
"""Elements of a tensor drawn at a time (whole samples; at least one sample)."""
_ADVANCES = ("PCG64", "PCG64DXSM")  # bit generators whose ``advance`` counts 64-bit draws


def fork(rng: np.random.Generator, n: int) -> np.random.Generator:
    """A copy of ``rng`` at its state, to read ``n`` uniform doubles from in blocks; ``rng``
    moves on as if it had drawn them (``rng.random(n)``)."""
    out = copy.deepcopy(rng)
    bg = rng.bit_generator
    if type(bg).__name__ in _ADVANCES:
        before = bg.state
        bg.advance(n)
        after = bg.state  # ``advance`` drops a buffered 32-bit half: keep it, as a draw would
        after["has_uint32"], after["uinteger"] = before["has_uint32"], before["uinteger"]
        bg.state = after
    else:
        for start in range(0, n, 1 << 20):
            rng.random(min(1 << 20, n - start))
    return out


class HistogramStream:
    """``hist.sample(rng, n)`` read in consecutive blocks (:meth:`take`): its two uniform
    draws as two streams; :meth:`restart` reads it again from the first draw."""

    def __init__(self, rng: np.random.Generator, hist: Histogram, n: int) -> None:
        self.hist = hist
        self._start = (fork(rng, n), fork(rng, n))
        self.restart()

    def restart(self) -> None:
        self._bins, self._inside = (copy.deepcopy(g) for g in self._start)

    def take(self, k: int) -> np.ndarray:
        """The next ``k`` draws (float64, log2 units)."""
        return self.hist.from_uniform(self._bins.random(k), self._inside.random(k))


def sample_blocks(mask: np.ndarray, by_sample: bool) -> list[tuple[int, int, int, int]]:
    """``(s0, s1, a, b)``: samples ``s0:s1`` (axis 0) of ``mask`` hold its non-zeros ``a:b``
    (C order); one block of about :data:`BLOCK_ELEMENTS` elements, or the whole tensor
    unless ``by_sample``."""
    n0 = mask.shape[0]
    if not by_sample or n0 == 0:
        return [(0, n0, 0, int(np.count_nonzero(mask)))]
    per = max(1, BLOCK_ELEMENTS // max(1, mask[0].size))
    out, a = [], 0
    for s0 in range(0, n0, per):
        s1 = min(n0, s0 + per)
        b = a + int(np.count_nonzero(mask[s0:s1]))
        out.append((s0, s1, a, b))
        a = b
    return out


def _groups(mask: np.ndarray, s0: int, s1: int, by_sample: bool) -> np.ndarray:
    """The rank group of each non-zero of samples ``s0:s1`` (C order): its sample, or 0."""
    block = mask[s0:s1]
    if not by_sample:
        return np.zeros(int(np.count_nonzero(block)), dtype=np.int64)
    per = np.count_nonzero(block.reshape(s1 - s0, -1), axis=1)
    return np.repeat(np.arange(s0, s1, dtype=np.int64), per)


class _Keys:
    """The rank keys ``group * 1e4 + clip(latent)`` of a tensor's non-zeros, block by block
    (latent: channel (plane) offset + residual + position offset, + 1e6 at ``top``)."""

    def __init__(self, mask: np.ndarray, stats: RoleStats, channel_axis: int,
                 rng: np.random.Generator, top: np.ndarray | None, n: int) -> None:
        self.mask, self.channel_axis, self.top = mask, channel_axis, top
        planes = mask.shape[0] * mask.shape[1] if channel_axis == 1 else mask.shape[channel_axis]
        self.planes = stats.channel_offset.sample(rng, planes)
        self.residual = HistogramStream(rng, stats.residual, n)
        self.positions = None
        if stats.position_offset is not None and channel_axis == 1:
            used = np.flatnonzero(mask.any(axis=1).reshape(-1))  # (n, pixel) with a non-zero
            self.positions = stats.position_offset.sample(rng, int(used[-1]) + 1)

    def block(self, idx: tuple[np.ndarray, ...], s0: int, s1: int,
              group: np.ndarray) -> np.ndarray:
        m = self.mask
        if self.channel_axis == 1:
            sample = idx[0] + s0
            latent = self.planes[sample * m.shape[1] + idx[1]]
        else:
            latent = self.planes[idx[self.channel_axis]]
        latent = latent + self.residual.take(idx[0].size)
        if self.positions is not None:
            pos = np.ravel_multi_index((sample,) + idx[2:], (m.shape[0],) + m.shape[2:])
            latent = latent + self.positions[pos]
        if self.top is not None:
            latent = latent + np.where(self.top[s0:s1][idx], 1e6, 0.0)
        return group * 1e4 + np.clip(latent, -999.0, 999.0)


def _whole_order(keys: _Keys, blocks: list[tuple[int, int, int, int]], by_sample: bool,
                 n: int) -> np.ndarray:
    """The key order of the whole tensor (``argsort`` of every key at once)."""
    keys.residual.restart()
    whole = np.empty(n)
    for s0, s1, a, b in blocks:
        idx = np.nonzero(keys.mask[s0:s1])
        whole[a:b] = keys.block(idx, s0, s1, _groups(keys.mask, s0, s1, by_sample))
    return np.argsort(whole)


def _orders(keys: _Keys, blocks: list[tuple[int, int, int, int]], by_sample: bool,
            n: int) -> Iterator[np.ndarray]:
    """Per block, the global indices of its non-zeros in key order: the whole tensor's
    ``argsort`` restricted to the block.  A block of distinct keys sorts alone (its order is
    unique); from the first block with equal keys on, the whole tensor is sorted at once."""
    whole = None
    top = keys.top
    if top is not None and np.count_nonzero(top & keys.mask) > 1:
        whole = _whole_order(keys, blocks, by_sample, n)  # the top positions' keys are equal
    for s0, s1, a, b in blocks:
        if whole is None:
            k = keys.block(np.nonzero(keys.mask[s0:s1]), s0, s1,
                           _groups(keys.mask, s0, s1, by_sample))
            perm = np.argsort(k)
            ordered = k[perm]
            if ordered.size < 2 or not (ordered[1:] == ordered[:-1]).any():
                yield perm + a
                continue
            del k, perm, ordered
            whole = _whole_order(keys, blocks, by_sample, n)
        yield whole[a:b]


def profiled_values(mask: np.ndarray, stats: RoleStats, channel_axis: int,
                    rng: np.random.Generator, *, top: np.ndarray | None = None) -> np.ndarray:
    """float32 values at ``mask``'s non-zeros (:mod:`accelsim.trace.profiled`); the positions
    of ``top`` (a sub-mask) take the largest magnitudes of their sample.  Drawn in blocks of
    samples (module docstring)."""
    out = np.zeros(mask.shape, dtype=np.float32)
    n = int(np.count_nonzero(mask))
    if n == 0:
        return out
    by_sample = channel_axis == 1 and stats.sample_relative is not None
    blocks = sample_blocks(mask, by_sample)
    keys = _Keys(mask, stats, channel_axis, rng, top, n)
    draws = HistogramStream(rng, stats.sample_relative if by_sample else stats.magnitude, n)
    shift = stats.sample_offset.sample(rng, mask.shape[0]) if by_sample else None
    # per sample: its offset plus draws relative to it, placed by rank inside the sample
    mags = None  # allocated after the whole tensor's sort, if any, has freed its keys
    for (s0, s1, a, b), order in zip(blocks, _orders(keys, blocks, by_sample, n), strict=True):
        mags = np.empty(n) if mags is None else mags
        offset = _groups(mask, s0, s1, by_sample) * 1e4
        mags[order] = np.sort(offset + np.clip(draws.take(b - a), -999.0, 999.0)) - offset
        plus = 0.0 if shift is None else shift[_groups(mask, s0, s1, True)]
        mags[a:b] = np.clip(mags[a:b] + plus, -100.0, 100.0)
    top_mag = mags.max()
    for s0, s1, a, b in blocks:
        sign = np.where(rng.random(b - a) < stats.positive, 1.0, -1.0)
        view = out[s0:s1]
        view[np.nonzero(mask[s0:s1])] = \
            (sign * np.exp2(stats.log2_max + (mags[a:b] - top_mag))).astype(np.float32)
    return out
