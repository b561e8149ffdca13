"""Top-K by selection: exact counts per group, ties and zeros, periodic reuse."""

import pytest
import torch

from accelsim.errors import ConfigError
from training.topk import (
    mask_from_threshold,
    reusable_threshold,
    threshold,
    topk_mask,
)


def _distinct(*shape: int) -> torch.Tensor:
    n = 1
    for s in shape:
        n *= s
    g = torch.Generator().manual_seed(n)
    signs = torch.randint(0, 2, (n,), generator=g) * 2 - 1
    return (torch.randperm(n, generator=g).float() + 1).mul(signs).reshape(shape)


def _sorted_mask(x: torch.Tensor, density: float) -> torch.Tensor:
    """Reference: full sort, keep the round(d * N) largest magnitudes."""
    flat = x.abs().reshape(-1)
    keep = round(density * flat.numel())
    out = torch.zeros_like(flat, dtype=torch.bool)
    out[torch.argsort(flat, descending=True)[:keep]] = True
    return out.reshape(x.shape)


@pytest.mark.parametrize("density", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_nchw_matches_full_sort(density):
    x = _distinct(4, 3, 5, 5)
    assert torch.equal(topk_mask(x, density, "nchw"), _sorted_mask(x, density))


def test_chw_keeps_k_per_sample_and_hw_per_channel():
    x = _distinct(4, 3, 5, 5)
    m = topk_mask(x, 0.2, "chw")
    assert m.reshape(4, -1).sum(1).tolist() == [15] * 4
    for n in range(4):
        assert torch.equal(m[n], _sorted_mask(x[n], 0.2))
    m = topk_mask(x, 0.2, "hw")
    assert m.sum(dim=(2, 3)).eq(5).all()


def test_kernel_and_filter_select_whole_groups_by_l1():
    w = _distinct(6, 4, 3, 3)
    k = topk_mask(w, 0.5, "kernel")
    per_kernel = k.reshape(6, 4, 9)
    assert (per_kernel.all(-1) | ~per_kernel.any(-1)).all()          # whole kernels
    assert per_kernel.all(-1).sum(1).tolist() == [2] * 6             # 2 of 4 per filter
    l1 = w.abs().sum(dim=(2, 3))
    for f in range(6):
        kept = per_kernel[f].all(-1)
        assert l1[f][kept].min() > l1[f][~kept].max()
    f = topk_mask(w, 1 / 3, "filter")
    kept = f.reshape(6, -1).all(1)
    assert int(kept.sum()) == 2 and not f.reshape(6, -1)[~kept].any()
    l1f = w.abs().reshape(6, -1).sum(1)
    assert l1f[kept].min() > l1f[~kept].max()


def test_zeros_are_never_selected():
    x = torch.zeros(2, 10)
    x[0, 0] = 3.0
    x[1, 4] = -1.0
    m = topk_mask(x, 0.5, "nchw")            # k = 10 but only 2 non-zeros
    assert m.sum() == 2 and m[0, 0] and m[1, 4]


def test_linear_fallbacks_select_per_row():
    w = _distinct(5, 20)
    for variant in ("chw", "hw", "kernel"):
        assert topk_mask(w, 0.25, variant).sum(1).tolist() == [5] * 5
    rows = topk_mask(w, 0.4, "filter").all(1)
    assert int(rows.sum()) == 2


def test_reusable_activation_thresholds_apply_to_a_new_batch():
    x = _distinct(4, 3, 5, 5)
    t = threshold(x, 0.2, "hw")
    r = reusable_threshold(t, x, "hw", "activation")
    assert r.shape == (3, 1)
    y = _distinct(2, 3, 5, 5)                   # another batch of another size
    m = mask_from_threshold(y, r, "hw")
    assert m.shape == y.shape
    assert torch.equal(m[0, 1], y[0, 1].abs() > r[1])
    r = reusable_threshold(threshold(x, 0.2, "chw"), x, "chw", "activation")
    assert r.shape == (1, 1)
    assert mask_from_threshold(y, r, "chw").shape == y.shape
    w = reusable_threshold(t, x, "hw", "weight")
    assert w.shape == t.shape


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(ConfigError, match="variant"):
        topk_mask(torch.ones(2, 2), 0.5, "rows")
    with pytest.raises(ConfigError, match="density"):
        threshold(torch.ones(2, 2), 1.5)
    with pytest.raises(ConfigError, match="groups"):
        mask_from_threshold(torch.ones(4, 6), torch.zeros(3, 1), "chw")
