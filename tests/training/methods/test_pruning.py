"""Pruning methods: magnitude (one-shot, gradual, IMP), Taylor, LAMP, AP; scores by hand,
schedules, rewinding, AP's metric, target sparsity through the loop, resume, registry."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from accelsim.errors import ConfigError
from training.config import TrainConfig
from training.loop import train
from training.masks import keep_count, top_k_masks
from training.methods.pruning import PruningSparsifier
from training.methods.pruning_plans import (
    PrunePoint,
    cubic_sparsity,
    cycle_plan,
    gradual_plan,
    oneshot_plan,
)
from training.methods.pruning_scores import (
    ApConfig,
    LampScorer,
    TaylorConfig,
    TaylorScorer,
    ap_prune,
    lamp_scores,
    taylor_scores,
)
from training.registry import get_method, methods

METHODS = ("magnitude-oneshot", "magnitude-gradual", "imp", "taylor", "lamp", "ap-lite",
           "ap-pro")
QUICK = {"sparsity": 0.9, "data": "synthetic:train=256,test=64", "input_size": 8,
         "epochs": 4, "batch_size": 32, "max_steps_per_epoch": 4}


def tiny_batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


def _layers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.weight for n, m in model.named_modules() if isinstance(m, nn.Linear)}


# -- through the training loop -------------------------------------------------------------
@pytest.mark.parametrize("method, params", [(m, {}) for m in METHODS] + [
    ("magnitude-gradual", {"scope": "layer"}), ("imp", {"scope": "layer"}),
    ("taylor", {"accumulate": "batches", "rewind": False}), ("ap-pro", {"base": "lamp"}),
    ("ap-lite", {"base": "taylor"})])
def test_each_method_reaches_the_target_sparsity(tmp_path, method, params):
    result = train(TrainConfig(method=method, method_params=params, **QUICK), tmp_path,
                   progress=False, log=None)
    weights = {n: m.weight.detach() for n, m in result.model.named_modules()
               if isinstance(m, nn.Conv2d | nn.Linear)}
    total = sum(w.numel() for w in weights.values())
    prunes = [e for e in result.events if e["event"] == "prune"]
    assert prunes and prunes[-1]["total"] == total
    if params.get("scope") == "layer":
        for name, w in weights.items():
            assert prunes[-1]["kept_per_layer"][name] == keep_count(0.9, w.numel())
            assert int((w != 0).sum()) <= keep_count(0.9, w.numel())
    else:
        assert prunes[-1]["kept"] == keep_count(0.9, total)          # exact global count
    assert sum(int((w != 0).sum()) for w in weights.values()) <= keep_count(0.9, total)
    assert result.final["weight_density"]["overall"] == pytest.approx(
        keep_count(0.9, total) / total)
    kept = [e["kept"] for e in prunes]
    assert kept == sorted(kept, reverse=True)                           # never revived
    if method.startswith("ap-"):
        ap_points = [e for e in prunes if e["ap"]]
        assert len(ap_points) == (1 if method == "ap-lite" else len(prunes))
        for e in ap_points:
            assert e["ap_pruned"] > 0 and e["ap_pruned"] + e["ap_shortfall"] == e["ap_requested"]
            for key in ("dnr_before", "dnr_after"):
                sites = e[key]["sites"]
                assert sites and all({"dynamic_dnr", "static_dnr"} <= set(v)
                                     for v in sites.values())
    assert "dead_neurons" in result.final


@pytest.mark.parametrize("method", ["ap-pro", "taylor"])
def test_resume_is_bit_identical(tmp_path, method, check_resume_bit_identical):
    config = TrainConfig(method=method, **QUICK)
    check_resume_bit_identical(config, tmp_path)


# -- scores by hand --------------------------------------------------------------------------
def test_lamp_scores_by_hand_and_global_threshold():
    a = torch.tensor([[3.0, -1.0], [2.0, 0.5]])
    b = torch.tensor([[0.1, -0.2, 0.0]])
    s = lamp_scores({"a": a, "b": b})
    # a sorted ascending by w^2: 0.25, 1, 4, 9; suffix sums 14.25, 14, 13, 9
    assert torch.allclose(s["a"], torch.tensor([[1.0, 1 / 14], [4 / 13, 0.25 / 14.25]],
                                               dtype=torch.float64))
    # b: 0, 0.01, 0.04; suffix sums 0.05, 0.05, 0.04
    assert torch.allclose(s["b"], torch.tensor([[0.01 / 0.05, 1.0, 0.0]], dtype=torch.float64))
    masks, threshold = top_k_masks(s, 3)          # 1, 1, then 4/13 (> 0.2 > 1/14)
    assert masks["a"].tolist() == [[True, False], [True, False]]
    assert masks["b"].tolist() == [[False, True, False]]
    assert threshold == pytest.approx(4 / 13)


def test_taylor_scores_by_hand_and_accumulated_over_steps(tiny_mlp):
    model = tiny_mlp(4, 6, 3)
    x, y = tiny_batch()
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(_layers(model).values()))
    by_hand = {n: (w.detach() * g).abs() for (n, w), g in zip(_layers(model).items(), grads,
                                                              strict=True)}
    got = taylor_scores(_layers(model), dict(zip(_layers(model), grads, strict=True)))
    assert all(torch.equal(got[n], by_hand[n]) for n in by_hand)

    # the sparsifier sums |w_b * g_b| over the steps before the prune point (window 2)
    sp = PruningSparsifier(model, [PrunePoint(3, 0.5)], scorer=TaylorScorer(TaylorConfig("steps", 2)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sp.attach_optimizer(opt)
    expected = {n: torch.zeros_like(w) for n, w in _layers(model).items()}
    for it in range(3):
        sp.before_forward(it)
        pre = {n: w.detach().clone() for n, w in _layers(model).items()}
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), tiny_batch(it)[1]).backward()
        if it >= 1:
            for n, w in _layers(model).items():
                expected[n] += (pre[n] * w.grad).abs()
        opt.step()
        sp.step()
    assert sp.scorer._count == 2
    assert all(torch.equal(sp.scorer._sum[n], expected[n]) for n in expected)
    sp.before_forward(3)
    want, _ = top_k_masks(expected, keep_count(0.5, 42))
    assert all(torch.equal(sp.weight_masks()[n], want[n]) for n in want)
    assert sum(int((w != 0).sum()) for w in _layers(model).values()) == 21


# -- schedules ------------------------------------------------------------------------------
def test_cubic_schedule_values():
    assert cubic_sparsity(0, 0.0, 0.9, 0, 4, 5) == 0.0
    assert cubic_sparsity(5, 0.0, 0.9, 0, 4, 5) == pytest.approx(0.9 - 0.9 * 0.75 ** 3)
    assert cubic_sparsity(10, 0.1, 0.9, 0, 4, 5) == pytest.approx(0.9 - 0.8 * 0.5 ** 3)
    assert cubic_sparsity(20, 0.0, 0.9, 0, 4, 5) == 0.9
    assert cubic_sparsity(99, 0.0, 0.9, 0, 4, 5) == 0.9
    # E = 10, S = 8: start rnd(1.0) = 1, end rnd(7.5) = 8, dt = 2, t0 = 8, n = 28
    plan = gradual_plan(0.9, 10, 8)
    assert [p.iteration for p in plan] == list(range(8, 66, 2))
    for j, p in enumerate(plan):
        assert p.sparsity == pytest.approx(0.9 - 0.9 * (1 - j / 28) ** 3)
    assert plan[0].sparsity == 0.0 and plan[-1].sparsity == 0.9
    # the defaults fit every run of >= 3 epochs (also 1 step per epoch)
    for epochs in range(3, 12):
        for steps in (1, 3, 8):
            for plan in (gradual_plan(0.9, epochs, steps), oneshot_plan(0.9, epochs, steps),
                         cycle_plan(0.9, epochs, steps)):
                assert plan[-1].sparsity == 0.9 and plan[-1].iteration < epochs * steps
    with pytest.raises(ConfigError, match="start_epoch < end_epoch"):
        gradual_plan(0.9, 4, 4, start_epoch=3, end_epoch=3)
    with pytest.raises(ConfigError, match="initial_sparsity"):
        gradual_plan(0.5, 4, 4, initial_sparsity=0.6)


def test_cycle_plan_lays_rounds_over_the_epochs():
    # E = 4, final_fraction 0.5: rounds in the first B = 2 epochs, R = min(2, 11) = 2
    plan = cycle_plan(0.9, 4, 5)
    assert [p.iteration for p in plan] == [5, 10]
    assert plan[0].sparsity == pytest.approx(1 - 0.1 ** (1 / 2))
    assert plan[-1].sparsity == 0.9 and all(p.rewind for p in plan)
    long = cycle_plan(0.9, 40, 2)                # B = 20: 11 rounds of 20% at rnd(i * 20 / 11)
    assert len(long) == 11 and long[0].iteration == 2 * 2 and long[-1].iteration == 2 * 20
    every = cycle_plan(0.9, 4, 5, final_fraction=0.0)    # B = E - 1: the old layout
    assert [p.iteration for p in every] == [5, 10, 15]
    assert [p.ap for p in cycle_plan(0.9, 6, 2, ap="lite")] == [False] * 2 + [True]
    assert all(p.ap for p in cycle_plan(0.9, 6, 2, ap="pro"))
    assert len(cycle_plan(0.9, 10, 2, rewind_iteration=7)) < 5     # rewind before round 1
    with pytest.raises(ConfigError, match="do not fit"):
        cycle_plan(0.9, 4, 2, rounds=3)
    with pytest.raises(ConfigError, match="rewind point"):
        cycle_plan(0.9, 4, 2, rounds=2, rewind_iteration=2)
    with pytest.raises(ConfigError, match="final_fraction"):
        cycle_plan(0.9, 4, 2, final_fraction=1.0)


# -- rewinding and AP ------------------------------------------------------------------------
def test_imp_rewinds_exactly_to_the_saved_weights(tiny_mlp):
    model = tiny_mlp(4, 6, 3)
    plan = cycle_plan(0.75, 3, 2, rewind_iteration=1, final_fraction=0.0)  # steps 2, 4
    sp = PruningSparsifier(model, plan, rewind_iteration=1, method="imp")
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sp.attach_optimizer(opt)
    saved = None
    x, y = tiny_batch()
    for it in range(6):
        sp.before_forward(it)
        if it == 1:
            saved = {n: w.detach().clone() for n, w in _layers(model).items()}
        if it in (2, 4):
            mask = sp.weight_masks()
            for n, w in _layers(model).items():
                assert torch.equal(w.detach(), saved[n] * mask[n])      # bit-exact rewind
            assert not any("momentum_buffer" in s for s in opt.state.values())
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sp.step()
    assert sum(int(m.sum()) for m in sp.weight_masks().values()) == keep_count(0.75, 42)


def test_ap_prunes_only_negative_weights_with_the_smallest_movement(tiny_mlp):
    w = torch.tensor([[-0.5, -0.1, 0.05, -0.3], [-0.2, 0.4, -0.05, -0.6]])
    ref = torch.tensor([[-0.45, 0.2, 0.0, -0.3], [-0.1, 0.4, -0.04, -0.9]])
    # movements of the negative weights: -0.5: 0.05, -0.1: 0.3, -0.3: 0, -0.2: 0.1,
    # -0.05: 0.01, -0.6: 0.3; the positive 0.4 has movement 0 but is never chosen
    keep = torch.ones_like(w, dtype=torch.bool)
    keep[0, 0] = False                                 # already pruned: not eligible
    masks, done = ap_prune({"l": w}, {"l": ref}, {"l": keep}, 3)
    pruned = keep & ~masks["l"]
    assert done == 3
    assert pruned.nonzero().tolist() == [[0, 3], [1, 0], [1, 2]]   # movements 0, 0.1, 0.01
    assert bool((w[pruned] < 0).all())
    masks, done = ap_prune({"l": w}, {"l": ref}, {"l": keep}, 99)  # only 5 negatives left
    assert done == 5 and int(masks["l"].sum()) == 2

    # inside the sparsifier: the base prunes (p - q) by magnitude, AP the other q
    model = tiny_mlp(4, 6, 3)
    sp = PruningSparsifier(model, [PrunePoint(1, 0.5, ap=True)], rewind_iteration=0,
                           ap=ApConfig(q_ratio=0.5, dnr_batches=0))
    sp.before_forward(0)
    reference = {n: w.detach().clone() for n, w in _layers(model).items()}
    with torch.no_grad():                               # "training": move the weights
        for i, w in enumerate(_layers(model).values()):
            w.add_(torch.linspace(-0.3, 0.3, w.numel()).view(w.shape) * (i + 1))
    trained = {n: w.detach().clone() for n, w in _layers(model).items()}
    sp.before_forward(1)
    event = sp.pop_events()[0]
    masks = sp.weight_masks()
    total_prune = 42 - keep_count(0.5, 42)                          # 21
    assert event["ap_requested"] == event["ap_pruned"] == math.floor(0.5 * total_prune + 0.5)
    base, _ = top_k_masks({n: t.abs() for n, t in trained.items()},
                          keep_count(0.5, 42) + event["ap_pruned"])
    by_ap = {n: base[n] & ~masks[n] for n in masks}
    assert sum(int(m.sum()) for m in by_ap.values()) == event["ap_pruned"]
    movement = {n: (trained[n] - reference[n]).abs() for n in trained}
    for n in masks:
        assert bool((trained[n][by_ap[n]] < 0).all())
        assert bool((masks[n] <= base[n]).all())
    worst_pruned = max(float(movement[n][by_ap[n]].max()) for n in masks if by_ap[n].any())
    best_kept = min(float(movement[n][masks[n] & (trained[n] < 0)].min()) for n in masks
                    if (masks[n] & (trained[n] < 0)).any())
    assert worst_pruned <= best_kept


# -- registry and errors ----------------------------------------------------------------------
def test_registry_lists_the_methods_with_parameters():
    registry = methods()
    for name in METHODS:
        assert name in registry and registry[name].params
    assert {p.name for p in get_method("imp").params} >= {"rate", "rounds", "rewind_epoch",
                                                          "scope"}
    ap = {p.name: p for p in get_method("ap-pro").params}
    assert ap["base"].choices == ("magnitude", "taylor", "lamp") and ap["q_ratio"].default == 0.1
    assert get_method("magnitude-gradual").parse_params({"frequency": "3"})["frequency"] == 3


@pytest.mark.parametrize("method, params, match", [
    ("imp", {"scope": "row"}, "scope"), ("ap-lite", {"base": "snip"}, "base"),
    ("lamp", {"scope": "layer"}, "no parameter scope"), ("taylor", {"rate": 1.5}, "rate"),
    ("magnitude-oneshot", {"when": 1}, "no parameter"),
    ("ap-pro", {"q_ratio": "x"}, "not a float")])
def test_bad_parameters_are_one_line_errors(method, params, match):
    with pytest.raises(ConfigError, match=match) as err:
        TrainConfig(method=method, method_params=params)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("method, params, match", [
    ("magnitude-oneshot", {"epoch": 4}, "epoch = 4"), ("imp", {"rounds": 4}, "rounds"),
    ("imp", {"rewind_epoch": 1, "rounds": 2}, "rewind point"),
    ("magnitude-gradual", {"start_epoch": 3}, "start_epoch"),
    ("magnitude-gradual", {"frequency": 100}, "frequency")])
def test_bad_schedules_fail_at_start_with_one_line_errors(tmp_path, method, params, match):
    with pytest.raises(ConfigError, match=match) as err:
        train(TrainConfig(method=method, method_params=params, **QUICK), tmp_path,
              progress=False, log=None)
    assert "\n" not in str(err.value)


def test_sparsifier_guards(tiny_mlp):
    model = tiny_mlp(4, 6, 3)
    with pytest.raises(ConfigError, match="global"):
        PruningSparsifier(model, [PrunePoint(1, 0.5)], scorer=LampScorer(), scope="layer")
    with pytest.raises(ConfigError, match="increase"):
        PruningSparsifier(model, [PrunePoint(2, 0.5), PrunePoint(1, 0.6)])
    with pytest.raises(ConfigError, match="rewind"):
        PruningSparsifier(model, [PrunePoint(1, 0.5, rewind=True)])
    with pytest.raises(ConfigError, match="global"):
        PruningSparsifier(model, [PrunePoint(1, 0.5, ap=True)], scope="layer",
                          rewind_iteration=0)
    sp = PruningSparsifier(model, [PrunePoint(0, 0.5)], method="imp")
    with pytest.raises(ConfigError, match="method"):
        PruningSparsifier(tiny_mlp(4, 6, 3), [PrunePoint(0, 0.5)]).load_state_dict(sp.state_dict())
    assert math.isclose(sum(sp.target_densities().values()), 2.0)
