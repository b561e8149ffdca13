"""SWAT: the three passes, distributions, periodic Top-K, SWAT-M, persistence."""

import copy

import pytest
import torch
import torch.nn.functional as F

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import layer_densities
from training.layers import prunable_layers, weight_geometry
from training.methods import swat
from training.methods.swat_config import SwatConfig
from training.topk import topk_mask


def test_three_passes_are_exactly_swat(tiny_net):
    model = tiny_net()
    ref = copy.deepcopy(model)
    swat.apply(model, SwatConfig.for_method("swat-u", 0.75))
    x = torch.randn(4, 3, 8, 8)
    out = model(x)
    out.square().sum().backward()

    # the same computation by hand from the dense copy
    c1, bn, c2, fc = ref[0], ref[1], ref[3], ref[6]
    h1 = F.relu(bn(c1(x)))                                    # first layer dense
    w2 = c2.weight.detach() * topk_mask(c2.weight, 0.25)      # Top-K weights
    a2 = h1.detach() * topk_mask(h1, 0.25)                    # Top-K saved activation
    h1 = h1.detach().requires_grad_()
    z2 = F.conv2d(h1, w2, c2.bias, stride=2, padding=1)       # forward: dense input
    f = F.relu(z2).flatten(1)
    w3 = fc.weight.detach() * topk_mask(fc.weight, 0.25)
    a3 = f.detach() * topk_mask(f, 0.25)
    o = F.linear(f, w3, fc.bias)
    assert torch.allclose(o, out, atol=1e-6)
    g = 2 * o.detach()                                        # dense output gradient
    assert torch.allclose(model[6].weight.grad, g.t() @ a3, atol=1e-4)
    gf = g @ w3                                               # backward-input: Top-K W
    gz2 = gf.reshape(z2.shape) * (z2 > 0)
    gw2 = torch.nn.grad.conv2d_weight(a2, w2.shape, gz2, stride=2, padding=1)
    assert torch.allclose(model[3].weight.grad, gw2, atol=1e-4)
    gx2 = torch.nn.grad.conv2d_input(h1.shape, w2, gz2, stride=2, padding=1)
    (gh1,) = torch.autograd.grad(z2, h1, gz2)
    assert torch.allclose(gx2, gh1, atol=1e-5)
    # the weight gradient is dense: masked weights learn too
    assert (model[3].weight.grad != 0).float().mean() > 0.5


def test_bn_is_never_sparsified_and_first_layer_stays_dense(tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig.for_method("swat-u", 0.9))
    assert list(sp.layers) == ["0", "3", "6"]
    assert sp.target_densities() == {"0": 1.0, "3": pytest.approx(0.1), "6": pytest.approx(0.1)}
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    d = sp.measured_densities()
    assert d["0"]["weight"] == 1.0 and d["0"]["saved_activation"] == 1.0
    assert d["3"]["weight"] == pytest.approx(0.1, abs=0.01)


def test_erk_densities_follow_the_shared_distribution(tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig.for_method("swat-erk", 0.8))
    geoms = [weight_geometry(n, m) for n, m in prunable_layers(model).items()]
    want = layer_densities(geoms, 0.8, distribution="erk", first_layer_dense=False)
    assert tuple(sp.target_densities().values()) == pytest.approx(want)
    kept = sum(d * g.weight_count for d, g in zip(want, geoms, strict=True))
    assert kept == pytest.approx(0.2 * sum(g.weight_count for g in geoms))


def test_overrides_by_pattern_and_unknown_pattern(tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig(sparsity=0.9, overrides=(("6", 0.5),)))
    assert sp.target_densities()["6"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="match no"):
        swat.apply(tiny_net(), SwatConfig(sparsity=0.9, overrides=(("layer9*", 0.5),)))


@pytest.mark.parametrize("kwargs, match", [
    ({"sparsity": 1.0}, "sparsity"), ({"period": 0}, "period"),
    ({"distribution": "random"}, "distribution"), ({"weight_topk": "rows"}, "variant"),
    ({"activation_topk": "kernel"}, "variant"), ({"min_density": 0.0}, "min_density")])
def test_bad_configs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SwatConfig(**kwargs)
    with pytest.raises(ConfigError, match="unknown SWAT method"):
        SwatConfig.for_method("swat-x", 0.9)


def test_periodic_topk_reuses_thresholds_between_recomputes(tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig(sparsity=0.8, period=3))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    for it in range(7):
        sp.before_forward(it)
        opt.zero_grad()
        model(torch.randn(4, 3, 8, 8)).sum().backward()
        seen.append(sp.state["3"].t_weight.clone())
        opt.step()
        sp.step()
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[1], seen[2])
    assert not torch.equal(seen[2], seen[3])                 # recomputed at iteration 3
    assert torch.equal(seen[3], seen[5]) and not torch.equal(seen[5], seen[6])
    events = [e for e in sp.pop_events() if e["event"] == "threshold"]
    assert sorted({e["iteration"] for e in events}) == [0, 3, 6]


def test_swat_m_moves_budget_towards_high_momentum_layers(tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig.for_method("swat-m", 0.8))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sp.attach_optimizer(opt)
    sp.on_epoch_start(0)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 3, 8, 8)).square().sum().backward()
        opt.step()
        sp.step()
    opt.state[model[3].weight]["momentum_buffer"].mul_(100.0)   # layer "3" far more active
    before = sp.target_densities()
    sp.on_epoch_start(1)
    after = sp.target_densities()
    assert after["0"] == 1.0
    assert after["3"] > before["3"] and after["6"] < before["6"]
    counts = {n: m.weight.numel() for n, m in sp.layers.items()}
    total = sum(counts.values())
    assert sum(after[n] * counts[n] for n in counts) == pytest.approx(0.2 * total, rel=1e-6)
    assert min(after.values()) >= sp.config.min_density
    assert any(e["event"] == "redistribute" for e in sp.pop_events())


def test_swat_m_needs_the_optimizer(tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig.for_method("swat-m", 0.8))
    with pytest.raises(ConfigError, match="attach_optimizer"):
        sp.on_epoch_start(1)


def test_eval_mode_uses_topk_weights_and_dense_inputs(tiny_net):
    model = tiny_net()
    ref = copy.deepcopy(model).eval()
    swat.apply(model, SwatConfig.for_method("swat-u", 0.75))
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        y = model(x)
        h = ref[2](ref[1](ref[0](x)))
        w2 = ref[3].weight * topk_mask(ref[3].weight, 0.25)
        h = F.relu(F.conv2d(h, w2, ref[3].bias, stride=2, padding=1)).flatten(1)
        w3 = ref[6].weight * topk_mask(ref[6].weight, 0.25)
        assert torch.allclose(y, F.linear(h, w3, ref[6].bias), atol=1e-6)


def test_state_dict_resume_is_bit_identical(tiny_net):
    def run(steps, state=None):
        model = tiny_net(1)
        sp = swat.apply(model, SwatConfig(sparsity=0.8, period=2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if state is not None:
            model.load_state_dict(state[0])
            opt.load_state_dict(state[1])
            sp.load_state_dict(state[2])
        g = torch.Generator().manual_seed(7)
        xs = [torch.randn(4, 3, 8, 8, generator=g) for _ in range(6)]
        for it in steps:
            sp.before_forward(it)
            opt.zero_grad()
            model(xs[it]).square().mean().backward()
            opt.step()
            sp.step()
        return model, opt, sp

    straight, _, _ = run(range(6))
    m, o, s = run(range(3))
    state = copy.deepcopy((m.state_dict(), o.state_dict(), s.state_dict()))
    resumed, _, _ = run(range(3, 6), state)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="differs"):
        other = swat.apply(tiny_net(), SwatConfig(sparsity=0.5))
        other.load_state_dict(state[2])


def test_remove_restores_dense_layers_and_double_apply_is_refused(tiny_net):
    model = tiny_net()
    ref = copy.deepcopy(model)
    sp = swat.apply(model, SwatConfig(sparsity=0.9))
    with pytest.raises(ConfigError, match="already has SWAT"):
        swat.apply(model, SwatConfig(sparsity=0.9))
    sp.remove()
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(model(x), ref(x))


@pytest.mark.parametrize("weight_topk", ["nchw", "chw", "hw", "kernel", "filter"])
def test_every_weight_variant_trains(weight_topk, tiny_net):
    model = tiny_net()
    sp = swat.apply(model, SwatConfig(sparsity=0.5, weight_topk=weight_topk,
                                      activation_topk="chw"))
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    masks = sp.weight_masks()
    assert masks["3"].float().mean() == pytest.approx(0.5, abs=0.06)   # hw: 4 of 9
    assert model[3].weight.grad is not None


def test_any_zoo_model_runs():
    from workloads.models import build_model
    model = build_model("resnet20", num_classes=10, in_channels=3, input_size=32)
    sp = swat.apply(model, SwatConfig.for_method("swat-u", 0.9))
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    d = sp.measured_densities()
    assert all(v["weight"] == pytest.approx(0.1, abs=0.01) for n, v in d.items() if n != "conv1")
