"""Tests for training.metrics: evaluation, weight/filter density, activation density,
dead-neuron rates on handmade networks, training FLOPs and the epoch record."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from accelsim.errors import ConfigError  # noqa: E402
from accelsim.flops import spec_flops  # noqa: E402
from accelsim.spec.geometry import LayerGeometry  # noqa: E402
from training.metrics import (  # noqa: E402
    FLOPS_PER_MAC,
    epoch_metrics,
    evaluate,
    flops_summary,
    training_flops,
    weight_stats,
)
from training.monitors import ActivationDensityMonitor, DeadNeuronMonitor  # noqa: E402
from training.sparsifier import Sparsifier  # noqa: E402
from workloads.tables import derive_layer_table  # noqa: E402


def loader_of(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(10, 1, 6, 6, generator=g), torch.randint(0, 3, (10,), generator=g)


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_matches_direct_computation(tiny_cnn, batch):
    x, y = batch
    tiny_cnn.eval()
    with torch.no_grad():
        out = tiny_cnn(x)
    tiny_cnn.train()
    loss, acc = evaluate(tiny_cnn, loader_of(x, y, 3))  # uneven batches: 3+3+3+1
    assert loss == pytest.approx(float(F.cross_entropy(out, y)), rel=1e-6)
    assert acc == pytest.approx(float((out.argmax(1) == y).float().mean()))


def test_evaluate_restores_mode_and_makes_no_gradients(tiny_cnn, batch):
    running = tiny_cnn.bn1.running_mean.clone()
    tiny_cnn.train()
    evaluate(tiny_cnn, loader_of(*batch, 4))
    assert tiny_cnn.training and all(m.training for m in tiny_cnn.modules())
    assert all(p.grad is None for p in tiny_cnn.parameters())
    assert torch.equal(running, tiny_cnn.bn1.running_mean)  # eval mode: BN stats untouched
    tiny_cnn.eval()
    evaluate(tiny_cnn, loader_of(*batch, 4))
    assert not tiny_cnn.training


def test_evaluate_rejects_empty_loader(tiny_cnn):
    with pytest.raises(ConfigError, match="no samples"):
        evaluate(tiny_cnn, [])


# ----------------------------------------------------------------------------- weights


def test_weight_density_and_zero_filters_by_hand():
    conv = torch.ones(4, 2, 3, 3, dtype=torch.bool)
    conv[0] = False                    # filter 0 all zero
    conv[1, 0] = False                 # filter 1 half zero: 9 of 18 kept
    fc = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.5, -2.0]])  # values: non-zero = kept
    ws = weight_stats({"conv": conv, "fc": fc})
    assert ws.density["conv"] == pytest.approx((72 - 18 - 9) / 72)
    assert ws.zero_filters["conv"] == pytest.approx(1 / 4)
    assert ws.density["fc"] == pytest.approx(3 / 6)
    assert ws.zero_filters["fc"] == pytest.approx(1 / 3)
    # pooled over all weights / filters, not a mean of layer fractions
    assert ws.overall_density == pytest.approx((45 + 3) / (72 + 6))
    assert ws.overall_zero_filters == pytest.approx(2 / 7)


def test_weight_stats_from_a_sparsifier(tiny_cnn):
    with torch.no_grad():
        tiny_cnn.conv2.weight[1:3] = 0
    ws = weight_stats(Sparsifier(tiny_cnn).weight_masks())
    assert set(ws.density) == {"conv1", "conv2", "fc"}
    assert ws.density["conv1"] == 1.0 and ws.zero_filters["conv2"] == 0.5
    assert json.loads(json.dumps(ws.to_dict()))["zero_filters"]["layers"]["conv2"] == 0.5


def test_weight_stats_rejects_bad_masks():
    with pytest.raises(ConfigError, match="sparsifier.weight_masks"):
        weight_stats({})
    with pytest.raises(ConfigError, match="layer b"):
        weight_stats({"b": torch.ones(3)})


# ----------------------------------------------------------------------------- activations


def test_activation_density_is_pooled_over_batches():
    fc = nn.Linear(4, 2)
    with ActivationDensityMonitor({"fc": fc}) as mon:
        fc(torch.ones(1, 4))           # 1 sample, all non-zero
        fc(torch.zeros(3, 4))          # 3 samples, all zero
    assert mon.counts() == {"fc": (4, 16)}
    assert mon.densities() == {"fc": 0.25}  # not (1 + 0) / 2
    assert mon.overall_density() == 0.25


def test_activation_density_per_layer_and_hooks_removed(tiny_cnn):
    x = torch.randn(2, 1, 6, 6)
    x[:, :, :3] = 0                    # half the input image is zero
    with ActivationDensityMonitor(tiny_cnn) as mon:
        tiny_cnn(x)
    dens = mon.densities()
    assert dens["conv1"] == 0.5
    assert 0 < dens["conv2"] <= 1 and 0 < dens["fc"] <= 1
    assert all(not m._forward_pre_hooks for m in tiny_cnn.modules())
    tiny_cnn(x)                         # after exit nothing is counted
    assert mon.densities() == dens


def test_activation_density_counts_every_call_and_unseen_layers():
    shared, unused = nn.Linear(2, 2), nn.Linear(2, 2)
    with ActivationDensityMonitor({"shared": shared, "unused": unused}) as mon:
        shared(shared(torch.tensor([[1.0, 0.0]])).detach() * 0)
    assert mon.counts()["shared"] == (1, 4)
    assert mon.densities()["unused"] is None


# ----------------------------------------------------------------------------- dead neurons


class Handmade(nn.Module):
    """1x1 conv with 3 channels on a 1x2 image, then one ReLU module called twice.

    channel 0 = x (weight 1, bias 0); channel 1 = -1 (weight 0: "pruned", bias -1);
    channel 2 = +1 (weight 0, bias +1).  Second call: relu(h - 0.5).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, -1.0, 1.0]))
        self.relu = nn.ReLU(inplace=inplace)

    def forward(self, x):
        h = self.relu(self.conv(x))
        return self.relu(h - 0.5).flatten(1)


HANDMADE_X = torch.tensor([[1.0, -1.0], [2.0, 0.25], [-3.0, 0.75], [0.5, 2.0]]).view(4, 1, 1, 2)
# By hand, N = 2 call sites x 3 channels x 2 pixels = 12 neurons per sample, n = 4:
#   call 1: channel 0 dead where x <= 0 (2 of 8), channel 1 always (8), channel 2 never;
#   call 2: channel 0 dead where x <= 0.5 (4 of 8), channel 1 always (8), channel 2 never.
#   dead sample-neurons = 10 + 12 = 22 -> DNR = 22 / 48.
#   static: channel 1 at both calls (constant pre-activation <= 0) = 4 -> static DNR = 4/12.
#   dynamic DNR = (22 - 4 * 4) / 48 = 6 / 48.


@pytest.mark.parametrize("inplace", [False, True])
def test_dnr_of_a_handmade_network(inplace):
    model = Handmade(inplace)
    with DeadNeuronMonitor(model) as mon:
        model(HANDMADE_X)
    r = mon.result()
    assert (r.samples, r.neurons, r.dead, r.static_neurons) == (4, 12, 22, 4)
    assert r.dnr == pytest.approx(22 / 48)
    assert r.static_dnr == pytest.approx(16 / 48)
    assert r.dynamic_dnr == pytest.approx(6 / 48)
    assert list(r.sites) == ["relu", "relu#2"]
    assert r.sites["relu"]["dnr"] == pytest.approx(10 / 24)
    assert r.sites["relu#2"]["dynamic_dnr"] == pytest.approx(4 / 24)


def test_dnr_does_not_depend_on_batching():
    model = Handmade()
    with DeadNeuronMonitor(model) as whole:
        model(HANDMADE_X)
    with DeadNeuronMonitor(model) as split:
        for i in range(4):
            model(HANDMADE_X[i:i + 1])
    assert whole.result() == split.result()


def test_always_zero_but_input_dependent_neuron_is_dynamic():
    """Every sample negative but different: call 1's channel 0 is dead in all samples, yet
    input-dependent, so dynamic; at call 2 its pre-activation is relu(x) - 0.5 = -0.5 for
    every sample (input-independent through the dead upstream neuron), so static."""
    model = Handmade()
    x = torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]).view(2, 1, 1, 2)
    with DeadNeuronMonitor(model) as mon:
        model(x)
    r = mon.result()
    # channels 0 and 1 dead at both calls: 2 calls x 2 channels x 2 px x 2 samples
    assert r.dead == 16
    assert r.sites["relu"]["static_dnr"] == pytest.approx(2 / 6)       # channel 1 only
    assert r.sites["relu"]["dynamic_dnr"] == pytest.approx(4 / 12)     # channel 0
    assert r.sites["relu#2"]["static_dnr"] == pytest.approx(4 / 6)     # channels 0 and 1
    assert r.static_neurons == 6
    assert r.dynamic_dnr == pytest.approx((16 - 2 * 6) / (2 * 12))


def test_pruned_filter_before_batch_norm_is_static_only_when_shift_is_negative():
    """conv filter all zero -> BN (eval) outputs the constant shift; ReLU kills it iff the
    shift is <= 0 (the paper's statically dead neuron)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2),
                          nn.ReLU())
    with torch.no_grad():
        model[0].weight[1] = 0
        model[1].bias.copy_(torch.tensor([0.0, -0.1]))
    model.eval()
    x = torch.randn(8, 1, 4, 4)
    with DeadNeuronMonitor(model) as mon:
        model(x)
    r = mon.result()
    assert r.static_neurons == 16 and r.static_dnr == pytest.approx(0.5)
    assert r.dynamic_dnr > 0          # channel 0 is dead for some inputs only
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([0.0, 0.1]))
    with DeadNeuronMonitor(model) as mon:
        model(x)
    assert mon.result().static_neurons == 0


def test_pruned_filter_on_a_residual_add_is_not_static():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)
            nn.init.zeros_(self.conv.weight)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv(x) + x)

    model = Block()
    x = torch.tensor([-1.0, -2.0, 3.0]).view(3, 1, 1, 1)
    with DeadNeuronMonitor(model) as mon:
        model(x)
    r = mon.result()
    assert r.dnr == pytest.approx(2 / 3) and r.static_neurons == 0


def test_dead_neuron_monitor_hooks_removed_and_errors():
    model = Handmade()
    with DeadNeuronMonitor(model) as mon:
        pass
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(ConfigError, match="saw no ReLU call"):
        mon.result()
    with DeadNeuronMonitor(model) as mon:
        model(HANDMADE_X[:1])
    with pytest.raises(ConfigError, match=">= 2 samples"):
        mon.result()
    with pytest.raises(ConfigError, match="no nn.ReLU"):
        DeadNeuronMonitor(nn.Linear(2, 2))
    with DeadNeuronMonitor(model) as mon:
        model(HANDMADE_X)
        with pytest.raises(ConfigError, match="fixed-size"):
            model(torch.zeros(2, 1, 1, 3))


def test_relu6_is_watched():
    model = nn.Sequential(nn.Linear(1, 2), nn.ReLU6())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [0.0]]))
        model[0].bias.copy_(torch.tensor([0.0, -1.0]))
    with DeadNeuronMonitor(model) as mon:
        model(torch.tensor([[1.0], [-1.0], [10.0]]))
    r = mon.result()
    assert r.dead == 1 + 3 and r.static_neurons == 1


# ----------------------------------------------------------------------------- FLOPs


@pytest.fixture
def geometries(tiny_cnn):
    return derive_layer_table(tiny_cnn, (1, 6, 6))


def test_dense_training_flops_match_the_spec_accounting(geometries):
    ours = training_flops(geometries, {g.name: 1.0 for g in geometries})
    spec = spec_flops(geometries, "dense", 0.0)
    for p in ("forward", "backward_input", "backward_weight"):
        for what in ("dense_macs", "effectual_macs"):
            assert ours.total(p, what) == pytest.approx(spec.total(p, what))
    assert ours.training_flops_reduction == pytest.approx(0.0)


def test_training_flops_formulas(geometries):
    wd = {"conv1": 1.0, "conv2": 0.25, "fc": 0.5}
    ad = {"conv1": 0.9, "conv2": 0.6, "fc": 0.8}
    saved = {"conv2": 0.1}
    r = training_flops(geometries, wd, activation_density=ad, saved_activation_density=saved,
                       samples=3)
    by_name = {lf.geometry.name: lf for lf in r.layers}
    first, conv2 = by_name["conv1"], by_name["conv2"]
    d = conv2.geometry.macs_per_sample * 3
    assert conv2.passes["forward"].effectual_macs == pytest.approx(d * 0.25 * 0.6)
    assert conv2.passes["backward_input"].effectual_macs == pytest.approx(d * 0.25)
    assert conv2.passes["backward_weight"].effectual_macs == pytest.approx(d * 0.1)
    fc = by_name["fc"]   # no saved density given: the forward input's
    assert fc.passes["backward_weight"].effectual_macs == pytest.approx(
        fc.geometry.macs_per_sample * 3 * 0.8)
    assert "backward_input" not in first.passes   # the first layer's input needs no gradient
    assert r.batch == 3


def test_repeated_layer_uses_its_base_densities():
    g1 = LayerGeometry(name="fc", kind="linear", in_channels=4, out_channels=4)
    g2 = LayerGeometry(name="fc#2", kind="linear", in_channels=4, out_channels=4)
    r = training_flops([g1, g2], {"fc": 0.5})
    assert r.layers[1].passes["forward"].effectual_macs == pytest.approx(8.0)


def test_flops_summary_per_sample_and_epoch(geometries):
    r = training_flops(geometries, {g.name: 0.5 for g in geometries})
    s = flops_summary(r, train_samples=100)
    dense_macs = sum(r.total(p, "dense_macs")
                     for p in ("forward", "backward_input", "backward_weight"))
    assert s["per_sample"]["dense"] == FLOPS_PER_MAC * dense_macs
    assert s["per_epoch"]["effectual"] == pytest.approx(100 * s["per_sample"]["effectual"])
    assert s["training_flops_reduction"] == pytest.approx(r.training_flops_reduction)
    with pytest.raises(ConfigError, match="per-sample"):
        flops_summary(training_flops(geometries, {g.name: 1.0 for g in geometries},
                                     samples=2), train_samples=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"weight_density": {"conv1": 1.0}}, "no weight density for layer conv2"),
    ({"activation_density": {"conv1": 1.5, "conv2": 1.0, "fc": 1.0}}, "in \\[0, 1\\]"),
    ({"activation_density": {"conv1": None, "conv2": 1.0, "fc": 1.0}}, "layer conv1"),
    ({"samples": 0}, "samples")])
def test_training_flops_bad_input(geometries, kwargs, match):
    args = {"weight_density": {"conv1": 1.0, "conv2": 1.0, "fc": 1.0}, **kwargs}
    wd = args.pop("weight_density")
    with pytest.raises(ConfigError, match=match):
        training_flops(geometries, wd, **args)
    with pytest.raises(ConfigError, match="derive_layer_table"):
        training_flops([], wd)


# ----------------------------------------------------------------------------- epoch record


def test_epoch_record_is_json_and_complete(tiny_cnn, batch, geometries):
    x, y = batch
    with torch.no_grad():
        tiny_cnn.conv2.weight[0] = 0
    sparsifier = Sparsifier(tiny_cnn)
    with ActivationDensityMonitor(sparsifier.layers) as train_mon:
        tiny_cnn(x)
    record = epoch_metrics(tiny_cnn, sparsifier, loader_of(x, y, 4), epoch=2,
                           train_loss=float("nan"), train_accuracy=0.5, train_samples=50,
                           geometries=geometries, train_activation=train_mon,
                           saved_activation_density={"conv2": 0.5},
                           extra={"lr": 0.1, "phase": "dense"})
    text = json.dumps(record, allow_nan=False)
    assert json.loads(text) == record
    assert record["epoch"] == 2 and record["lr"] == 0.1 and record["train"]["loss"] is None
    assert record["test"]["samples"] == 10
    loss, acc = evaluate(tiny_cnn, loader_of(x, y, 10))
    assert record["test"]["loss"] == pytest.approx(loss) and record["test"]["accuracy"] == acc
    assert record["zero_filters"]["layers"]["conv2"] == 0.25
    assert record["weight_density"]["layers"]["conv1"] == 1.0
    assert record["activation_density"]["train"]["layers"] == train_mon.densities()
    assert record["activation_density"]["test"]["layers"]["conv1"] == 1.0
    assert 0 <= record["dead_neurons"]["dnr"] <= 1
    assert math.isclose(record["dead_neurons"]["dnr"], record["dead_neurons"]["static_dnr"]
                        + record["dead_neurons"]["dynamic_dnr"])
    assert record["flops"]["activation_density_from"] == "train"
    assert record["flops"]["per_epoch"]["dense"] == 50 * record["flops"]["per_sample"]["dense"]
    assert tiny_cnn.training and all(not m._forward_pre_hooks for m in tiny_cnn.modules())


def test_epoch_record_without_optional_parts(batch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))     # no ReLU module
    record = epoch_metrics(model, Sparsifier(model), loader_of(*batch, 5), epoch=0,
                           train_loss=1.0, train_accuracy=0.1, train_samples=10)
    assert record["dead_neurons"] is None and record["flops"] is None
    assert record["activation_density"]["train"] is None
    with pytest.raises(ConfigError, match="overwrite"):
        epoch_metrics(model, Sparsifier(model), loader_of(*batch, 5), epoch=0, train_loss=1.0,
                      train_accuracy=0.1, train_samples=10, extra={"test": 1})
