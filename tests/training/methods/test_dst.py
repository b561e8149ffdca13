"""Dynamic sparse training (SET, RigL) and pruning at initialisation (SNIP, GraSP, SynFlow)."""

import math

import pytest
import torch
from torch import nn

from accelsim.errors import ConfigError
from training.config import TrainConfig
from training.loop import train
from training.masks import top_k_masks
from training.methods.dst import (
    DstSchedule,
    DstSparsifier,
    RiglSparsifier,
    SetSparsifier,
    drop_fraction,
)
from training.methods.pai import (
    GraspSparsifier,
    SnipSparsifier,
    grasp_scores,
    snip_scores,
    synflow_masks,
    synflow_scores,
)

DST = {"set": SetSparsifier, "rigl": RiglSparsifier}


def global_score_masks(scores, keep):
    """The base's exact global top-k of signed scores."""
    return top_k_masks(scores, keep)[0]

QUICK = {"data": "synthetic:train=64,test=32", "input_size": 8, "epochs": 4, "batch_size": 16,
         "max_steps_per_epoch": 4}


def _batches(n: int = 2, seed: int = 1) -> list:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(6, 3, generator=g), torch.randint(0, 2, (6,), generator=g))
            for _ in range(n)]


@pytest.mark.parametrize("method, params", [("set", {"delta_t": 2}), ("rigl", {"delta_t": 2}),
                                            ("snip", {}), ("grasp", {}),
                                            ("synflow", {"iterations": 20})])
def test_method_reaches_its_target_sparsity(tmp_path, method, params):
    config = TrainConfig(method=method, sparsity=0.9, method_params=params, **QUICK)
    result = train(config, tmp_path, progress=False, log=None)
    final = result.final
    assert final["weight_density"]["overall"] == pytest.approx(0.1, abs=2e-3)
    for name, d in final["target_densities"].items():
        assert final["weight_density"]["layers"][name] == pytest.approx(d, abs=1e-9)
    kinds = [e["event"] for e in result.events]
    assert kinds[0] == "masks"
    if method in ("set", "rigl"):
        assert kinds.count("dst_update") >= 5      # updates at steps 2, 4, ... before T_end


def test_snip_scores_match_autograd(tiny_cnn):
    x, y = torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 2, 1])
    layers = {n: m for n, m in tiny_cnn.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    bn_state = {k: v.clone() for k, v in tiny_cnn.state_dict().items()}
    scores = snip_scores(tiny_cnn, layers, [(x, y)], nn.CrossEntropyLoss())
    assert all(torch.equal(bn_state[k], v) for k, v in tiny_cnn.state_dict().items())
    assert all(m.weight.grad is None for m in layers.values())
    nn.CrossEntropyLoss()(tiny_cnn(x), y).backward()
    for name, m in layers.items():
        torch.testing.assert_close(scores[name], (m.weight.grad * m.weight).abs().detach())


def test_grasp_scores_match_the_full_hessian(tiny_mlp):
    model, batches = tiny_mlp(3, 5, 2, act=nn.Tanh), _batches()
    layers = {"0": model[0], "2": model[2]}
    shapes = [m.weight.shape for m in layers.values()]
    sizes = [s.numel() for s in shapes]
    t = 2.0

    def loss_of(flat):
        w0, w2 = flat.split(sizes)
        total = 0.0
        for x, y in batches:
            h = torch.tanh(x @ w0.view(shapes[0]).T + model[0].bias)
            total = total + nn.functional.cross_entropy(
                (h @ w2.view(shapes[1]).T + model[2].bias) / t, y)
        return total
    flat = torch.cat([m.weight.detach().flatten() for m in layers.values()])
    g = torch.autograd.functional.jacobian(loss_of, flat)
    hessian = torch.autograd.functional.hessian(loss_of, flat)
    expected = (-flat * (hessian @ g)).split(sizes)
    scores = grasp_scores(model, layers, batches, nn.CrossEntropyLoss(), temperature=t)
    for s, e, shape in zip(scores.values(), expected, shapes, strict=True):
        torch.testing.assert_close(s, e.view(shape), rtol=1e-4, atol=1e-7)
    # the kept weights are the smallest S (GraSP removes the largest)
    sp = GraspSparsifier(model, 0.5, batches=batches, temperature=t)
    flat_s = torch.cat([s.flatten() for s in scores.values()])
    kept = torch.cat([m.flatten() for m in sp.masks.values()])
    assert int(kept.sum()) == sp.keep == 13          # rnd(0.5 * 25), half up
    assert flat_s[kept].max() <= flat_s[~kept].min()


def test_synflow_scores_by_hand_and_iterative_masks(tiny_mlp):
    model = tiny_mlp(3, 4, 2, bias=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = synflow_scores(model, (3,))
    a1, a2 = model[0].weight.detach().abs().double(), model[2].weight.detach().abs().double()
    # R = 1^T |W2| |W1| 1: dR/dW1[i, j] = sum_k |W2|[k, i]; dR/dW2[k, i] = sum_j |W1|[i, j]
    torch.testing.assert_close(scores["0"], a2.sum(0)[:, None] * a1)
    torch.testing.assert_close(scores["2"], a1.sum(1)[None, :] * a2)
    masks = synflow_masks(model, (3,), keep=5, iterations=10)
    assert sum(int(m.sum()) for m in masks.values()) == 5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    one_shot = global_score_masks(scores, 5)
    assert sum(int(m.sum()) for m in one_shot.values()) == 5


def test_global_score_masks_signed_and_ties():
    masks = global_score_masks({"a": torch.tensor([-1.0, 2.0, 2.0]),
                                "b": torch.tensor([2.0, -5.0])}, 2)
    assert masks["a"].tolist() == [False, True, True] and masks["b"].tolist() == [False, False]


def test_drop_fraction_is_cosine():
    assert drop_fraction(0.3, 0, 100) == pytest.approx(0.3)
    assert drop_fraction(0.3, 50, 100) == pytest.approx(0.15)
    assert drop_fraction(0.3, 100, 100) == 0.0


@pytest.fixture
def make_dst(tiny_mlp):
    """``make_dst(method, seed=0)``: a seeded 8-6-4 MLP and its DST sparsifier (50%)."""

    def make(method: str, seed: int = 0) -> tuple[nn.Module, DstSparsifier]:
        model = tiny_mlp(8, 6, 4)
        schedule = DstSchedule(total_steps=100, zeta=0.5, delta_t=1, stop=1.0)
        return model, DST[method](model, 0.5, schedule, distribution="uniform", seed=seed)

    return make


def test_rigl_drops_by_magnitude_and_regrows_by_gradient(make_dst):
    model, sp = make_dst("rigl")
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    sp.attach_optimizer(opt)
    counts = {n: int(m.sum()) for n, m in sp.masks.items()}
    assert counts == {n: round(0.5 * m.weight.numel()) for n, m in sp.layers.items()}
    nn.CrossEntropyLoss()(model(torch.randn(5, 8)), torch.tensor([0, 1, 2, 3, 0])).backward()
    opt.step()
    old = {n: m.clone() for n, m in sp.masks.items()}
    weights = {n: m.weight.detach().clone() for n, m in sp.layers.items()}
    grads = {n: m.weight.grad.clone() for n, m in sp.layers.items()}
    sp.before_forward(0)
    sp.step()                                     # t = 1: fraction 0.25 (1 + cos(pi / 100))
    frac = drop_fraction(0.5, 1, 100)
    for name, new in sp.masks.items():
        k = counts[name]
        n = round(frac * k)
        assert int(new.sum()) == k                 # per-layer count constant
        w, g, o = weights[name].flatten(), grads[name].abs().flatten(), old[name].flatten()
        order = sorted(torch.nonzero(o).flatten().tolist(), key=lambda i: (w[i].abs(), i))
        dropped = set(order[:n])
        candidates = [i for i in range(o.numel()) if not o[i] or i in dropped]
        grown = set(sorted(candidates, key=lambda i: (-g[i], i))[:n])
        expected = (set(torch.nonzero(o).flatten().tolist()) - dropped) | grown
        assert set(torch.nonzero(new.flatten()).flatten().tolist()) == expected
        born = new.flatten() & ~o
        assert bool((sp.layers[name].weight.detach().flatten()[born] == 0).all())
        assert bool((opt.state[sp.layers[name].weight]["momentum_buffer"].flatten()[born]
                     == 0).all())
    assert [e["event"] for e in sp.pop_events()] == ["dst_update"]


def test_set_regrowth_is_random_but_seeded(make_dst):
    def run(seed):
        model, sp = make_dst("set", seed)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        sp.before_forward(0)
        sp.step()
        return {n: m.clone() for n, m in sp.masks.items()}, sp
    a, sp = run(0)
    b, _ = run(0)
    c, _ = run(1)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)
    assert all(int(a[n].sum()) == sp.keep[n] for n in a)
    # the generator state travels in state_dict: a restored copy regrows identically
    state = sp.state_dict()
    model2, sp2 = make_dst("set", 0)
    sp2.load_state_dict(state)
    for s in (sp, sp2):
        s.before_forward(1)
        s.step()
    assert all(torch.equal(sp.masks[n], sp2.masks[n]) for n in sp.masks)


def test_rigl_run_resumes_bit_identically(tmp_path, check_resume_bit_identical):
    config = TrainConfig(method="rigl", sparsity=0.8, method_params={"delta_t": 3},
                         **{**QUICK, "epochs": 3})
    check_resume_bit_identical(config, tmp_path)


@pytest.mark.parametrize("method, params, match", [
    ("rigl", {"zeta": 2.0}, "zeta"), ("set", {"distribution": "er"}, "distribution"),
    ("rigl", {"delta_t": "often"}, "delta_t"), ("synflow", {"iterations": 0}, "iterations"),
    ("grasp", {"temperature": 0.0}, "temperature"), ("snip", {"batch": 2}, "no parameter")])
def test_bad_parameters_are_one_line_config_errors(method, params, match):
    with pytest.raises(ConfigError, match=match) as info:
        TrainConfig(method=method, method_params=params)
    assert "\n" not in str(info.value)


def test_direct_construction_errors(tiny_mlp):
    with pytest.raises(ConfigError, match="batch"):
        SnipSparsifier(tiny_mlp(3, 5, 2, act=nn.Tanh), 0.5, batches=[])
    with pytest.raises(ConfigError, match="delta_t"):
        DstSchedule(total_steps=10, delta_t=0)
    assert math.isfinite(drop_fraction(0.3, 5, 0))
