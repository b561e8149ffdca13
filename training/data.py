"""Data for sparse training: sklearn digits, CIFAR-10/100 from local pickles, a synthetic set.

:func:`load_dataset` turns a data spec into a :class:`DatasetBundle` (train and test
datasets plus their shape), :func:`training.loader.make_loader` turns a dataset into a ``DataLoader`` whose
batches depend only on ``(seed, epoch)``::

    data = load_dataset("digits", input_size=32, in_channels=3, seed=0)
    for epoch in range(start_epoch, epochs):
        for x, y in make_loader(data.train, batch_size=128, shuffle=True, seed=0, epoch=epoch):
            ...

Data specs (nothing is ever downloaded):

``digits``
    scikit-learn's 1797 real 8x8 handwritten digits (ships with scikit-learn), split 80/20
    stratified by class with ``seed``; pixels scaled from 0..16 to [0, 1], resized to
    ``input_size`` by bilinear interpolation, normalised with the train set's mean and std,
    and the grey channel replicated ``in_channels`` times.  No augmentation.
``cifar10:PATH`` / ``cifar100:PATH``
    the python-pickle releases (``cifar-10-batches-py/data_batch_1..5, test_batch`` with
    ``b"data"``/``b"labels"``; ``cifar-100-python/train, test`` with ``b"fine_labels"``);
    ``PATH`` is the extracted folder or its parent.  Training images get the standard
    augmentation (random 32x32 crop of the image zero-padded by 4 pixels, random horizontal
    flip) and every image the usual per-channel normalisation.
``synthetic[:train=N,test=M,classes=K]``
    a seeded, learnable set for tests: one smooth random prototype per class plus
    Gaussian noise (defaults 512/128 samples, 10 classes, ``in_channels`` x ``input_size``
    squared, default 3x32x32).

Determinism: the sample order of an epoch and the augmentation of every sample are drawn
from generators seeded by ``(seed, epoch)`` (never from the global RNG), and augmentation
parameters are indexed by sample, so a run resumed at an epoch boundary, or with another
number of data-parallel ranks, sees exactly the same images.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from accelsim.errors import ConfigError, WorkloadError
from training.datasets import (
    CIFAR_STATS,
    STREAM_SYNTHETIC,
    Augmentation,
    DatasetBundle,
    ImageDataset,
    check_int,
    generator,
)

__all__ = ["DATA_SPECS", "load_dataset"]

DATA_SPECS = ("digits", "cifar10:PATH", "cifar100:PATH", "synthetic[:train=N,test=M,classes=K]")


def load_dataset(spec: str, *, input_size: int | None = None, in_channels: int | None = None,
                 seed: int = 0, augment: bool = True, test_fraction: float = 0.2
                 ) -> DatasetBundle:
    """Load data spec ``spec`` (see the module docstring) for a model that takes
    ``in_channels`` x ``input_size`` x ``input_size`` inputs (None: the data's own).

    ``seed`` fixes the digits train/test split and the synthetic set; ``augment=False``
    turns CIFAR's training augmentation off; ``test_fraction`` is the digits test share.
    Raises :class:`~accelsim.errors.WorkloadError` (unknown spec, missing or malformed
    files) or :class:`~accelsim.errors.ConfigError` (bad sizes), each one line.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise WorkloadError(f"data spec {spec!r} is empty; use one of {', '.join(DATA_SPECS)}")
    seed = check_int("seed", seed, 0, "pass a non-negative integer seed")
    if input_size is not None:
        input_size = check_int("input_size", input_size, 1, "pass the model's input side in "
                                "pixels, e.g. 32")
    if in_channels is not None:
        in_channels = check_int("in_channels", in_channels, 1, "pass 1 (grey) or 3 (RGB)")
    name, _, arg = spec.strip().partition(":")
    if name == "digits":
        if arg:
            raise WorkloadError(f"data spec {spec!r}: digits takes no argument; use 'digits'")
        return _load_digits(input_size or 8, in_channels or 1, seed, test_fraction)
    if name in ("cifar10", "cifar100"):
        if not arg:
            raise WorkloadError(f"data spec {spec!r} needs the local folder: {name}:PATH (the "
                                f"extracted python version; accelsim never downloads)")
        return _load_cifar(name, arg, input_size or 32, in_channels or 3, augment)
    if name == "synthetic":
        return _load_synthetic(spec, arg, input_size or 32, in_channels or 3, seed)
    raise WorkloadError(f"unknown data spec {spec!r}; use one of {', '.join(DATA_SPECS)}")


# ----------------------------------------------------------------------------- digits


def _load_digits(input_size: int, in_channels: int, seed: int,
                 test_fraction: float) -> DatasetBundle:
    if not isinstance(test_fraction, float | int) or not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction = {test_fraction!r} must lie in (0, 1), e.g. 0.2")
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0          # [1797, 8, 8] in [0, 1]
    labels = digits.target.astype(np.int64)
    tr, te = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                              random_state=seed, stratify=labels)
    x = torch.from_numpy(images)[:, None]
    if input_size != x.shape[-1]:
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear",
                          align_corners=False, antialias=input_size < x.shape[-1])
    tr_t, te_t = torch.from_numpy(tr), torch.from_numpy(te)
    mean, std = x[tr_t].mean(), x[tr_t].std()
    x = ((x - mean) / std).expand(-1, in_channels, -1, -1).contiguous()
    y = torch.from_numpy(labels)
    return DatasetBundle(
        name="digits", train=ImageDataset(x[tr_t], y[tr_t]), test=ImageDataset(x[te_t], y[te_t]),
        num_classes=10, in_channels=in_channels, input_size=input_size,
        description=(f"sklearn digits: {len(tr)} train / {len(te)} test 8x8 images (split seed "
                     f"{seed}), resized to {in_channels}x{input_size}x{input_size}, no "
                     "augmentation"))


# ----------------------------------------------------------------------------- CIFAR


_CIFAR_LAYOUT = {
    "cifar10": {"folder": "cifar-10-batches-py", "archive": "cifar-10-python.tar.gz",
                "train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",),
                "labels": "labels", "classes": 10},
    "cifar100": {"folder": "cifar-100-python", "archive": "cifar-100-python.tar.gz",
                 "train": ("train",), "test": ("test",), "labels": "fine_labels",
                 "classes": 100},
}

#: Globals a CIFAR pickle may reference (numpy arrays); anything else is refused, so a
#: hostile file cannot run code while being read.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how a protocol-2 pickle written by Python 3 stores bytes
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"it references {module}.{name}, which a CIFAR pickle "
                                         "never does")
        if module.startswith("numpy.core"):  # numpy >= 2 moved numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def _cifar_root(name: str, path: str) -> Path:
    layout = _CIFAR_LAYOUT[name]
    p = Path(path).expanduser()
    if not p.exists():
        raise WorkloadError(f"{name} folder {p} does not exist; extract {layout['archive']} "
                            f"there and pass {name}:PATH (accelsim never downloads)")
    if not p.is_dir():
        raise WorkloadError(f"{name} path {p} is a file; pass the folder {layout['folder']}/ "
                            "(or its parent) extracted from " + layout["archive"])
    if (p / layout["train"][0]).is_file() or (p / layout["test"][0]).is_file():
        return p
    if (p / layout["folder"]).is_dir():
        return p / layout["folder"]
    raise WorkloadError(f"{p} holds neither {layout['folder']}/ nor {name}'s files "
                        f"({', '.join(layout['train'] + layout['test'])}); pass {name}:PATH "
                        f"with the folder extracted from {layout['archive']} or its parent")


def _read_cifar_file(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [n, 3, 32, 32], labels int64 [n])`` of one CIFAR pickle file."""
    layout = _CIFAR_LAYOUT[name]
    fix = f"re-extract {layout['archive']}"
    if not path.is_file():
        raise WorkloadError(f"{name} file {path} is missing; {fix}")
    try:
        with open(path, "rb") as fh:
            obj = _CifarUnpickler(fh, encoding="bytes").load()
    except Exception as exc:  # any failure of an untrusted file is the file's fault
        raise WorkloadError(f"{name} file {path} is not a readable CIFAR pickle "
                            f"({type(exc).__name__}: {exc}); {fix}") from None
    if not isinstance(obj, dict):
        raise WorkloadError(f"{name} file {path} holds a {type(obj).__name__}, not the CIFAR "
                            f"dict of data and labels; {fix}")

    def get(key: str) -> Any:
        for k in (key.encode(), key):
            if k in obj:
                return obj[k]
        raise WorkloadError(f"{name} file {path} has no {key!r} entry (keys: "
                            f"{sorted(str(k) for k in obj)[:6]}); {fix}")

    try:
        data = np.asarray(get("data"))
        labels = np.asarray(get(layout["labels"]))
    except WorkloadError:
        raise
    except Exception as exc:
        raise WorkloadError(f"{name} file {path}: data or labels are not arrays ({exc}); "
                            f"{fix}") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] == 0:
        raise WorkloadError(f"{name} file {path} has data of shape {list(data.shape)}; expected "
                            f"[n > 0, 3072] (3x32x32 pixels per row); {fix}")
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.integer) or data.min() < 0 or data.max() > 255:
            raise WorkloadError(f"{name} file {path} has {data.dtype} pixels outside 0..255; "
                                f"expected uint8; {fix}")
        data = data.astype(np.uint8)
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise WorkloadError(f"{name} file {path} has {data.shape[0]} images but labels of shape "
                            f"{list(labels.shape)}; {fix}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 \
            or labels.max() >= layout["classes"]:
        raise WorkloadError(f"{name} file {path} has labels outside 0..{layout['classes'] - 1}; "
                            f"{fix}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_cifar_split(name: str, root: Path, files: Sequence[str]) -> tuple[torch.Tensor,
                                                                            torch.Tensor]:
    parts = [_read_cifar_file(name, root / f) for f in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


def _load_cifar(name: str, path: str, input_size: int, in_channels: int,
                augment: bool) -> DatasetBundle:
    if in_channels != 3:
        raise ConfigError(f"{name} images have 3 channels, not in_channels = {in_channels}; "
                          "build the model with in_channels=3")
    layout = _CIFAR_LAYOUT[name]
    root = _cifar_root(name, path)
    # check every file exists before reading any (a missing batch fails fast)
    for f in layout["train"] + layout["test"]:
        if not (root / f).is_file():
            raise WorkloadError(f"{name} file {root / f} is missing; re-extract "
                                f"{layout['archive']}")
    mean, std = CIFAR_STATS[name]
    train_x, train_y = _read_cifar_split(name, root, layout["train"])
    test_x, test_y = _read_cifar_split(name, root, layout["test"])
    common = {"pixel_scale": 1.0 / 255.0, "mean": mean, "std": std, "input_size": input_size}
    aug = Augmentation() if augment else None
    return DatasetBundle(
        name=name,
        train=ImageDataset(train_x, train_y, augment=aug, **common),
        test=ImageDataset(test_x, test_y, **common),
        num_classes=layout["classes"], in_channels=3, input_size=input_size,
        description=(f"{name} from {root}: {len(train_y)} train / {len(test_y)} test 32x32 RGB "
                     "images" + (f" resized to {input_size}x{input_size}" if input_size != 32
                                 else "")
                     + (", train augmented (4-px pad + random crop, horizontal flip)" if augment
                        else ", no augmentation")))


# ----------------------------------------------------------------------------- synthetic


def _synthetic_options(spec: str, arg: str) -> dict[str, int]:
    opts = {"train": 512, "test": 128, "classes": 10}
    if not arg:
        return opts
    for item in arg.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if key not in opts or not eq:
            raise WorkloadError(f"data spec {spec!r}: option {item!r} is not one of "
                                "train=N, test=M, classes=K")
        try:
            opts[key] = int(value)
        except ValueError:
            raise WorkloadError(f"data spec {spec!r}: {key}={value!r} is not an integer"
                                ) from None
    if opts["classes"] < 2:
        raise WorkloadError(f"data spec {spec!r}: classes={opts['classes']} must be >= 2")
    for key in ("train", "test"):
        if opts[key] < opts["classes"]:
            raise WorkloadError(f"data spec {spec!r}: {key}={opts[key]} must be at least the "
                                f"number of classes ({opts['classes']})")
    return opts


def _load_synthetic(spec: str, arg: str, input_size: int, in_channels: int,
                    seed: int) -> DatasetBundle:
    """Class ``k``'s images are ``P_k + 0.8 * noise``, ``P_k`` a smooth random pattern (a
    normal field on a ceil(S/4)-sided grid upsampled bilinearly to S), noise i.i.d.
    standard normal; labels balanced; normalised with the train set's per-channel stats."""
    opts = _synthetic_options(spec, arg)
    g = generator(seed, 0, STREAM_SYNTHETIC)
    k, n_train, n = opts["classes"], opts["train"], opts["train"] + opts["test"]
    coarse = max(2, math.ceil(input_size / 4))
    protos = torch.randn(k, in_channels, coarse, coarse, generator=g)
    protos = F.interpolate(protos, size=(input_size, input_size), mode="bilinear",
                           align_corners=False) if coarse != input_size else protos
    labels = torch.cat([torch.arange(n_train) % k, torch.arange(n - n_train) % k])
    labels = torch.cat([labels[:n_train][torch.randperm(n_train, generator=g)],
                        labels[n_train:][torch.randperm(n - n_train, generator=g)]])
    x = protos[labels] + 0.8 * torch.randn(n, in_channels, input_size, input_size, generator=g)
    mean = x[:n_train].mean(dim=(0, 2, 3), keepdim=True)
    std = x[:n_train].std(dim=(0, 2, 3), keepdim=True)
    x = (x - mean) / std
    return DatasetBundle(
        name="synthetic", train=ImageDataset(x[:n_train], labels[:n_train]),
        test=ImageDataset(x[n_train:], labels[n_train:]), num_classes=k,
        in_channels=in_channels, input_size=input_size,
        description=(f"synthetic (seed {seed}): {n_train} train / {n - n_train} test "
                     f"{in_channels}x{input_size}x{input_size} images, {k} classes"))
