"""Tests for training.data: digits, the synthetic set and the deterministic loader (CIFAR:
test_data_cifar.py)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402

from accelsim.errors import AccelsimError, ConfigError, WorkloadError  # noqa: E402
from tests.training.data_helpers import all_batches, same_batches, stacked  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.datasets import ImageDataset  # noqa: E402
from training.loader import make_loader  # noqa: E402

# ----------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits8():
    return load_dataset("digits", input_size=8, in_channels=1, seed=0)


def test_digits_split_sizes_and_classes(digits8):
    assert (digits8.name, digits8.num_classes, digits8.in_channels, digits8.input_size) == \
        ("digits", 10, 1, 8)
    assert (len(digits8.train), len(digits8.test)) == (1437, 360)
    x, y = digits8.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_digits_split_is_stratified(digits8):
    from sklearn.datasets import load_digits
    full = np.bincount(load_digits().target, minlength=10)
    test = np.bincount(stacked(digits8.test)[1].numpy(), minlength=10)
    assert np.all(np.abs(test - full * 0.2) <= 1)


def test_digits_are_the_real_images_partitioned(digits8):
    """Undo the affine normalisation (raw pixels span exactly 0..1) and compare with
    sklearn's images: train + test is the whole set, each image once."""
    from sklearn.datasets import load_digits
    x = torch.cat([stacked(digits8.train)[0], stacked(digits8.test)[0]]).numpy()
    lo, hi = x.min(), x.max()
    scaled = ((x - lo) / (hi - lo) * 16).reshape(len(x), -1)
    raw = np.rint(scaled)
    assert np.allclose(scaled, raw, atol=1e-4)
    want = load_digits().images.reshape(1797, -1)
    assert sorted(map(tuple, raw)) == sorted(map(tuple, want))


def test_digits_normalised_with_train_statistics(digits8):
    x = stacked(digits8.train)[0]
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-4


def test_digits_resized_and_channels_replicated():
    data = load_dataset("digits", input_size=32, in_channels=3, seed=0)
    x = stacked(data.test)[0]
    assert x.shape == (360, 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert (data.input_size, data.in_channels) == (32, 3)


def test_digits_resize_is_bilinear_of_the_8px_image(digits8):
    """Same seed -> same split; the 16px image is the bilinear upsampling of the 8px one
    (normalisation is affine, so compare after standardising each image)."""
    big = load_dataset("digits", input_size=16, in_channels=1, seed=0)
    small_x, small_y = stacked(digits8.test)
    big_x, big_y = stacked(big.test)
    assert torch.equal(small_y, big_y)
    up = F.interpolate(small_x, size=(16, 16), mode="bilinear", align_corners=False)

    def standard(t):
        flat = t.reshape(len(t), -1)
        return (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True)
    assert torch.allclose(standard(up), standard(big_x), atol=1e-4)


def test_digits_split_is_seeded():
    a = load_dataset("digits", seed=3)
    b = load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    assert torch.equal(stacked(a.test)[0], stacked(b.test)[0])
    assert not torch.equal(stacked(a.test)[1], stacked(c.test)[1])


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_balance_and_options():
    data = load_dataset("synthetic:train=40,test=20,classes=4", input_size=8, in_channels=2)
    assert (len(data.train), len(data.test), data.num_classes) == (40, 20, 4)
    x, y = stacked(data.train)
    assert x.shape == (40, 2, 8, 8)
    assert np.bincount(y.numpy()).tolist() == [10] * 4
    default = load_dataset("synthetic")
    assert (len(default.train), len(default.test), default.num_classes) == (512, 128, 10)
    assert default.train[0][0].shape == (3, 32, 32)


def test_synthetic_is_seeded():
    a = load_dataset("synthetic:train=20,test=10,classes=2", input_size=8, seed=7)
    b = load_dataset("synthetic:train=20,test=10,classes=2", input_size=8, seed=7)
    c = load_dataset("synthetic:train=20,test=10,classes=2", input_size=8, seed=8)
    assert torch.equal(stacked(a.train)[0], stacked(b.train)[0])
    assert torch.equal(stacked(a.test)[1], stacked(b.test)[1])
    assert not torch.equal(stacked(a.train)[0], stacked(c.train)[0])


def test_synthetic_is_learnable():
    """A nearest-class-mean classifier fitted on train gets > 90% on test."""
    data = load_dataset("synthetic:train=200,test=100,classes=5", input_size=8, in_channels=1)
    x, y = stacked(data.train)
    means = torch.stack([x[y == k].reshape((y == k).sum(), -1).mean(0) for k in range(5)])
    xt, yt = stacked(data.test)
    pred = torch.cdist(xt.reshape(len(xt), -1), means).argmin(1)
    assert (pred == yt).float().mean() > 0.9


# ----------------------------------------------------------------------------- loader


@pytest.fixture
def small():
    return load_dataset("synthetic:train=30,test=10,classes=3", input_size=4, in_channels=1)


def test_loader_deterministic_per_seed_and_epoch(small):
    a = all_batches(make_loader(small.train, batch_size=8, shuffle=True, seed=0, epoch=1))
    torch.manual_seed(99)
    np.random.seed(99)
    b = all_batches(make_loader(small.train, batch_size=8, shuffle=True, seed=0, epoch=1))
    assert same_batches(a, b)
    other_epoch = all_batches(make_loader(small.train, batch_size=8, shuffle=True, seed=0,
                                          epoch=2))
    other_seed = all_batches(make_loader(small.train, batch_size=8, shuffle=True, seed=1,
                                         epoch=1))
    assert not same_batches(a, other_epoch) and not same_batches(a, other_seed)


def test_resumed_run_sees_the_same_epochs(small):
    """Epochs 0..2 in one go equal epoch 2 made fresh (as after a resume)."""
    run = [all_batches(make_loader(small.train, batch_size=7, shuffle=True, seed=3, epoch=e))
           for e in range(3)]
    resumed = all_batches(make_loader(small.train, batch_size=7, shuffle=True, seed=3, epoch=2))
    assert same_batches(run[2], resumed)


def test_loader_epoch_is_a_permutation(small):
    loader = make_loader(small.train, batch_size=8, shuffle=True, seed=0, epoch=0)
    assert [len(y) for _, y in loader] == [8, 8, 8, 6] and len(loader) == 4
    x = torch.cat([x for x, _ in loader])
    ref = stacked(small.train)[0]
    order = [int(torch.nonzero((ref == xi).all(dim=(1, 2, 3)))[0]) for xi in x]
    assert sorted(order) == list(range(30)) and order != list(range(30))


def test_loader_unshuffled_and_drop_last(small):
    loader = make_loader(small.train, batch_size=8, shuffle=False, seed=0, epoch=0,
                         drop_last=True)
    assert [len(y) for _, y in loader] == [8, 8, 8]
    ref_x, ref_y = stacked(small.train)
    assert torch.equal(torch.cat([y for _, y in loader]), ref_y[:24])


def test_loader_start_batch_resumes_inside_an_epoch(small):
    full = all_batches(make_loader(small.train, batch_size=7, shuffle=True, seed=2, epoch=1))
    tail = all_batches(make_loader(small.train, batch_size=7, shuffle=True, seed=2, epoch=1,
                                   start_batch=2))
    assert same_batches(full[2:], tail)


def test_distributed_shards_are_disjoint_and_cover(small):
    seen = []
    for rank in (0, 1):
        a = all_batches(make_loader(small.train, batch_size=4, shuffle=True, seed=0, epoch=1,
                                    distributed=True, num_replicas=2, rank=rank))
        b = all_batches(make_loader(small.train, batch_size=4, shuffle=True, seed=0, epoch=1,
                                    distributed=True, num_replicas=2, rank=rank))
        assert same_batches(a, b)
        seen.append(torch.cat([x for x, _ in a]))
    ref = stacked(small.train)[0]

    def ids(x):
        return {int(torch.nonzero((ref == xi).all(dim=(1, 2, 3)))[0]) for xi in x}
    assert ids(seen[0]).isdisjoint(ids(seen[1])) and ids(seen[0]) | ids(seen[1]) == set(range(30))


def test_distributed_needs_a_process_group(small):
    with pytest.raises(ConfigError, match="torchrun"):
        make_loader(small.train, batch_size=4, shuffle=True, seed=0, epoch=0, distributed=True)


def test_loader_takes_any_dataset():
    ds = TensorDataset(torch.arange(10.0)[:, None], torch.arange(10))
    a = [y.tolist() for _, y in make_loader(ds, batch_size=4, shuffle=True, seed=0, epoch=0)]
    b = [y.tolist() for _, y in make_loader(ds, batch_size=4, shuffle=True, seed=0, epoch=0)]
    assert a == b and sorted(sum(a, [])) == list(range(10))


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"), ({"epoch": -1}, "epoch"), ({"seed": 1.5}, "seed"),
    ({"batch_size": 64, "drop_last": True}, "no full batch"), ({"start_batch": 9}, "past")])
def test_loader_bad_arguments(small, kwargs, match):
    args = {"batch_size": 8, "shuffle": True, "seed": 0, "epoch": 0, **kwargs}
    with pytest.raises(AccelsimError, match=match) as info:
        make_loader(small.train, **args)
    assert "\n" not in str(info.value)


def test_image_dataset_checks_shapes():
    with pytest.raises(WorkloadError, match="labels"):
        ImageDataset(torch.zeros(3, 1, 4, 4), torch.zeros(2))
    with pytest.raises(WorkloadError, match="H == W"):
        ImageDataset(torch.zeros(3, 1, 4, 5), torch.zeros(3))


def test_loader_lists_the_sample_indices_of_its_batches(small):
    loader = make_loader(small.train, batch_size=8, shuffle=True, seed=4, epoch=1, start_batch=1)
    ref_x, _ = stacked(small.train)
    batches = loader.batch_sampler.batches
    assert len(batches) == len(loader) == 3
    for idx, (x, _) in zip(batches, loader, strict=True):
        assert torch.equal(x, ref_x[idx])
