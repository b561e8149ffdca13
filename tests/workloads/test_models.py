"""Tests for workloads.models: shapes, parameter/MAC counts, naming and error handling.

Large networks are built on the meta device (no memory, no compute); real CPU forward
passes use batch size 1 at 32x32 only.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from workloads.models import (  # noqa: E402
    CIFAR_ONLY,
    MODEL_NAMES,
    build_model,
    wide_resnet,
)

META = torch.device("meta")
ALLOWED_MODULES = (
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Dropout,
    nn.Sequential,
)


def meta_model(name: str, **kw) -> nn.Module:
    with META:
        return build_model(name, **kw)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int, in_channels: int = 3) -> int:
    """Multiply-accumulates of conv and linear layers for one image (meta forward)."""
    total = 0

    def hook(mod, _inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out[0].numel() * (mod.in_channels // mod.groups) * kh * kw
        else:
            total += mod.in_features * mod.out_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    try:
        model.eval()
        model(torch.empty(1, in_channels, input_size, input_size, device=META))
    finally:
        for h in handles:
            h.remove()
    return total


# --------------------------------------------------------------------------- forward


REAL_FORWARD = [n for n in MODEL_NAMES if n != "wrn28-10"]


@pytest.mark.parametrize("name", REAL_FORWARD)
def test_cifar_forward_shape_cpu(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, in_channels=3, input_size=32).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 10)
    assert torch.isfinite(out).all()


def test_wrn28_10_forward_shape_meta():
    model = meta_model("wrn28-10", num_classes=10, in_channels=3, input_size=32).eval()
    out = model(torch.empty(1, 3, 32, 32, device=META))
    assert out.shape == (1, 10)


def test_digits_cnn_forward_and_backward():
    torch.manual_seed(0)
    model = build_model("digits-cnn", num_classes=10, in_channels=1, input_size=8)
    x = torch.randn(2, 1, 8, 8)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.conv1.weight.grad is not None
    assert model.fc.weight.grad is not None


@pytest.mark.parametrize("size", [8, 9, 13, 28])
def test_digits_cnn_any_size_at_least_8(size):
    model = build_model("digits-cnn", in_channels=1, input_size=size).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, size, size)).shape == (1, 10)


def test_grey_input_and_other_class_count():
    model = build_model("resnet20", num_classes=7, in_channels=1, input_size=32).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n not in CIFAR_ONLY])
def test_imagenet_forward_shape_meta(name):
    model = meta_model(name, num_classes=1000, input_size=224).eval()
    out = model(torch.empty(2, 3, 224, 224, device=META))
    assert out.shape == (2, 1000)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("size", [48, 64])
def test_cifar_variant_other_sizes_meta(name, size):
    model = meta_model(name, input_size=size).eval()
    assert model(torch.empty(1, 3, size, size, device=META)).shape == (1, 10)


def test_variant_switches_above_64():
    small = meta_model("resnet18", input_size=64)
    large = meta_model("resnet18", input_size=65)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert small.maxpool is None
    assert large.conv1.kernel_size == (7, 7) and large.conv1.stride == (2, 2)
    assert isinstance(large.maxpool, nn.MaxPool2d)


# --------------------------------------------------------------------------- sizes


PARAM_CASES = [
    # name, num_classes, input_size, reference parameter count
    ("resnet18", 10, 32, 11_173_962),
    ("resnet18", 1000, 224, 11_689_512),
    ("resnet20", 10, 32, 270_000),
    ("resnet50", 1000, 224, 25_557_032),
    ("vgg16", 1000, 224, 138_365_992),
    ("vgg16", 10, 32, 14_728_266),
    ("wrn16-8", 10, 32, 11_000_000),
    ("wrn28-10", 10, 32, 36_479_194),
    ("densenet121", 1000, 224, 7_978_856),
    ("mobilenetv2", 1000, 224, 3_504_872),
]


@pytest.mark.parametrize(("name", "num_classes", "size", "expected"), PARAM_CASES)
def test_parameter_counts(name, num_classes, size, expected):
    model = meta_model(name, num_classes=num_classes, input_size=size)
    assert n_params(model) == pytest.approx(expected, rel=0.02)


MAC_CASES = [
    ("resnet18", 32, 0.56e9),
    ("resnet18", 224, 1.82e9),
    ("resnet20", 32, 41e6),
    ("resnet50", 224, 4.09e9),
    ("vgg16", 32, 313e6),
    ("vgg16", 224, 15.5e9),
    ("wrn28-10", 32, 5.25e9),
    ("densenet121", 224, 2.87e9),  # measured 2.83G; 2.87G is often quoted,
    ("mobilenetv2", 224, 300e6),
]


@pytest.mark.parametrize(("name", "size", "expected"), MAC_CASES)
def test_mac_counts(name, size, expected):
    model = meta_model(name, num_classes=10 if size <= 64 else 1000, input_size=size)
    assert count_macs(model, size) == pytest.approx(expected, rel=0.03)


def test_wide_resnet_helper_matches_named_models():
    with META:
        a = wide_resnet(28, 10)
        b = build_model("wrn28-10")
        c = wide_resnet(16, 8)
    assert n_params(a) == n_params(b)
    assert n_params(c) == n_params(meta_model("wrn16-8"))
    blocks = [m for m in a.layer1 if hasattr(m, "conv2")]
    assert len(blocks) == 4  # (28 - 4) / 6
    assert a.fc.in_features == 640


@pytest.mark.parametrize("depth", [15, 27, 4, 0])
def test_wide_resnet_bad_depth(depth):
    with pytest.raises(WorkloadError, match="depth"):
        wide_resnet(depth, 4)


# --------------------------------------------------------------------------- structure


def test_stable_resnet_names():
    names = dict(meta_model("resnet18").named_modules())
    for key in ("conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.shortcut.0", "fc"):
        assert key in names, key
    assert isinstance(names["layer2.0.shortcut.0"], nn.Conv2d)
    assert isinstance(names["layer2.0.shortcut.1"], nn.BatchNorm2d)
    assert "layer1.0.shortcut.0" not in names  # identity shortcut in stage 1
    names20 = dict(meta_model("resnet20").named_modules())
    assert names20["layer2.0.shortcut.0"].kernel_size == (1, 1)
    names50 = dict(meta_model("resnet50", input_size=224).named_modules())
    assert "layer1.0.shortcut.0" in names50
    assert names50["layer2.0.conv2"].stride == (2, 2)  # "v1.5": stride on the 3x3
    assert names50["layer2.0.conv1"].stride == (1, 1)


def test_names_are_deterministic():
    a = [n for n, _ in meta_model("densenet121").named_modules()]
    b = [n for n, _ in meta_model("densenet121").named_modules()]
    assert a == b


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_only_allowed_layers_and_bias_convention(name):
    model = meta_model(name)
    convs = linears = 0
    for mod_name, mod in model.named_modules():
        if mod is model or type(mod).__module__.startswith("workloads."):
            continue
        assert isinstance(mod, ALLOWED_MODULES), f"{name}: {mod_name} is {type(mod).__name__}"
        if isinstance(mod, nn.Conv2d):
            convs += 1
            assert mod.bias is None, f"{name}: {mod_name} has a bias"
        elif isinstance(mod, nn.Linear):
            linears += 1
            assert mod.bias is not None
    assert convs >= 3 and linears >= 1


def test_vgg16_structure():
    cifar = meta_model("vgg16")
    convs = [m for m in cifar.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in cifar.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == len(bns) == 13
    assert isinstance(cifar.classifier, nn.Linear) and cifar.classifier.in_features == 512
    big = meta_model("vgg16", num_classes=1000, input_size=224)
    linears = [m for m in big.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (25088, 4096),
        (4096, 4096),
        (4096, 1000),
    ]


def test_densenet121_structure():
    model = meta_model("densenet121", num_classes=1000, input_size=224)
    assert [len(getattr(model, f"block{i}")) for i in range(1, 5)] == [6, 12, 24, 16]
    assert model.conv1.kernel_size == (7, 7) and model.conv1.out_channels == 64
    assert model.trans1.conv.out_channels == (64 + 6 * 32) // 2
    assert model.fc.in_features == 1024
    cifar = meta_model("densenet121")
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    assert cifar.maxpool is None


def test_mobilenetv2_depthwise_convs():
    for size in (32, 224):
        model = meta_model("mobilenetv2", input_size=size)
        depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
        assert len(depthwise) == 17  # one per inverted-residual block
        for m in depthwise:
            assert m.groups == m.in_channels == m.out_channels
            assert m.kernel_size == (3, 3)
        assert model.conv_last.out_channels == 1280
        assert model.fc.in_features == 1280
    cifar = meta_model("mobilenetv2", input_size=32)
    imnet = meta_model("mobilenetv2", input_size=224)
    assert cifar.conv1.stride == (1, 1) and imnet.conv1.stride == (2, 2)
    # second setting row (t=6, c=24): stride 1 for CIFAR, 2 for ImageNet
    assert cifar.blocks[1].conv2.stride == (1, 1)
    assert imnet.blocks[1].conv2.stride == (2, 2)


# --------------------------------------------------------------------------- errors


def test_unknown_name():
    with pytest.raises(WorkloadError) as err:
        build_model("resnet1000")
    msg = str(err.value)
    assert msg == f"unknown model 'resnet1000'; choose one of {', '.join(MODEL_NAMES)}"


@pytest.mark.parametrize("name", sorted(CIFAR_ONLY))
def test_cifar_only_at_224(name):
    with pytest.raises(WorkloadError) as err:
        build_model(name, input_size=224)
    msg = str(err.value)
    assert name in msg and "32x32" in msg and "CIFAR" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("name", "size"),
    [("digits-cnn", 7), ("resnet18", 8), ("resnet20", 15), ("vgg16", 16), ("mobilenetv2", 4)],
)
def test_too_small_input(name, size):
    with pytest.raises(WorkloadError, match=f"input_size={size}") as err:
        build_model(name, input_size=size)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
        ({"input_size": 0}, "input_size"),
        ({"num_classes": 2.5}, "num_classes"),
    ],
)
def test_bad_arguments(kwargs, field):
    with pytest.raises(WorkloadError, match=field) as err:
        build_model("resnet20", **kwargs)
    assert "\n" not in str(err.value)


def test_workload_error_is_value_error():
    with pytest.raises(ValueError):
        build_model("nope")
