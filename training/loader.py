"""Data loaders whose batches depend only on ``(seed, epoch)`` (see :mod:`training.data`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from accelsim.errors import ConfigError
from training.datasets import STREAM_ORDER, ImageDataset, check_int, derive_seed, generator

__all__ = ["make_loader"]




class _Batches(Sampler[list[int]]):
    """A fixed list of index batches (the whole epoch's order, decided up front)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _as_batch(data: Any) -> Any:
    """Collate: our datasets already return ``(x, y)`` batches."""
    return data


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, seed: int, epoch: int,
                distributed: bool = False, drop_last: bool = False,
                num_replicas: int | None = None, rank: int | None = None,
                start_batch: int = 0) -> DataLoader:
    """A ``DataLoader`` over epoch ``epoch`` of ``dataset`` whose batches (order and
    augmentation) depend only on ``(seed, epoch)`` (and the rank's shard).

    * shuffle: order ``randperm(N)`` from a generator seeded ``derive_seed(seed, epoch, 0)``;
      otherwise 0..N-1.
    * distributed: a ``DistributedSampler`` (seeded ``derive_seed(seed, 0, 0)``, ``set_epoch
      (epoch)``) gives this rank's shard; ``num_replicas``/``rank`` default to the process
      group's (``torch.distributed`` must then be initialised, e.g. under ``torchrun``).
    * :class:`ImageDataset`: served through :meth:`ImageDataset.with_epoch` (batched tensor
      ops, augmentation of the epoch); any other map-style dataset is collated as usual.
    * ``start_batch``: skip the epoch's first batches (resuming inside an epoch).
    * no worker processes (``num_workers=0``).

    ``loader.batch_sampler.batches`` lists each batch's sample indices into ``dataset``
    (e.g. for trace metadata); ``len(loader)`` is the number of batches.
    """
    batch_size = check_int("batch_size", batch_size, 1, "pass a positive batch size")
    seed = check_int("seed", seed, 0, "pass a non-negative integer seed")
    epoch = check_int("epoch", epoch, 0, "epochs count from 0")
    start_batch = check_int("start_batch", start_batch, 0, "pass the number of batches to skip")
    n = len(dataset)
    if n == 0:
        raise ConfigError("the dataset is empty; nothing to load")
    if distributed:
        if num_replicas is None or rank is None:
            import torch.distributed as dist
            if not (dist.is_available() and dist.is_initialized()):
                raise ConfigError("make_loader(distributed=True) needs torch.distributed "
                                  "initialised (run under torchrun) or num_replicas and rank")
        sampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank,
                                     shuffle=shuffle, seed=derive_seed(seed, 0, STREAM_ORDER),
                                     drop_last=drop_last)
        sampler.set_epoch(epoch)
        order = list(sampler)
    elif shuffle:
        order = torch.randperm(n, generator=generator(seed, epoch, STREAM_ORDER)).tolist()
    else:
        order = list(range(n))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if not batches:
        raise ConfigError(f"{len(order)} samples give no full batch of {batch_size} with "
                          "drop_last; lower the batch size")
    if start_batch > len(batches):
        raise ConfigError(f"start_batch = {start_batch} is past the epoch's {len(batches)} "
                          "batches")
    batches = batches[start_batch:]
    if isinstance(dataset, ImageDataset):
        return DataLoader(dataset.with_epoch(seed, epoch), batch_sampler=_Batches(batches),
                          collate_fn=_as_batch, num_workers=0)
    return DataLoader(dataset, batch_sampler=_Batches(batches), num_workers=0)
