"""Fixtures of the training tests: tiny fake CIFAR folders and a tiny CNN."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR100_FILES = ("train", "test")


def cifar_batch(n: int, classes: int, label_key: bytes, seed: int) -> dict:
    """One CIFAR pickle dict as the python release stores it (bytes keys, uint8 rows)."""
    rng = np.random.default_rng(seed)
    out = {b"batch_label": b"fake", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
           label_key: [int(v) for v in rng.integers(0, classes, n)],
           b"filenames": [b"x.png"] * n}
    if label_key == b"fine_labels":
        out[b"coarse_labels"] = [0] * n
    return out


def write_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


@pytest.fixture
def make_cifar(tmp_path):
    """``make_cifar(name)`` writes a tiny extracted release under ``tmp_path/name/<folder>``
    (5 x 4 train + 3 test images for cifar10, 6 + 3 for cifar100) and returns the parent
    directory; ``make_cifar.folder(name)`` is the extracted folder, ``make_cifar.batch`` /
    ``make_cifar.write`` make and write one pickle dict."""

    def make(name: str = "cifar10") -> Path:
        parent = tmp_path / name
        if name == "cifar10":
            root = parent / "cifar-10-batches-py"
            root.mkdir(parents=True)
            for i, f in enumerate(CIFAR10_FILES):
                write_pickle(root / f, cifar_batch(3 if f == "test_batch" else 4, 10,
                                                   b"labels", i))
        else:
            root = parent / "cifar-100-python"
            root.mkdir(parents=True)
            write_pickle(root / "train", cifar_batch(6, 100, b"fine_labels", 10))
            write_pickle(root / "test", cifar_batch(3, 100, b"fine_labels", 11))
        return parent

    make.folder = lambda name: tmp_path / name / (
        "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    make.batch = cifar_batch
    make.write = write_pickle
    make.cifar10_files = CIFAR10_FILES
    return make


@pytest.fixture
def tiny_cnn():
    """conv(1->4, 3x3, no bias) - BN - ReLU - conv(4->4, 3x3) - ReLU - global average pool
    - linear(4->3); one ReLU module called twice; seeded initialisation."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.relu(self.conv2(x))
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    return TinyCNN()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread: on a 2-core machine that also runs other jobs, OpenMP threads that
    wait on each other make tiny models many times slower, and results are steadier."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
