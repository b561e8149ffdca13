"""Activation sparsity on a sparse model (Hoyer, FATReLU) and STR-BN channel sparsity."""

import pytest
import torch
from torch import nn

from accelsim.errors import ConfigError
from training.config import TrainConfig
from training.loop import train
from training.methods.activation import FatReluSparsifier, HoyerSparsifier, fatrelu, hoyer_square
from training.methods.str_bn import StrBnSparsifier, gamma_eff

QUICK = {"data": "synthetic:train=64,test=32", "input_size": 8, "epochs": 3, "batch_size": 16,
         "max_steps_per_epoch": 4}


@pytest.mark.parametrize("method", ["hoyer", "fatrelu"])
def test_weight_target_reached_and_activation_method_applied(tmp_path, method):
    result = train(TrainConfig(method=method, sparsity=0.9, **QUICK), tmp_path,
                   progress=False, log=None)
    assert result.final["weight_density"]["overall"] == pytest.approx(0.1, abs=1e-3)
    kinds = [e["event"] for e in result.events]
    assert kinds[0] == "prune" and result.events[0]["epoch"] == 1      # floor(0.5 * 3)
    if method == "fatrelu":
        event = result.events[kinds.index("fatrelu")]
        assert event["calibrated"] and all(t > 0 for t in event["thresholds"].values())
        assert set(event["thresholds"]) == {"relu", "relu#2", "relu#3"}   # one module, 3 sites


def test_str_bn_produces_exact_zero_channels_in_training(tmp_path):
    result = train(TrainConfig(method="str-bn", **QUICK), tmp_path, progress=False, log=None)
    sparsity = [e["channel_sparsity"] for e in result.events if e["event"] == "str_bn"]
    assert len(sparsity) == 3 and sparsity[-1] > 0.1
    assert result.final["zero_filters"]["overall"] > 0.1
    model = result.model
    x = torch.randn(4, 3, 8, 8)
    outputs = {}
    model.bn1.register_forward_hook(lambda m, a, out: outputs.setdefault("bn1", out))
    model.eval()
    model(x)
    dead = gamma_eff(model.bn1.weight, model.bn1.str_threshold).detach() == 0
    assert bool(dead.any()) and bool((outputs["bn1"][:, dead] == 0).all())
    assert bool((model.conv1.weight[dead] == 0).all())


def test_hoyer_term_equals_the_formula(tiny_cnn):
    x = torch.randn(3, 1, 6, 6)
    for normalize in (True, False):
        sp = HoyerSparsifier(tiny_cnn, 0.5, lambda_a=0.5, lambda_w=0.25, normalize=normalize,
                             base="dense")
        sp.before_forward(0)
        tiny_cnn.train()
        tiny_cnn(x)
        reg = sp.regularization()
        with torch.no_grad():
            a1 = torch.relu(tiny_cnn.bn1(tiny_cnn.conv1(x)))
            a2 = torch.relu(tiny_cnn.conv2(a1))

        def h(t, normalize=normalize):
            v = t.abs().sum() ** 2 / t.pow(2).sum()
            return v / t.numel() if normalize else v
        ws = [tiny_cnn.conv1.weight, tiny_cnn.conv2.weight, tiny_cnn.fc.weight]
        expected = 0.5 * (h(a1) + h(a2)) + 0.25 * sum(h(w.detach()) for w in ws)
        torch.testing.assert_close(reg.detach(), expected, rtol=1e-5, atol=1e-6)
        assert reg.requires_grad
        sp.remove()
    assert hoyer_square(torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert hoyer_square(torch.ones(4), normalize=False) == pytest.approx(4.0)


def test_fatrelu_thresholds_and_remove(tiny_cnn):
    x = torch.tensor([-1.0, 0.2, 0.3, 0.31, 7.0])
    assert fatrelu(x, 0.3).tolist() == pytest.approx([0.0, 0.0, 0.0, 0.31, 7.0])
    assert fatrelu(x, 0.3, six=True).tolist() == pytest.approx([0.0, 0.0, 0.0, 0.31, 6.0])
    inp = torch.randn(4, 1, 6, 6)
    tiny_cnn.eval()
    reference = tiny_cnn(inp).detach()
    seen = []
    tiny_cnn.relu.register_forward_hook(lambda m, a, out: seen.append((a[0], out)))
    fixed = FatReluSparsifier(tiny_cnn, 0.5, threshold=0.3, base="dense")
    fixed.on_epoch_start(0)
    tiny_cnn(inp)
    for pre, out in seen:
        assert torch.equal(out, torch.where(pre > 0.3, pre, torch.zeros(())))
    fixed.remove()
    torch.testing.assert_close(tiny_cnn(inp), reference)
    # calibration: each site zeroes about extra_sparsity of the activations ReLU kept
    batches = [(torch.randn(8, 1, 6, 6), torch.zeros(8, dtype=torch.long))]
    cal = FatReluSparsifier(tiny_cnn, 0.5, extra_sparsity=0.5, batches=lambda: batches,
                            base="dense")
    cal.on_epoch_start(0)
    assert set(cal.thresholds) == {"relu", "relu#2"}
    seen.clear()
    tiny_cnn.train()
    tiny_cnn(batches[0][0])
    pre, out = seen[0]          # the first site sees the same input as at calibration
    assert int((out > 0).sum()) == pytest.approx(0.5 * int((pre > 0).sum()), abs=1)
    assert all(t > 0 for t in cal.thresholds.values())
    state = cal.state_dict()
    again = FatReluSparsifier(tiny_cnn, 0.5, extra_sparsity=0.5, batches=lambda: batches,
                              base="dense")
    cal.remove()
    again.load_state_dict(state)
    assert again.thresholds == state["thresholds"] and "forward" in tiny_cnn.relu.__dict__
    again.remove()


def test_str_bn_zero_channels_dead_filters_and_remove(tiny_cnn):
    x = torch.randn(4, 1, 6, 6)
    sp = StrBnSparsifier(tiny_cnn, s_init=0.0, gamma_init="keep", example_input=x)
    assert sp.feeds == {"bn1": "conv1"}
    with torch.no_grad():
        tiny_cnn.bn1.weight.copy_(torch.tensor([1.0, 0.4, -0.2, -0.9]))   # threshold 0.5
    assert sp.dead_channels()["bn1"].tolist() == [False, True, True, False]
    torch.testing.assert_close(sp.gammas()["bn1"], torch.tensor([0.5, 0.0, 0.0, -0.4]))
    out = {}
    tiny_cnn.bn1.register_forward_hook(lambda m, a, o: out.setdefault("bn", o))
    tiny_cnn.train()
    tiny_cnn(x)
    assert bool((out["bn"][:, 1:3] == 0).all()) and bool((out["bn"][:, [0, 3]] != 0).any())
    masks = sp.weight_masks()["conv1"]
    assert not bool(masks[1:3].any()) and bool(masks[0].all())
    sp.step()
    assert bool((tiny_cnn.conv1.weight[1:3] == 0).all())
    assert sp.channel_sparsity()[0] == pytest.approx(0.5)
    names = [n for n, _ in tiny_cnn.named_parameters()]
    assert "bn1.str_threshold" in names
    tiny_cnn.eval()
    before = tiny_cnn(x).detach()
    sp.remove()
    assert "bn1.str_threshold" not in [n for n, _ in tiny_cnn.named_parameters()]
    torch.testing.assert_close(tiny_cnn(x), before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method, params, match", [
    ("hoyer", {"lambda_a": -1.0}, "lambda_a"), ("hoyer", {"base": "lottery"}, "base"),
    ("fatrelu", {"extra_sparsity": 1.0}, "extra_sparsity"),
    ("fatrelu", {"threshold": "high"}, "threshold"),
    ("str-bn", {"granularity": "channel"}, "granularity"), ("str-bn", {"s": 1}, "no parameter")])
def test_bad_parameters_are_one_line_config_errors(method, params, match):
    with pytest.raises(ConfigError, match=match) as info:
        TrainConfig(method=method, method_params=params)
    assert "\n" not in str(info.value)


def test_models_without_relu_or_bn_are_refused():
    mlp = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2))
    with pytest.raises(ConfigError, match="ReLU"):
        HoyerSparsifier(mlp, 0.5)
    with pytest.raises(ConfigError, match="ReLU"):
        FatReluSparsifier(mlp, 0.5, threshold=0.1)
    with pytest.raises(ConfigError, match="BatchNorm"):
        StrBnSparsifier(mlp)
