"""Tests for training.data's CIFAR pickles: both real layouts, order, augmentation, and
every malformed case."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from accelsim.errors import ConfigError, WorkloadError  # noqa: E402
from tests.training.data_helpers import all_batches, same_batches, stacked  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.datasets import CIFAR_STATS  # noqa: E402
from training.loader import make_loader  # noqa: E402

# ----------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("point_at", ["parent", "folder"])
def test_cifar_reads_both_layouts(make_cifar, name, point_at):
    parent = make_cifar(name)
    path = parent if point_at == "parent" else make_cifar.folder(name)
    data = load_dataset(f"{name}:{path}", augment=False)
    n_train = 20 if name == "cifar10" else 6
    assert (len(data.train), len(data.test)) == (n_train, 3)
    assert data.num_classes == (10 if name == "cifar10" else 100)
    assert (data.in_channels, data.input_size) == (3, 32)
    # the test images are the stored rows, scaled to [0, 1] and normalised per channel
    test_file = "test_batch" if name == "cifar10" else "test"
    with open(make_cifar.folder(name) / test_file, "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in CIFAR_STATS[name])
    pixels = torch.from_numpy(raw[b"data"]).view(-1, 3, 32, 32).float() / 255
    x, y = stacked(data.test)
    assert torch.allclose(x, (pixels - mean) / std, atol=1e-5)
    key = b"labels" if name == "cifar10" else b"fine_labels"
    assert y.tolist() == raw[key]


def test_cifar_train_order_is_batches_1_to_5(make_cifar):
    data = load_dataset(f"cifar10:{make_cifar('cifar10')}", augment=False)
    labels = []
    for f in make_cifar.cifar10_files[:5]:
        with open(make_cifar.folder("cifar10") / f, "rb") as fh:
            labels += pickle.load(fh, encoding="bytes")[b"labels"]
    assert stacked(data.train)[1].tolist() == labels


def test_cifar_augmentation_is_crop_of_padded_image_and_flip(make_cifar):
    data = load_dataset(f"cifar10:{make_cifar('cifar10')}", seed=0)
    plain = load_dataset(f"cifar10:{make_cifar.folder('cifar10')}", augment=False)
    view = data.train.with_epoch(seed=5, epoch=2)
    x_aug = view.__getitems__(range(len(view)))[0]
    x_plain = stacked(plain.train)[0]
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in CIFAR_STATS["cifar10"])
    pad_value = (0 - mean) / std                                 # zero pixels, normalised
    padded = pad_value + F.pad(x_plain - pad_value, (4, 4, 4, 4))
    for i in range(len(view)):
        dy, dx = view.crop[i].tolist()
        want = padded[i, :, dy:dy + 32, dx:dx + 32]
        if view.flip[i]:
            want = want.flip(-1)
        assert torch.allclose(x_aug[i], want, atol=1e-5)
    assert view.crop.min() >= 0 and view.crop.max() <= 8


def test_cifar_augmentation_depends_only_on_seed_and_epoch(make_cifar):
    data = load_dataset(f"cifar10:{make_cifar('cifar10')}")
    a = all_batches(make_loader(data.train, batch_size=6, shuffle=True, seed=1, epoch=3))
    torch.manual_seed(123)  # the global RNG plays no part
    b = all_batches(make_loader(data.train, batch_size=6, shuffle=True, seed=1, epoch=3))
    c = all_batches(make_loader(data.train, batch_size=6, shuffle=True, seed=1, epoch=4))
    assert same_batches(a, b) and not same_batches(a, c)


def test_cifar_augmentation_is_per_sample_not_per_batch(make_cifar):
    """Sample i is augmented the same whatever batch size or rank serves it."""
    data = load_dataset(f"cifar10:{make_cifar('cifar10')}")

    def by_sample(loader_kwargs_list):
        out = {}
        for kw in loader_kwargs_list:
            for x, _ in make_loader(data.train, shuffle=False, seed=0, epoch=1, **kw):
                for xi in x:
                    out[len(out)] = xi
        return out

    one = torch.stack(list(by_sample([{"batch_size": 20}]).values()))
    small = torch.stack(list(by_sample([{"batch_size": 3}]).values()))
    assert torch.equal(one, small)
    ranks = {}
    for rank in (0, 1):
        loader = make_loader(data.train, batch_size=4, shuffle=False, seed=0, epoch=1,
                             distributed=True, num_replicas=2, rank=rank)
        xs = torch.cat([x for x, _ in loader])
        ranks[rank] = xs
    assert torch.equal(ranks[0], one[0::2]) and torch.equal(ranks[1], one[1::2])


def test_cifar_resized_input(make_cifar):
    data = load_dataset(f"cifar100:{make_cifar('cifar100')}", input_size=40)
    x, _ = next(iter(make_loader(data.train, batch_size=6, shuffle=True, seed=0, epoch=0)))
    assert x.shape == (6, 3, 40, 40) and data.input_size == 40


def _break(make_cifar, case: str):
    """Build a broken cifar10 folder for ``case``; returns (spec, text the error names)."""
    parent = make_cifar("cifar10")
    root = make_cifar.folder("cifar10")
    target = root / "data_batch_2"
    cifar_batch, write_pickle = make_cifar.batch, make_cifar.write
    if case == "missing path":
        return f"cifar10:{parent / 'nope'}", "does not exist"
    if case == "path is a file":
        return f"cifar10:{target}", "is a file"
    if case == "no layout":
        empty = parent / "empty"
        empty.mkdir()
        return f"cifar10:{empty}", "holds neither"
    if case == "missing batch":
        (root / "data_batch_3").unlink()
        return f"cifar10:{parent}", "data_batch_3 is missing"
    if case == "not a pickle":
        target.write_bytes(b"this is not a pickle")
    elif case == "truncated":
        target.write_bytes(target.read_bytes()[:100])
    elif case == "empty file":
        target.write_bytes(b"")
    elif case == "a list":
        write_pickle(target, [1, 2, 3])
    elif case == "no data key":
        batch = cifar_batch(4, 10, b"labels", 0)
        del batch[b"data"]
        write_pickle(target, batch)
    elif case == "no labels key":
        batch = cifar_batch(4, 10, b"fine_labels", 0)
        write_pickle(target, batch)
    elif case == "wrong row size":
        batch = cifar_batch(4, 10, b"labels", 0)
        batch[b"data"] = batch[b"data"][:, :3000]
        write_pickle(target, batch)
    elif case == "data 1-d":
        batch = cifar_batch(4, 10, b"labels", 0)
        batch[b"data"] = batch[b"data"].reshape(-1)
        write_pickle(target, batch)
    elif case == "label count":
        batch = cifar_batch(4, 10, b"labels", 0)
        batch[b"labels"] = batch[b"labels"][:3]
        write_pickle(target, batch)
    elif case == "label range":
        batch = cifar_batch(4, 10, b"labels", 0)
        batch[b"labels"][0] = 10
        write_pickle(target, batch)
    elif case == "float pixels":
        batch = cifar_batch(4, 10, b"labels", 0)
        batch[b"data"] = batch[b"data"].astype(np.float32) / 255
        write_pickle(target, batch)
    elif case == "hostile pickle":
        class Evil:
            def __reduce__(self):
                return (print, ("owned",))
        write_pickle(target, Evil())
    else:  # pragma: no cover
        raise AssertionError(case)
    return f"cifar10:{parent}", "data_batch_2"


BROKEN = ["missing path", "path is a file", "no layout", "missing batch", "not a pickle",
          "truncated", "empty file", "a list", "no data key", "no labels key",
          "wrong row size", "data 1-d", "label count", "label range", "float pixels",
          "hostile pickle"]


@pytest.mark.parametrize("case", BROKEN)
def test_malformed_cifar_gives_one_line_error(make_cifar, case, capsys):
    spec, named = _break(make_cifar, case)
    with pytest.raises(WorkloadError) as info:
        load_dataset(spec)
    message = str(info.value)
    assert "\n" not in message and named in message
    assert capsys.readouterr().out == ""  # the hostile pickle's code never ran


def test_cifar100_needs_fine_labels(make_cifar):
    make_cifar("cifar100")
    root = make_cifar.folder("cifar100")
    make_cifar.write(root / "test", make_cifar.batch(3, 10, b"labels", 0))
    with pytest.raises(WorkloadError, match="fine_labels"):
        load_dataset(f"cifar100:{root}")


@pytest.mark.parametrize("spec, match", [
    ("cifar10", "needs the local folder"), ("cifar100:", "needs the local folder"),
    ("imagenet:/data", "unknown data spec"), ("", "empty"), ("digits:x", "no argument"),
    ("synthetic:train=x", "not an integer"), ("synthetic:size=3", "not one of"),
    ("synthetic:classes=1", "classes=1"), ("synthetic:train=3,classes=4", "train=3")])
def test_bad_specs(spec, match):
    with pytest.raises(WorkloadError, match=match) as info:
        load_dataset(spec)
    assert "\n" not in str(info.value)


def test_bad_sizes(make_cifar):
    with pytest.raises(ConfigError, match="3 channels"):
        load_dataset(f"cifar10:{make_cifar('cifar10')}", in_channels=1)
    for kw in ({"input_size": 0}, {"in_channels": True}, {"seed": -1}):
        with pytest.raises(ConfigError):
            load_dataset("digits", **kw)
    with pytest.raises(ConfigError, match="test_fraction"):
        load_dataset("digits", test_fraction=1.0)
