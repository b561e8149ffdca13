"""Fixtures of the training tests: tiny fake CIFAR folders, tiny models (a CNN, a conv net,
an MLP), the resume check and one torch thread."""

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


@pytest.fixture
def tiny_net():
    """``tiny_net(seed=0, inplace=False)``: conv(3->8, 3x3) - BN - ReLU - conv(8->16, 3x3,
    stride 2) - ReLU - flatten - linear(256->5) for 3x8x8 inputs, initialised after
    ``torch.manual_seed(seed)``; ``inplace`` makes the first ReLU an in-place one."""
    torch = pytest.importorskip("torch")
    from torch import nn

    def make(seed: int = 0, inplace: bool = False) -> nn.Sequential:
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=inplace),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(16 * 4 * 4, 5))

    return make


@pytest.fixture
def tiny_mlp():
    """``tiny_mlp(n_in, n_hidden, n_out, seed=0, act=nn.ReLU, bias=True)``: linear - act -
    linear, initialised after ``torch.manual_seed(seed)``."""
    torch = pytest.importorskip("torch")
    from torch import nn

    def make(n_in: int, n_hidden: int, n_out: int, seed: int = 0, act=None,
             bias: bool = True) -> nn.Sequential:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(n_in, n_hidden, bias=bias), (act or nn.ReLU)(),
                             nn.Linear(n_hidden, n_out, bias=bias))

    return make


class StopRun(Exception):
    """Raised from ``on_step`` to interrupt a training run."""


@pytest.fixture
def check_resume_bit_identical():
    """``check(config, root)``: train ``config`` straight through into ``root/a``, and into
    ``root/b`` interrupted at epoch 2, step 10 and then resumed; the two runs must end with
    equal weights, events and metrics (but for the seconds)."""
    torch = pytest.importorskip("torch")
    from training.loop import train

    def check(config, root: Path) -> None:
        straight = train(config, root / "a", progress=False, log=None)

        def stop(epoch, step):
            if epoch == 2 and step == 10:
                raise StopRun
        with pytest.raises(StopRun):
            train(config, root / "b", progress=False, log=None, on_step=stop)
        resumed = train(config, root / "b", progress=False, log=None)
        a, b = straight.model.state_dict(), resumed.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert straight.events == resumed.events
        strip = [{k: v for k, v in m.items() if k != "seconds"} for m in straight.metrics]
        assert strip == [{k: v for k, v in m.items() if k != "seconds"}
                         for m in resumed.metrics]

    return check
