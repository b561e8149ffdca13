"""FLOP accounting: dense and effectual MACs per layer and pass, and the reductions.

Conventions (SWAT, appendix A.3):

* dense MACs of every pass equal the layer's forward MACs ``batch * out * Ho * Wo *
  in/groups * kh * kw`` (products with padding included); FLOPs = 2 x MACs, so every
  reduction below is the same in MACs and FLOPs.
* the first layer has no backward-input pass (the input image needs no gradient), so it
  counts neither in the dense nor in the effectual training MACs.
* from a **trace**, effectual MACs are counted exactly from the operand masks: the
  products whose two operands are both non-zero (and, for backward-input, that land
  inside the unpadded input).
* from a **spec** (model, method, sparsity), effectual = dense x product of operand
  densities; like the paper we leave the natural activation sparsity of the forward pass
  out (``activation_sparsity`` = 0) unless it is given.

``inference_flops_reduction = 1 - eff_forward / dense_forward``;
``training_flops_reduction = 1 - sum_passes eff / sum_passes dense``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.methods import method_profile
from accelsim.spec.sparsity import check_sparsity, layer_densities
from accelsim.trace.schema import PASS_ROLES, PASSES


@dataclass(frozen=True)
class PassFlops:
    dense_macs: int
    effectual_macs: float


@dataclass(frozen=True)
class LayerFlops:
    geometry: LayerGeometry
    passes: dict[str, PassFlops]
    densities: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class FlopReport:
    """Per-layer MACs for ``batch`` samples and the network totals."""

    source: str
    batch: int
    layers: tuple[LayerFlops, ...]

    def total(self, pass_name: str, what: str) -> float:
        return sum(getattr(layer.passes[pass_name], what) for layer in self.layers
                   if pass_name in layer.passes)

    @property
    def inference_flops_reduction(self) -> float:
        dense = self.total("forward", "dense_macs")
        return 1.0 - self.total("forward", "effectual_macs") / dense if dense else 0.0

    @property
    def training_flops_reduction(self) -> float:
        dense = sum(self.total(p, "dense_macs") for p in PASSES)
        eff = sum(self.total(p, "effectual_macs") for p in PASSES)
        return 1.0 - eff / dense if dense else 0.0

    def to_dict(self) -> dict:
        totals = {p: {"dense_macs": self.total(p, "dense_macs"),
                      "effectual_macs": self.total(p, "effectual_macs")} for p in PASSES}
        return {
            "source": self.source, "batch": self.batch,
            "inference_flops_reduction": self.inference_flops_reduction,
            "training_flops_reduction": self.training_flops_reduction,
            "totals": totals,
            "layers": [{"layer": lf.geometry.name, "kind": lf.geometry.kind,
                        "passes": {p: {"dense_macs": f.dense_macs,
                                       "effectual_macs": f.effectual_macs,
                                       **lf.densities.get(p, {})}
                                   for p, f in lf.passes.items()}}
                       for lf in self.layers],
        }


# ---- spec-based accounting -------------------------------------------------------------
def spec_flops(layers: Sequence[LayerGeometry], method: str, sparsity: float, *,
               activation_sparsity: float = 0.0, batch: int = 1,
               source: str = "spec") -> FlopReport:
    """MACs of one training step of ``batch`` samples under ``method`` at ``sparsity``.

    ``activation_sparsity`` is the natural sparsity of forward input activations (all but
    the first layer); 0 reproduces the paper's accounting."""
    profile = method_profile(method)
    s = check_sparsity(sparsity)
    a_s = check_sparsity(activation_sparsity, "activation sparsity")
    if profile.distribution is None:
        w_dens = (1.0,) * len(layers)
    else:
        w_dens = layer_densities(layers, s, distribution=profile.distribution,
                                 first_layer_dense=profile.first_layer_dense)
    out = []
    for i, (g, wd) in enumerate(zip(layers, w_dens, strict=True)):
        ad = 1.0 if i == 0 else 1.0 - a_s
        saved = min(ad, wd) if profile.topk_saved_activation else ad
        dense = g.macs_per_sample * batch
        dens = {"forward": {"weight_density": wd, "activation_density": ad},
                "backward_input": {"weight_density": wd, "grad_density": 1.0},
                "backward_weight": {"activation_density": saved, "grad_density": 1.0}}
        passes = {"forward": PassFlops(dense, dense * wd * ad),
                  "backward_weight": PassFlops(dense, dense * saved)}
        if i > 0:
            passes["backward_input"] = PassFlops(dense, dense * wd)
        else:
            del dens["backward_input"]
        out.append(LayerFlops(g, passes, dens))
    return FlopReport(source, batch, tuple(out))


# ---- exact counts from operand masks ---------------------------------------------------------
def _padded(mask: np.ndarray, g: LayerGeometry) -> np.ndarray:
    return np.pad(mask, ((0, 0), (0, 0), (g.padding_h, g.padding_h), (g.padding_w, g.padding_w)))


def _tap(x: np.ndarray, g: LayerGeometry, ky: int, kx: int) -> np.ndarray:
    """The padded input samples that kernel tap (ky, kx) meets: [N, C, Ho, Wo]."""
    y0, x0 = ky * g.dilation_h, kx * g.dilation_w
    return x[:, :, y0:y0 + (g.output_h - 1) * g.stride_h + 1:g.stride_h,
             x0:x0 + (g.output_w - 1) * g.stride_w + 1:g.stride_w]


def _group_sum(a: np.ndarray, groups: int, axis: int) -> np.ndarray:
    """Sum channel axis ``axis`` within each of ``groups`` groups -> that axis has size G."""
    shape = a.shape[:axis] + (groups, a.shape[axis] // groups) + a.shape[axis + 1:]
    return a.reshape(shape).sum(axis=axis + 1)


def effectual_macs(g: LayerGeometry, pass_name: str, first: np.ndarray,
                   second: np.ndarray) -> int:
    """Exact count of products with both operands non-zero for one pass.

    Operands as in the trace: forward (weight, activation), backward_input (weight,
    grad), backward_weight (activation, grad); any dtype, non-zero = present."""
    a = np.asarray(first) != 0
    b = np.asarray(second) != 0
    if g.kind == "linear":
        if pass_name == "forward":      # sum_{n,m,c} W[m,c] A[n,c]
            return int(a.sum(axis=0).astype(np.int64) @ b.sum(axis=0).astype(np.int64))
        if pass_name == "backward_input":  # sum_{n,m,c} W[m,c] G[n,m]
            return int(a.sum(axis=1).astype(np.int64) @ b.sum(axis=0).astype(np.int64))
        # backward_weight: sum_{n,m,c} A[n,c] G[n,m]
        return int((a.sum(axis=1).astype(np.int64) * b.sum(axis=1)).sum())
    G = g.groups
    total = 0
    if pass_name == "forward":
        w, x = a, _padded(b, g)
        # per group: sum_{c in g, k} (sum_{m in g} W[m, c_loc, k]) * (sum_{n,pix} A_k[n, c])
        w_g = _group_sum(w.astype(np.int64), G, 0)  # [G, Cg, kh, kw]
        for ky in range(g.kernel_h):
            for kx in range(g.kernel_w):
                per_c = _tap(x, g, ky, kx).sum(axis=(0, 2, 3), dtype=np.int64)
                total += int((w_g[:, :, ky, kx].reshape(-1) * per_c).sum())
        return total
    if pass_name == "backward_input":
        w, grad = a, b
        # products W[m,c,k] G[n,m,oy,ox] whose input position lies inside the image
        cw = w.sum(axis=1, dtype=np.int64)  # [M, kh, kw]: non-zeros over c (within group)
        for ky in range(g.kernel_h):
            oy = np.arange(g.output_h) * g.stride_h + ky * g.dilation_h - g.padding_h
            vy = (oy >= 0) & (oy < g.input_h)
            for kx in range(g.kernel_w):
                ox = np.arange(g.output_w) * g.stride_w + kx * g.dilation_w - g.padding_w
                vx = (ox >= 0) & (ox < g.input_w)
                per_m = grad[:, :, vy][:, :, :, vx].sum(axis=(0, 2, 3), dtype=np.int64)
                total += int((cw[:, ky, kx] * per_m).sum())
        return total
    x, grad = _padded(a, g), b
    # backward_weight: sum_{n,pix,k} (sum_{m in g} G) * (sum_{c in g} A_k)
    g_sum = _group_sum(grad.astype(np.int64), G, 1)  # [N, G, Ho, Wo]
    for ky in range(g.kernel_h):
        for kx in range(g.kernel_w):
            a_sum = _group_sum(_tap(x, g, ky, kx).astype(np.int64), G, 1)
            total += int((g_sum * a_sum).sum())
    return total


def trace_flops(trace) -> FlopReport:
    """Exact per-layer, per-pass MACs of an open :class:`accelsim.trace.Trace`, loading
    one layer at a time."""
    batch = trace.metadata.batch
    out = []
    for layer in trace.iter_layers():
        g = layer.geometry
        passes = {}
        for pass_name in layer.passes:
            r1, r2 = PASS_ROLES[pass_name]
            eff = effectual_macs(g, pass_name, layer.mask(pass_name, r1), layer.mask(pass_name, r2))
            passes[pass_name] = PassFlops(g.macs_per_sample * batch, eff)
        out.append(LayerFlops(g, passes, layer.entry.densities))
    return FlopReport(str(trace.path), batch, tuple(out))
