"""The dataset classes of training data (:mod:`training.data` builds them): in-memory
images with seeded per-epoch augmentation, and the train/test bundle.

Determinism: augmentation parameters are drawn from generators seeded by ``(seed, epoch)``
(:func:`derive_seed`, never the global RNG) and indexed by sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from accelsim.errors import ConfigError, WorkloadError

__all__ = ["CIFAR_STATS", "STREAM_AUGMENT", "STREAM_ORDER", "STREAM_SYNTHETIC", "Augmentation",
           "DatasetBundle", "EpochView", "ImageDataset",
           "check_int", "derive_seed", "generator"]


#: The usual per-channel (mean, std) of the CIFAR train sets, pixels in [0, 1].
CIFAR_STATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

# streams of derive_seed
STREAM_ORDER, STREAM_AUGMENT, STREAM_SYNTHETIC = 0, 1, 2


def derive_seed(seed: int, epoch: int, stream: int) -> int:
    """A 32-bit seed for one random stream of one epoch, from numpy's SeedSequence
    (well-mixed, so neighbouring seeds or epochs give unrelated streams)."""
    return int(np.random.SeedSequence((seed, epoch, stream)).generate_state(1, np.uint32)[0])


def generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(derive_seed(seed, epoch, stream))
    return g


def check_int(name: str, value: Any, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} = {value!r} must be an integer >= {minimum}; {fix}")
    return int(value)


# ----------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Augmentation:
    """Random crop of the image zero-padded by ``padding`` pixels per side (back to the
    original size) and, when ``flip``, a horizontal flip with probability 1/2."""

    padding: int = 4
    flip: bool = True


class ImageDataset(Dataset):
    """Labelled square images held in memory as one tensor, served per sample or per batch.

    ``images`` is ``[N, C, H, W]``, uint8 or float; a sample is made by
    ``x = images[i] * pixel_scale`` (pixels in [0, 1] for CIFAR), augmented (through
    :meth:`with_epoch` only, which fixes the random draws), resized to ``input_size`` by
    bilinear interpolation when that differs from ``H``, then normalised per channel,
    ``(x - mean[c]) / std[c]``, when ``mean``/``std`` are given.  Indexing the dataset
    directly gives the un-augmented sample.  ``__getitems__`` serves a whole batch with
    tensor ops (what :func:`make_loader` uses).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, pixel_scale: float = 1.0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 input_size: int | None = None, augment: Augmentation | None = None) -> None:
        if images.ndim != 4 or images.shape[2] != images.shape[3]:
            raise WorkloadError(f"images must be [N, C, H, W] with H == W, got "
                                f"{list(images.shape)}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise WorkloadError(f"{images.shape[0]} images but labels of shape "
                                f"{list(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.pixel_scale = float(pixel_scale)
        channels = images.shape[1]
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(
            1, channels, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(
            1, channels, 1, 1)
        self.input_size = int(images.shape[2] if input_size is None else input_size)
        self.augment = augment

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(channels, input_size, input_size)`` of one served sample."""
        return (int(self.images.shape[1]), self.input_size, self.input_size)

    def batch(self, indices: torch.Tensor, crop: torch.Tensor | None = None,
              flip: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``indices`` as ``(x [B, C, S, S] float32, y [B] int64)``; ``crop`` ([B, 2]
        top-left offsets into the padded image) and ``flip`` ([B] bool) apply the
        augmentation."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        x = self.images[idx].to(torch.float32)
        if self.pixel_scale != 1.0:
            x = x * self.pixel_scale
        if crop is not None and self.augment is not None:
            x = _crop_flip(x, self.augment.padding, crop, flip)
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.input_size)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, self.labels[idx]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch(torch.tensor([int(index)]))
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batch(torch.as_tensor(list(indices), dtype=torch.int64))

    def with_epoch(self, seed: int, epoch: int) -> EpochView:
        """This dataset as epoch ``epoch`` of a run seeded ``seed`` sees it (augmented)."""
        return EpochView(self, seed, epoch)


def _crop_flip(x: torch.Tensor, padding: int, crop: torch.Tensor,
               flip: torch.Tensor | None) -> torch.Tensor:
    """Batched random crop of the zero-padded images plus horizontal flip, by gathering:
    ``out[b, c, i, j] = padded[b, c, dy_b + i, dx_b + (S-1-j if flip_b else j)]``."""
    n, c, size, _ = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    ar = torch.arange(size)
    rows = crop[:, 0:1] + ar                                   # [B, S]
    cols = crop[:, 1:2] + ar
    if flip is not None:
        cols = torch.where(flip[:, None], crop[:, 1:2] + (size - 1 - ar), cols)
    b = torch.arange(n)[:, None, None, None]
    ch = torch.arange(c)[None, :, None, None]
    return padded[b, ch, rows[:, None, :, None], cols[:, None, None, :]]


class EpochView(Dataset):
    """An :class:`ImageDataset` with the augmentation of one epoch drawn up front.

    Crop offsets (uniform in ``0..2*padding`` per axis) and flips (probability 1/2) are
    drawn for all N samples from a generator seeded by ``derive_seed(seed, epoch, 1)`` and
    indexed by sample, so sample ``i`` is augmented the same way whatever batch, order or
    data-parallel rank it lands in.
    """

    def __init__(self, base: ImageDataset, seed: int, epoch: int) -> None:
        self.base = base
        self.seed, self.epoch = seed, epoch
        self.crop = self.flip = None
        if base.augment is not None:
            g = generator(seed, epoch, STREAM_AUGMENT)
            n = len(base)
            self.crop = torch.randint(0, 2 * base.augment.padding + 1, (n, 2), generator=g)
            flips = torch.rand(n, generator=g) < 0.5
            self.flip = flips if base.augment.flip else None

    def __len__(self) -> int:
        return len(self.base)

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        if self.crop is None:
            return self.base.batch(idx)
        return self.base.batch(idx, self.crop[idx], None if self.flip is None else self.flip[idx])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([int(index)])
        return x[0], y[0]


# ----------------------------------------------------------------------------- bundle


@dataclass(frozen=True)
class DatasetBundle:
    """Train and test sets of one data spec and the shape a model needs for them.

    ``in_channels`` x ``input_size`` x ``input_size`` is the shape of every served sample;
    ``num_classes`` the number of labels (labels are 0..num_classes-1).
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    input_size: int
    description: str
