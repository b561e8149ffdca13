"""Layer tables: the shipped JSON tables are derived from the torch models (re-derived and
compared here), known network totals, per-layer fields, derive_layer_table on a user's
own model, and the catalog's look-up rules.  Everything runs on the meta device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.networks.catalog import (  # noqa: E402
    TABLE_DIR,
    layer_table,
    model_input,
    standard_pairs,
    table_path,
)
from accelsim.spec.geometry import LayerGeometry, network_macs  # noqa: E402
from workloads.tables import derive_layer_table, model_layer_table, table_document  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PAIRS = standard_pairs()


# ---- shipped tables are derived, not typed ----------------------------------------------
def test_standard_pairs_cover_every_shipped_file():
    assert len(PAIRS) == len(set(PAIRS)) == 33
    shipped = {p.name for p in TABLE_DIR.glob("*.json")}
    assert shipped == {table_path(m, d).name for m, d in PAIRS}


@pytest.mark.parametrize(("model", "dataset"), PAIRS, ids=[f"{m}-{d}" for m, d in PAIRS])
def test_shipped_table_equals_fresh_derivation(model, dataset):
    inp = model_input(model, dataset)
    derived = model_layer_table(inp)
    shipped = layer_table(model, dataset)
    assert shipped == derived
    # the whole document (input shape, classes, MAC total, per-layer macs) matches too
    with open(table_path(model, dataset)) as fh:
        doc = json.load(fh)
    assert doc == json.loads(json.dumps(table_document(inp, derived)))
    names = [g.name for g in shipped]
    assert len(names) == len(set(names))


# ---- known totals -----------------------------------------------------------------------
@pytest.mark.parametrize(("model", "dataset", "low", "high"), [
    ("resnet50", "imagenet", 4.0e9, 4.2e9),
    ("resnet18", "imagenet", 1.75e9, 1.85e9),
    ("resnet18", "cifar10", 0.56e9 * 0.97, 0.56e9 * 1.03),
    ("vgg16", "cifar10", 0.31e9 * 0.97, 0.31e9 * 1.03),
    ("resnet20", "cifar10", 41e6 * 0.97, 41e6 * 1.03),
    ("mobilenetv2", "imagenet", 300e6 * 0.97, 300e6 * 1.03),
])
def test_known_mac_totals(model, dataset, low, high):
    assert low <= network_macs(layer_table(model, dataset)) <= high


@pytest.mark.parametrize(("model", "dataset", "n_conv", "n_linear"), [
    ("resnet50", "imagenet", 53, 1),
    ("resnet18", "cifar10", 20, 1),   # 17 convs + 3 projection shortcuts
    ("vgg16", "cifar10", 13, 1),
    ("resnet20", "cifar10", 21, 1),   # 19 convs + 2 projection shortcuts
])
def test_layer_counts(model, dataset, n_conv, n_linear):
    table = layer_table(model, dataset)
    assert sum(g.kind == "conv" for g in table) == n_conv
    assert sum(g.kind == "linear" for g in table) == n_linear
    assert len(table) == n_conv + n_linear


def test_resnet18_cifar_shortcuts():
    shortcuts = [g for g in layer_table("resnet18", "cifar10") if "shortcut" in g.name]
    assert [g.name for g in shortcuts] == ["layer2.0.shortcut.0", "layer3.0.shortcut.0",
                                           "layer4.0.shortcut.0"]
    assert all(g.kernel_h == g.kernel_w == 1 and g.stride_h == g.stride_w == 2
               for g in shortcuts)


# ---- per-layer fields -------------------------------------------------------------------
def by_name(table) -> dict[str, LayerGeometry]:
    return {g.name: g for g in table}


def test_resnet50_imagenet_stem():
    first = layer_table("resnet50", "imagenet")[0]
    assert first == LayerGeometry(name="conv1", kind="conv", in_channels=3, out_channels=64,
                                  kernel_h=7, kernel_w=7, stride_h=2, stride_w=2,
                                  padding_h=3, padding_w=3, input_h=224, input_w=224,
                                  output_h=112, output_w=112)
    assert first.macs_per_sample == 64 * 112 * 112 * 3 * 7 * 7


def test_resnet50_stride_on_the_3x3_v1_5():
    t = by_name(layer_table("resnet50", "imagenet"))
    c1, c2, c3 = t["layer2.0.conv1"], t["layer2.0.conv2"], t["layer2.0.conv3"]
    assert (c1.kernel_h, c1.stride_h, c1.in_channels, c1.out_channels) == (1, 1, 256, 128)
    assert (c1.input_h, c1.output_h) == (56, 56)
    assert (c2.kernel_h, c2.kernel_w, c2.stride_h, c2.stride_w) == (3, 3, 2, 2)
    assert (c2.padding_h, c2.padding_w, c2.in_channels, c2.out_channels) == (1, 1, 128, 128)
    assert (c2.input_h, c2.input_w, c2.output_h, c2.output_w) == (56, 56, 28, 28)
    assert (c3.kernel_h, c3.stride_h, c3.in_channels, c3.out_channels) == (1, 1, 128, 512)
    sc = t["layer2.0.shortcut.0"]
    assert (sc.kernel_h, sc.stride_h, sc.in_channels, sc.out_channels) == (1, 2, 256, 512)
    assert (sc.input_h, sc.output_h) == (56, 28)
    # every 3x3 of the later blocks is stride 1
    assert all(g.stride_h == 1 for n, g in t.items() if n.startswith("layer2.1."))


def test_mobilenetv2_depthwise_layers():
    table = layer_table("mobilenetv2", "imagenet")
    grouped = [g for g in table if g.groups > 1]
    assert len(grouped) == 17  # one depthwise 3x3 per inverted-residual block
    for g in grouped:
        assert g.groups == g.in_channels == g.out_channels
        assert (g.kernel_h, g.kernel_w) == (3, 3)
        assert g.name.endswith(".conv2")
        assert g.reduction_size == 9
        assert g.weight_shape() == (g.out_channels, 1, 3, 3)
    assert all(g.groups == 1 for g in table if g not in grouped)


@pytest.mark.parametrize(("model", "dataset", "fc_in", "classes"), [
    ("resnet50", "imagenet", 2048, 1000),
    ("resnet18", "cifar100", 512, 100),
    ("mobilenetv2", "cifar10", 1280, 10),
    ("digits-cnn", "digits", 128, 10),
])
def test_fc_is_linear_with_unit_geometry(model, dataset, fc_in, classes):
    g = layer_table(model, dataset)[-1]
    assert g == LayerGeometry(name="fc", kind="linear", in_channels=fc_in, out_channels=classes)
    assert (g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w) == (1,) * 6
    assert (g.padding_h, g.padding_w, g.groups) == (0, 0, 1)
    assert (g.input_h, g.input_w, g.output_h, g.output_w) == (1, 1, 1, 1)
    assert g.macs_per_sample == fc_in * classes


@pytest.mark.parametrize(("model", "dataset"), PAIRS, ids=[f"{m}-{d}" for m, d in PAIRS])
def test_execution_order_stem_first_classifier_last(model, dataset):
    table = layer_table(model, dataset)
    inp = model_input(model, dataset)
    first, last = table[0], table[-1]
    assert first.kind == "conv" and first.name in ("conv1", "features.0")
    assert first.in_channels == inp.in_channels
    assert (first.input_h, first.input_w) == (inp.input_size, inp.input_size)
    assert last.kind == "linear" and last.out_channels == inp.num_classes
    assert last.name in ("fc", "classifier", "classifier.6")
    assert all(g.kind == "conv" for g in table if g.name.split(".")[0] != "classifier"
               and g.name != "fc")


def test_resnet18_execution_order_exact():
    names = [g.name for g in layer_table("resnet18", "cifar10")]
    want = ["conv1"]
    for stage in range(1, 5):
        for block in range(2):
            prefix = f"layer{stage}.{block}."
            want += [prefix + "conv1", prefix + "conv2"]
            if stage > 1 and block == 0:
                want.append(prefix + "shortcut.0")
    want.append("fc")
    assert names == want


def test_vgg16_cifar_chain():
    table = layer_table("vgg16", "cifar10")
    convs = table[:-1]
    sizes = [g.input_h for g in convs]
    assert sizes == [32, 32, 16, 16, 8, 8, 8, 4, 4, 4, 2, 2, 2]
    for a, b in zip(convs, convs[1:], strict=False):
        assert b.in_channels == a.out_channels
    assert table[-1].name == "classifier" and table[-1].in_channels == 512


# ---- derive_layer_table on a user's model -----------------------------------------------
class UserNet(nn.Module):
    """Not from the zoo: dilation, non-square kernel, groups, a shared module, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.dil = nn.Conv2d(3, 8, 3, padding=2, dilation=2)
        self.tall = nn.Conv2d(8, 4, (3, 1), stride=(2, 1), padding=(1, 0), groups=2)
        self.shared = nn.Conv2d(4, 4, 1, bias=False)
        self.act = nn.ReLU()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 5 * 12, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.dil(x))
        x = self.tall(x)
        x = self.shared(self.act(self.shared(x)))
        return self.head(x)


USER_INPUT = (3, 10, 12)


def test_derive_user_model_every_field():
    table = derive_layer_table(UserNet(), USER_INPUT)
    assert [g.name for g in table] == ["dil", "tall", "shared", "shared#2", "head.1"]
    dil, tall, shared, shared2, head = table
    assert dil == LayerGeometry(name="dil", kind="conv", in_channels=3, out_channels=8,
                                kernel_h=3, kernel_w=3, stride_h=1, stride_w=1, padding_h=2,
                                padding_w=2, dilation_h=2, dilation_w=2, groups=1,
                                input_h=10, input_w=12, output_h=10, output_w=12)
    assert tall == LayerGeometry(name="tall", kind="conv", in_channels=8, out_channels=4,
                                 kernel_h=3, kernel_w=1, stride_h=2, stride_w=1, padding_h=1,
                                 padding_w=0, dilation_h=1, dilation_w=1, groups=2,
                                 input_h=10, input_w=12, output_h=5, output_w=12)
    want_shared = dict(kind="conv", in_channels=4, out_channels=4, kernel_h=1, kernel_w=1,
                       input_h=5, input_w=12, output_h=5, output_w=12)
    assert shared == LayerGeometry(name="shared", **want_shared)
    assert shared2 == LayerGeometry(name="shared#2", **want_shared)
    assert head == LayerGeometry(name="head.1", kind="linear", in_channels=240, out_channels=6)
    # derived numbers follow from the fields
    assert dil.macs_per_sample == 8 * 10 * 12 * 3 * 9
    assert tall.reduction_size == 4 * 3 and tall.weight_shape() == (4, 4, 3, 1)
    assert tall.macs_per_sample == 4 * 5 * 12 * 4 * 3
    assert head.macs_per_sample == 240 * 6


def test_derive_does_not_touch_the_model():
    torch.manual_seed(0)
    model = UserNet()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    derive_layer_table(model, USER_INPUT)
    assert model.training
    after = model.state_dict()
    assert set(after) == set(before)
    for k, v in after.items():
        assert v.device.type == "cpu"
        assert torch.equal(v, before[k]), k
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())
    # and the model still runs for real
    out = model(torch.randn(2, *USER_INPUT))
    assert out.shape == (2, 6)


def test_derive_is_repeatable():
    model = UserNet()
    assert derive_layer_table(model, USER_INPUT) == derive_layer_table(model, USER_INPUT)


def test_derive_records_batch_of_one_for_linear_only_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
    assert derive_layer_table(model, (3, 2, 2)) == (
        LayerGeometry(name="1", kind="linear", in_channels=12, out_channels=5),
        LayerGeometry(name="3", kind="linear", in_channels=5, out_channels=2),
    )


def test_derive_model_without_conv_or_linear():
    with pytest.raises(WorkloadError, match="no Conv2d or Linear"):
        derive_layer_table(nn.Sequential(nn.ReLU(), nn.Flatten()), (3, 8, 8))


@pytest.mark.parametrize("shape", [(3, 10), (3, 10, 12, 1), (3, 0, 12), (0, 10, 12),
                                   (5, 10, 12), (3, 1, 1)])
def test_derive_wrong_input_shape(shape):
    with pytest.raises(WorkloadError):
        derive_layer_table(UserNet(), shape)


def test_derive_same_padding_is_rejected():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), nn.Flatten(), nn.Linear(64, 2))
    with pytest.raises(WorkloadError, match="padding"):
        derive_layer_table(model, (3, 4, 4))


def test_derive_non_zero_padding_mode_is_rejected():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(WorkloadError, match="padding_mode"):
        derive_layer_table(model, (3, 4, 4))


def test_derive_linear_on_a_sequence_is_rejected():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x):
            return self.proj(x.flatten(2).transpose(1, 2))

    with pytest.raises(WorkloadError, match="proj"):
        derive_layer_table(Tokens(), (4, 2, 2))


# ---- catalog look-ups -------------------------------------------------------------------
def test_non_standard_input_size_is_derived():
    table = layer_table("resnet18", "imagenet", input_size=64, derive=model_layer_table)
    assert table == model_layer_table(model_input("resnet18", "imagenet", 64))
    first = table[0]
    assert (first.input_h, first.input_w) == (64, 64)
    # 64 <= 64 selects the CIFAR stem (3x3 stride 1); the last stage sees 64/8 = 8
    assert (first.kernel_h, first.stride_h, first.output_h) == (3, 1, 64)
    last_conv = table[-2]
    assert last_conv.name == "layer4.1.conv2"
    assert (last_conv.input_h, last_conv.output_h) == (8, 8)
    assert table[-1].out_channels == 1000
    # every conv sees 4x the pixels it sees at 32x32, the fc is unchanged
    small = layer_table("resnet18", "cifar10")
    assert [g.name for g in table] == [g.name for g in small]
    for big, sm in zip(table, small, strict=True):
        if big.kind == "conv":
            assert big.macs_per_sample == 4 * sm.macs_per_sample
            assert (big.input_h, big.input_w) == (2 * sm.input_h, 2 * sm.input_w)


def test_large_non_standard_size_uses_the_imagenet_stem():
    table = layer_table("resnet18", "cifar10", input_size=128, derive=model_layer_table)
    first = table[0]
    assert (first.kernel_h, first.stride_h, first.input_h, first.output_h) == (7, 2, 128, 64)
    assert table[-1].out_channels == 10


def test_dataset_path_suffix_resolves_to_the_data_set():
    assert layer_table("resnet20", "cifar10:/some/where") == layer_table("resnet20", "cifar10")


@pytest.mark.parametrize(("model", "dataset", "kw"), [
    ("resnet99", "cifar10", {}),
    ("resnet18", "svhn", {}),
    ("resnet20", "imagenet", {}),
    ("wrn16-8", "imagenet", {}),
    ("wrn28-10", "cifar10", {"input_size": 224}),
    ("resnet18", "cifar10", {"input_size": 0}),
    ("resnet18", "cifar10", {"input_size": -32}),
    ("resnet18", "cifar10", {"input_size": 32.0}),
    ("resnet18", "cifar10", {"input_size": True}),
    ("vgg16", "cifar10", {"input_size": 16}),   # too small for five 2x2 max-pools
])
def test_bad_lookups_raise_workload_error(model, dataset, kw):
    with pytest.raises(WorkloadError):
        layer_table(model, dataset, **kw)


def test_digits_dataset_shapes():
    digits = layer_table("digits-cnn", "digits")[0]
    assert digits.in_channels == 1 and (digits.input_h, digits.input_w) == (8, 8)
    r18 = layer_table("resnet18", "digits")[0]
    assert r18.in_channels == 1 and (r18.input_h, r18.input_w) == (32, 32)
    assert layer_table("resnet18", "digits")[-1].out_channels == 10
    inp = model_input("digits-cnn", "digits")
    assert (inp.in_channels, inp.input_size, inp.num_classes) == (1, 8, 10)


def test_catalog_and_synthetic_do_not_import_torch():
    code = ("import accelsim.networks.catalog, accelsim.trace.synthetic, accelsim.api, accelsim.flops, sys; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_standard_table_loads_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from accelsim.networks.catalog import layer_table\n"
            "assert len(layer_table('resnet50', 'imagenet')) == 54\n"
            "from accelsim.errors import WorkloadError\n"
            "try:\n"
            "    layer_table('resnet18', 'cifar10', input_size=48)\n"
            "except WorkloadError as exc:\n"
            "    assert 'torch' in str(exc)\n"
            "else:\n"
            "    raise SystemExit('derived without torch?')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
