"""AC/DC: schedule shapes, exact global magnitude pruning, masks, momentum resets, resume."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from accelsim.errors import ConfigError
from training.masks import keep_count, magnitude_scores, mask_churn, reset_momentum, top_k_masks
from training.methods.acdc import AcdcSparsifier, apply
from training.methods.acdc_schedule import AcdcPhase, AcdcSchedule


def global_magnitude_masks(weights, keep):
    """Global magnitude selection: the base's exact top-k of ``|w|``."""
    return top_k_masks(magnitude_scores(weights), keep)


def tiny_model(seed: int = 0) -> nn.Module:
    """A user's own model (not from the zoo): conv, BN, linear."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.ReLU(), nn.Linear(8, 3))


def tiny_data(n: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def kinds(schedule: AcdcSchedule) -> str:
    return "".join(p.kind[0] * (p.end - p.start) for p in schedule.phases())


def train_epoch(model, opt, sp, data, epoch: int, batch: int = 8) -> None:
    """One epoch of the user's plain loop, shuffled by a per-epoch seed (resumable)."""
    x, y = data
    sp.on_epoch_start(epoch)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(100 + epoch))
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        sp.before_forward(epoch * (len(x) // batch) + i // batch)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        sp.step()


def pruned_weights(sp: AcdcSparsifier) -> int:
    return sum(int((m.weight != 0).sum()) for m in sp.pruned.values())


# ---- schedule ----------------------------------------------------------------------------
def test_default_100_epochs_is_the_papers_imagenet_run():
    s = AcdcSchedule(100)
    assert s.phases()[0] == AcdcPhase(0, 10, "dense", 0)
    assert s.prune_epochs() == (10, 20, 30, 40, 50, 60, 70, 85)
    dense_starts = tuple(p.start for p in s.phases() if p.kind == "dense")
    assert dense_starts == (0, 15, 25, 35, 45, 55, 65, 75)
    assert s.phases()[-1] == AcdcPhase(85, 100, "compressed", 15)


@pytest.mark.parametrize("epochs, expected", [
    (4, "dcdc"),
    (10, "dcdcdcddcc"),
    (20, "ddcdcdcdcdcdcdcddccc"),
    (30, "dddccddccddccddccddccddddccccc"),
])
def test_default_schedule_for_small_epoch_counts(epochs, expected):
    s = AcdcSchedule(epochs)
    assert kinds(s) == expected
    phases = s.phases()
    assert phases[0].start == 0 and phases[-1].end == epochs
    assert phases[0].kind == "dense" and phases[-1].kind == "compressed"
    for a, b in zip(phases, phases[1:], strict=False):
        assert a.end == b.start and a.kind != b.kind
    assert all(p.end - p.start >= 1 for p in phases)
    assert [p.phase_id for p in phases] == list(range(len(phases)))
    for p in phases:
        for e in range(p.start, p.end):
            assert s.phase_at(e) == p


@pytest.mark.parametrize("epochs", range(4, 61))
def test_every_default_schedule_is_valid(epochs):
    s = AcdcSchedule(epochs)
    final = s.phases()[-1]
    assert final.kind == "compressed"
    assert final.end - final.start == max(1, int(0.15 * epochs + 0.5))
    assert s.phases()[0].end == max(1, int(0.10 * epochs + 0.5))


def test_explicit_lengths_and_remainder_on_the_last_dense_phase():
    s = AcdcSchedule(20, warmup=3, compressed=2, decompressed=3, final=4)
    # middle 13 = 2 pairs of 5 + remainder 3 on the last dense phase
    assert kinds(s) == "ddd" + "cc" + "ddd" + "cc" + "dddddd" + "cccc"


def test_explicit_phase_list_and_parse():
    s = AcdcSchedule.from_phases([("dense", 2), ("compressed", 1), ("dense", 1),
                                  ("compressed", 3)])
    assert s.epochs == 7 and kinds(s) == "ddcdccc"
    assert AcdcSchedule.parse("d2, c1, dense:1, compressed:3") == s
    assert AcdcSchedule.from_dict(s.to_dict()) == s
    assert AcdcSchedule.from_dict(AcdcSchedule(30).to_dict()) == AcdcSchedule(30)
    # a schedule may end dense (dense fine-tuning), but must compress at some point
    assert kinds(AcdcSchedule.parse("c1,d2")) == "cdd"


@pytest.mark.parametrize("make, message", [
    (lambda: AcdcSchedule(3), "at least"),
    (lambda: AcdcSchedule(0), "epochs"),
    (lambda: AcdcSchedule(10.0), "integer"),
    (lambda: AcdcSchedule(True), "integer"),
    (lambda: AcdcSchedule(10, warmup=0), "warmup"),
    (lambda: AcdcSchedule(10, compressed=-1), "compressed"),
    (lambda: AcdcSchedule(10, warmup=5, final=5), "at least"),
    (lambda: AcdcSchedule(4, phase_list=(("dense", 4),)), "no compressed"),
    (lambda: AcdcSchedule(5, phase_list=(("dense", 4), ("compressed", 2))), "add up"),
    (lambda: AcdcSchedule(6, warmup=1, phase_list=(("dense", 4), ("compressed", 2))), "not both"),
    (lambda: AcdcSchedule.from_phases([("dense", 1), ("dense", 1), ("compressed", 1)]), "merge"),
    (lambda: AcdcSchedule.from_phases([("sparse", 1)]), "kind"),
    (lambda: AcdcSchedule.from_phases([("dense", 0), ("compressed", 1)]), "length"),
    (lambda: AcdcSchedule.parse("d2,x3"), "KIND EPOCHS"),
    (lambda: AcdcSchedule(10).phase_at(10), "outside"),
])
def test_bad_schedules_raise_one_line_config_errors(make, message):
    with pytest.raises(ConfigError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


# ---- pruning primitives ------------------------------------------------------------------
def test_global_masks_keep_exact_count_with_deterministic_ties():
    weights = {"a": torch.tensor([[1.0, -2.0], [2.0, 0.5]]), "b": torch.tensor([2.0, -2.0, 3.0])}
    masks, t = global_magnitude_masks(weights, 3)
    assert t == 2.0
    # 3.0 is above the threshold; two of the four 2.0s are kept: the first ones in order
    assert masks["a"].tolist() == [[False, True], [True, False]]
    assert masks["b"].tolist() == [False, False, True]
    for keep in range(8):
        m, _ = global_magnitude_masks(weights, keep)
        assert sum(int(x.sum()) for x in m.values()) == keep


def test_global_masks_are_global_not_per_layer():
    weights = {"small": torch.full((10,), 0.1), "large": torch.arange(1.0, 11.0)}
    masks, _ = global_magnitude_masks(weights, 10)
    assert int(masks["small"].sum()) == 0 and bool(masks["large"].all())


def test_global_masks_reject_nan():
    with pytest.raises(ConfigError, match="diverged"):
        global_magnitude_masks({"x": torch.tensor([1.0, float("nan")])}, 1)


def test_keep_count_rounds_half_up():
    assert keep_count(0.9, 100) == 10
    assert keep_count(0.5, 5) == 3
    assert keep_count(0.0, 7) == 7


def test_churn_on_a_hand_made_case():
    prev = {"a": torch.tensor([True, True, False, False]), "b": torch.tensor([[True, False]])}
    cur = {"a": torch.tensor([True, False, True, False]), "b": torch.tensor([[True, False]])}
    churn, per_layer = mask_churn(prev, cur)
    assert churn == pytest.approx(2 / 6)
    assert per_layer == {"a": 0.5, "b": 0.0}
    # against the dense (all-ones) mask: the fraction pruned
    churn, per_layer = mask_churn(None, cur)
    assert churn == pytest.approx(3 / 6) and per_layer == {"a": 0.5, "b": 0.5}


# ---- the sparsifier ----------------------------------------------------------------------
def test_prune_reaches_exact_global_sparsity_on_a_user_model():
    model = tiny_model()
    sp = AcdcSparsifier(model, 0.9, 4)
    assert list(sp.pruned) == ["0", "4", "6"]          # every Conv2d/Linear, BN left alone
    total = 36 + 144 * 8 + 24
    assert sp.total_weights == total
    sp.on_epoch_start(0)
    assert sp.phase() == "dense" and pruned_weights(sp) == total
    sp.on_epoch_start(1)
    assert sp.phase() == "compressed"
    assert pruned_weights(sp) == round(0.1 * total)
    masks = sp.weight_masks()
    assert sum(int(masks[n].sum()) for n in sp.pruned) == round(0.1 * total)
    for name, module in sp.pruned.items():
        assert torch.equal(masks[name], module.weight != 0)
    events = sp.pop_events()
    assert [e["event"] for e in events] == ["phase", "prune"]
    prune = events[1]
    assert prune["phase_id"] == 1 and prune["phase"] == "compressed"
    assert prune["kept"] == round(0.1 * total) and prune["prune_point"] == 0
    assert prune["churn"] == pytest.approx(1 - round(0.1 * total) / total)
    assert set(prune["densities"]) == {"0", "4", "6"}
    assert sp.at_boundary()
    assert set(sp.target_densities()) == {"0", "4", "6"}
    assert sum(sp.target_densities()[n] * sp.pruned[n].weight.numel()
               for n in sp.pruned) == pytest.approx(round(0.1 * total))


def test_mask_is_reapplied_after_every_step_of_a_compressed_phase():
    model, data = tiny_model(), tiny_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    sp = AcdcSparsifier(model, 0.8, 4)
    sp.attach_optimizer(opt)
    train_epoch(model, opt, sp, data, 0)
    sp.on_epoch_start(1)
    mask = {n: m.clone() for n, m in sp.masks.items()}
    x, y = data
    for i in range(4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i * 8:(i + 1) * 8]), y[i * 8:(i + 1) * 8]).backward()
        opt.step()
        revived = sum(int((m.weight[~mask[n]] != 0).sum()) for n, m in sp.pruned.items())
        assert revived > 0                               # the optimizer did revive weights
        sp.step()
        for n, m in sp.pruned.items():
            assert not bool(m.weight[~mask[n]].any())
            assert torch.equal(sp.masks[n], mask[n])      # the support is fixed in a phase


def test_dense_phase_restarts_pruned_weights_from_zero_and_trains_them():
    model, data = tiny_model(), tiny_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sp = AcdcSparsifier(model, 0.8, 4)
    sp.attach_optimizer(opt)
    for epoch in range(2):
        train_epoch(model, opt, sp, data, epoch)
    mask = {n: m.clone() for n, m in sp.masks.items()}
    sp.on_epoch_start(2)
    assert sp.phase() == "dense" and sp.masks == {}
    assert torch.equal(sp.previous_mask["4"], mask["4"])
    for n, m in sp.pruned.items():
        assert not bool(m.weight[~mask[n]].any())
        assert torch.equal(sp.weight_masks()[n], m.weight != 0)
    assert sp.target_densities() == {"0": 1.0, "4": 1.0, "6": 1.0}
    x, y = data
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    sp.step()                                            # no mask in a dense phase
    regrown = sum(int((m.weight[~mask[n]] != 0).sum()) for n, m in sp.pruned.items())
    assert regrown > 0.5 * sum(int((~mask[n]).sum()) for n in sp.pruned)


def test_momentum_reset_at_every_phase_change():
    model, data = tiny_model(), tiny_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp = AcdcSparsifier(model, 0.5, 5)                   # d c d d c
    sp.attach_optimizer(opt)
    resets = []
    for epoch in range(5):
        train_epoch(model, opt, sp, data, epoch)      # its on_epoch_start(epoch) was done below
        resets += [e["momentum_reset"] for e in sp.pop_events()]
        assert all("momentum_buffer" in opt.state[p] for p in model.parameters())
        if epoch + 1 < 5:
            sp.on_epoch_start(epoch + 1)
            events = sp.pop_events()
            changed = sp.schedule.phase_at(epoch + 1).start == epoch + 1
            assert len(events) == int(changed)
            resets += [e["momentum_reset"] for e in events]
            has_buffer = [("momentum_buffer" in opt.state[p]) for p in model.parameters()]
            assert (not any(has_buffer)) if changed else all(has_buffer)
    n_params = len(list(model.parameters()))
    # the first (warm-up) start has nothing to reset; 3 later changes reset every parameter
    assert resets == [0, n_params, n_params, n_params]


def test_adam_moments_reset_to_a_fresh_state():
    model, data = tiny_model(), tiny_data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert reset_momentum(opt) == len(list(model.parameters()))
    for state in opt.state.values():
        assert not state["exp_avg"].any() and not state["exp_avg_sq"].any()
        assert float(state["step"]) == 0.0
    # a reset Adam takes the same step as a fresh Adam from the same weights
    fresh_model = tiny_model()
    fresh_model.load_state_dict(model.state_dict())
    fresh = torch.optim.Adam(fresh_model.parameters(), lr=1e-3)
    for m, o in ((model, opt), (fresh_model, fresh)):
        o.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()
    for a, b in zip(model.parameters(), fresh_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert reset_momentum(None) == 0


def test_churn_between_prune_points_and_no_event_inside_a_phase():
    model, data = tiny_model(), tiny_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    sp = AcdcSparsifier(model, 0.7, AcdcSchedule.parse("d1,c1,d2,c1"))
    sp.attach_optimizer(opt)
    prunes = []
    for epoch in range(5):
        train_epoch(model, opt, sp, data, epoch)
        if epoch == 1:
            first = {n: m.clone() for n, m in sp.masks.items()}
        prunes += [e for e in sp.pop_events() if e["event"] == "prune"]
    assert [e["phase_id"] for e in prunes] == [1, 3]
    expected, per_layer = mask_churn(first, sp.masks)
    assert prunes[1]["churn"] == pytest.approx(expected) and prunes[1]["layer_churn"] == per_layer
    assert 0.0 < expected < 1.0
    assert prunes[1]["prune_point"] == 1


def test_layer_selection_and_dense_first_last():
    model = tiny_model()
    assert list(AcdcSparsifier(model, 0.5, 4, keep_first_dense=True).pruned) == ["4", "6"]
    assert list(AcdcSparsifier(model, 0.5, 4, keep_first_dense=True,
                               keep_last_dense=True).pruned) == ["4"]
    assert list(AcdcSparsifier(model, 0.5, 4, exclude=["6"]).pruned) == ["0", "4"]
    assert list(AcdcSparsifier(model, 0.5, 4, layers=["0", "6"]).pruned) == ["0", "6"]
    only_linear = AcdcSparsifier(model, 0.5, 4, layers=lambda n, m: isinstance(m, nn.Linear))
    assert list(only_linear.pruned) == ["4", "6"]
    only_linear.on_epoch_start(1)
    assert bool((model[0].weight != 0).all())             # the excluded conv stays dense
    assert only_linear.target_densities()["0"] == 1.0
    d = only_linear.describe()
    assert d["method"] == "acdc" and d["sparsity"] == 0.5 and d["pruned_layers"] == ["4", "6"]
    assert d["schedule"]["phases"][0] == [0, 1, "dense"]


@pytest.mark.parametrize("make, message", [
    (lambda m: AcdcSparsifier(m, 1.0, 4), "sparsity"),
    (lambda m: AcdcSparsifier(m, 0.9999, 4), "keeps no weight"),
    (lambda m: AcdcSparsifier(m, 0.5, "ten"), "schedule"),
    (lambda m: AcdcSparsifier(m, 0.5, 3), "at least"),
    (lambda m: AcdcSparsifier(m, 0.5, 4, exclude=["fc"]), "matches no"),
    (lambda m: AcdcSparsifier(m, 0.5, 4, layers=["0"], exclude=["0"]), "no layer left"),
    (lambda m: AcdcSparsifier(nn.ReLU(), 0.5, 4), "no Conv2d or Linear"),
])
def test_bad_sparsifier_configs(make, message):
    with pytest.raises(ConfigError, match=message):
        make(tiny_model())


# ---- resume ------------------------------------------------------------------------------
EPOCHS = 12          # default schedule: d c d c d c d c dd cc


def run(epochs: range, model, opt, sp, data) -> list[dict]:
    events = []
    for epoch in epochs:
        train_epoch(model, opt, sp, data, epoch)
        events += sp.pop_events()
    return events


def build(seed: int):
    model = tiny_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sp = apply(model, 0.9, EPOCHS)
    sp.attach_optimizer(opt)
    return model, opt, sp


def test_resume_schedule_is_as_documented():
    assert kinds(AcdcSchedule(EPOCHS)) == "dcdcdcdcddcc"


@pytest.mark.parametrize("k", [3, 4, 9, 11])     # into compressed, into dense, mid-dense, mid-final
def test_resume_at_an_epoch_boundary_is_bit_identical(k):
    data = tiny_data()
    model, opt, sp = build(0)
    straight = run(range(EPOCHS), model, opt, sp, data)

    model1, opt1, sp1 = build(0)
    first = run(range(k), model1, opt1, sp1, data)
    buf = io.BytesIO()
    torch.save({"model": model1.state_dict(), "opt": opt1.state_dict(),
                "sparsifier": sp1.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    model2, opt2, sp2 = build(seed=123)                  # different init: loading must win
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    sp2.load_state_dict(ckpt["sparsifier"])
    rest = run(range(k, EPOCHS), model2, opt2, sp2, data)

    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert all(torch.equal(sp.masks[n], sp2.masks[n]) for n in sp.pruned)
    assert [(e["event"], e["phase_id"], e.get("churn")) for e in straight] == \
        [(e["event"], e["phase_id"], e.get("churn")) for e in first + rest]
    assert sp2.state_dict()["prune_points"] == sp.state_dict()["prune_points"] == 5


def test_load_rejects_another_runs_state():
    model, _, sp = build(0)
    state = sp.state_dict()
    with pytest.raises(ConfigError, match="schedule"):
        apply(tiny_model(), 0.9, 20).load_state_dict(state)
    with pytest.raises(ConfigError, match="sparsity"):
        apply(tiny_model(), 0.8, EPOCHS).load_state_dict(state)
    with pytest.raises(ConfigError, match="pruned layers"):
        apply(tiny_model(), 0.9, EPOCHS, exclude=["6"]).load_state_dict(state)
    with pytest.raises(ConfigError, match="method"):
        apply(tiny_model(), 0.9, EPOCHS).load_state_dict({**state, "method": "swat-u"})
