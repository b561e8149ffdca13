"""Helpers of the data tests: batches of a loader, their equality, a stacked data set."""

from __future__ import annotations

import torch


def all_batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2)
                                    for (x1, y1), (x2, y2) in zip(a, b, strict=True))


def stacked(ds):
    x, y = ds.__getitems__(range(len(ds)))
    return x, y
