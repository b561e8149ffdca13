"""The sparsifier base owns, applies and saves the masks; a method only supplies scores."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.masks import keep_count
from training.sparsifier import ParamsCheckpoint, Sparsifier


class HalfByIndex(Sparsifier):
    """A tiny method: scores are the flat index, so the top-k is the last k weights."""

    method = "half-by-index"

    def scores(self) -> dict[str, torch.Tensor]:
        return {n: torch.arange(m.weight.numel(), dtype=torch.float32).view(m.weight.shape)
                for n, m in self.layers.items()}

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if epoch == 0:
            self.set_masks(self.select({n: keep_count(0.5, m.weight.numel())
                                        for n, m in self.layers.items()})[0])


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def test_a_subclass_supplying_scores_gets_exact_counts_and_applied_masks():
    model = _model()
    sp = HalfByIndex(model)
    sp.on_epoch_start(0)
    for name, m in sp.layers.items():
        n = m.weight.numel()
        assert int(sp.masks[name].sum()) == keep_count(0.5, n)
        assert bool(sp.masks[name].flatten()[n - keep_count(0.5, n):].all())
        assert int((m.weight != 0).sum()) == keep_count(0.5, n)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(torch.randn(4, 5)).sum().backward()
    opt.step()
    sp.step()                                       # the base re-applies the masks
    assert all(torch.equal(m.weight != 0, sp.masks[n]) for n, m in sp.layers.items())
    assert sp.target_densities() == {n: keep_count(0.5, m.weight.numel()) / m.weight.numel()
                                     for n, m in sp.layers.items()}
    assert all(torch.equal(sp.weight_masks()[n], sp.masks[n]) for n in sp.layers)


def test_global_selection_and_default_magnitude_scores():
    model = _model()
    sp = Sparsifier(model)                           # the dense baseline: no masks
    assert sp.masks == {} and sp.measured_densities() is None and sp.phase() is None
    total = sum(m.weight.numel() for m in sp.layers.values())
    masks, threshold = sp.select(keep_count(0.75, total))
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(0.75, total)
    kept = torch.cat([m.weight.detach().abs()[masks[n]] for n, m in sp.layers.items()])
    assert float(kept.min()) == threshold


def test_masks_survive_a_state_dict_round_trip():
    sp = HalfByIndex(_model())
    sp.on_epoch_start(0)
    state = sp.state_dict()
    other = HalfByIndex(_model(seed=1))
    other.load_state_dict(state)
    assert set(other.masks) == set(sp.masks)
    assert all(torch.equal(other.masks[n], sp.masks[n]) for n in sp.masks)
    assert all(torch.equal(m.weight != 0, other.masks[n]) for n, m in other.layers.items())


def test_params_checkpoint_needs_params_at_definition():
    """A sparsifier that mixes in ParamsCheckpoint without ``_params`` is refused when the
    class is defined, not when its first checkpoint is written."""
    with pytest.raises(TypeError, match="NoParams mixes in ParamsCheckpoint"):
        class NoParams(ParamsCheckpoint, Sparsifier):
            pass

    class WithParams(ParamsCheckpoint, Sparsifier):
        def _params(self) -> dict:
            return {"k": 1}
    assert WithParams._params(None) == {"k": 1}
