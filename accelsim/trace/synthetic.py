"""Seeded synthetic traces for any workload, without training (numpy only).

A :class:`SyntheticSpec` says how sparse each operand should be; :func:`write_synthetic_trace`
writes a trace with exactly those densities (exact counts, not expectations):

* weights: per-layer density from the distribution (``uniform`` / ``erk``, first layer
  dense or not, per-layer overrides), unstructured, ``channel`` (whole kernels
  ``W[m, c, :, :]`` removed: the channel pruning of SWAT 3.3.1 per kernel) or ``filter``
  (whole output filters removed); values ~ N(0, 2/fan_in) (Kaiming).
* forward input activations: the first layer sees the dense input image; every other
  layer a ReLU-like non-negative tensor with ``activation_sparsity`` zeros.  Zeros cluster
  in space when ``activation_clustering`` > 0: the mask is the top-k of Gaussian noise
  smoothed with a Gaussian of that standard deviation (pixels), so larger values give
  larger zero blobs, as ReLU zeros do; 0 gives independent zeros.
* activation saved for backward-weight: the forward activation itself, or (``saved_activation
  = "topk"``, SWAT) its Top-K by magnitude at the layer's weight density.
* output gradients: dense N(0, 1e-3) (``grad_sparsity`` > 0 zeroes a random fraction).
* the first layer has no backward-input pass (the input image needs no gradient).

That is the *uncalibrated* generator (``profile=None``, ``"none"`` on the command line).  By
default (``profile="shipped"``) values and zero structure come from a value profile fitted
on real traces (:mod:`accelsim.trace.profile`, :mod:`accelsim.trace.profiled`): the shipped
one of the model, else the ResNet-20 one (:data:`accelsim.trace.profile.SHIPPED`), or a
profile file's path.  Weight densities still follow the distribution; the forward
activation's and the gradient's densities and zero clustering come from the profile unless
``activation_sparsity`` / ``grad_sparsity`` / ``activation_clustering`` are given; SWAT's
saved activation is the Top-K of the forward one at ``min(activation density, weight
density)`` times the profile's ratio of the two.  The first layer's input comes from the
profile only when the data sets agree (else it is the dense N(0, 1) image); so do the
per-pixel density maps (the data's layout, e.g. a digit's blank border).  Weights with a
``channel`` or ``filter`` structure keep that mask and take the profile's values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from accelsim.errors import ConfigError
from accelsim.networks.catalog import TableDeriver, layer_table, model_input
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.methods import method_profile
from accelsim.spec.sparsity import DISTRIBUTIONS, check_sparsity, layer_densities
from accelsim.trace import TraceMetadata, TraceWriter
from accelsim.trace.profile import Profile, read_profile, shipped_profile_path
from accelsim.trace.profiled import profiled_pair, profiled_tensor, profiled_weight
from accelsim.trace.ranked import profiled_values

STRUCTURES = ("unstructured", "channel", "filter")
LEGACY_DEFAULTS = {"activation_sparsity": 0.5, "activation_clustering": 1.0,
                   "grad_sparsity": 0.0}
"""What the fields left at ``None`` mean without a profile (the uncalibrated generator)."""


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that decides a synthetic trace; equal specs give identical traces."""

    model: str
    dataset: str = "cifar10"
    batch: int = 1
    weight_sparsity: float = 0.9
    distribution: str = "uniform"
    first_layer_dense: bool = True
    weight_structure: str = "unstructured"
    activation_sparsity: float | None = None  # None: the profile's (0.5 without one)
    activation_clustering: float | None = None  # None: the profile's (1.0 without one)
    saved_activation: str = "forward"  # "forward" | "topk"
    grad_sparsity: float | None = None  # None: the profile's (0.0 without one)
    input_size: int | None = None
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    method: str = "synthetic"
    seed: int = 0
    profile: str | None = "shipped"  # "shipped", a profile file, or None ("none")

    def __post_init__(self) -> None:
        self._resolve_profile()
        check_sparsity(self.weight_sparsity, "weight sparsity")
        for name, what in (("activation_sparsity", "activation sparsity"),
                           ("grad_sparsity", "gradient sparsity")):
            if getattr(self, name) is not None:
                check_sparsity(getattr(self, name), what)
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"batch = {self.batch!r} must be an integer >= 1 (samples)")
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(f"distribution {self.distribution!r}: use one of {DISTRIBUTIONS}")
        if self.weight_structure not in STRUCTURES:
            raise ConfigError(f"weight structure {self.weight_structure!r}: use one of {STRUCTURES}")
        if self.saved_activation not in ("forward", "topk"):
            raise ConfigError(f"saved_activation {self.saved_activation!r}: use 'forward' or 'topk'")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed = {self.seed!r} must be an integer >= 0")
        c = self.activation_clustering
        if c is not None and (isinstance(c, bool) or not isinstance(c, int | float)
                              or not np.isfinite(c) or c < 0):
            raise ConfigError(f"activation clustering {c!r} must be >= 0 (pixels; 0 = independent)")

    def _resolve_profile(self) -> None:
        p = self.profile
        if isinstance(p, os.PathLike):
            p = os.fspath(p)
        if p is None or p == "none":
            object.__setattr__(self, "profile", None)
            for name, value in LEGACY_DEFAULTS.items():
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)
            return
        if not isinstance(p, str) or not p:
            raise ConfigError(f"profile = {p!r}: give \"shipped\", a profile file's path, or "
                              "\"none\" (the uncalibrated generator)")
        object.__setattr__(self, "profile", p)
        self.profile_data()  # a bad file fails here, before any work

    def profile_data(self) -> Profile | None:
        """The value profile the trace draws from (None: the uncalibrated generator)."""
        if self.profile is None:
            return None
        if self.profile == "shipped":
            return read_profile(shipped_profile_path(self.model))
        return read_profile(self.profile)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> SyntheticSpec:
        """The spec of :meth:`to_dict`'s output (a dict without ``profile`` is an
        uncalibrated spec, as written before profiles existed)."""
        return cls(**{"profile": None, **fields})

    @classmethod
    def for_method(cls, model: str, method: str, sparsity: float, **kwargs) -> SyntheticSpec:
        """A spec shaped like ``method`` (see :mod:`accelsim.spec.methods`) at ``sparsity``."""
        profile = method_profile(method)
        fields: dict = {"model": model, "method": method, "weight_sparsity": 0.0}
        if profile.distribution is not None:
            fields.update(weight_sparsity=sparsity, distribution=profile.distribution,
                          first_layer_dense=profile.first_layer_dense,
                          saved_activation="topk" if profile.topk_saved_activation else "forward")
        fields.update(kwargs)  # explicit fields override the profile
        return cls(**fields)

    def to_dict(self) -> dict:
        """The fields as a dict; an uncalibrated spec leaves ``profile`` out, so that its
        dict (and the digests made of it) is what it was before profiles existed."""
        out = asdict(self)
        if self.profile is None:
            del out["profile"]
        return out


def _exact_mask(scores: np.ndarray, density: float) -> np.ndarray:
    """Mask of the ``round(density * size)`` largest scores (exact count)."""
    k = int(round(density * scores.size))
    mask = np.zeros(scores.size, dtype=bool)
    if k >= scores.size:
        mask[:] = True
    elif k > 0:
        mask[np.argpartition(scores.reshape(-1), scores.size - k)[scores.size - k:]] = True
    return mask.reshape(scores.shape)


def synthetic_weight(g: LayerGeometry, density: float, structure: str,
                     rng: np.random.Generator) -> np.ndarray:
    shape = g.weight_shape()
    w = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / g.reduction_size))
    if structure == "filter":
        keep = _exact_mask(rng.random(shape[0]), density)
        if not keep.any():
            keep[rng.integers(shape[0])] = True
        mask = np.broadcast_to(keep.reshape((-1,) + (1,) * (len(shape) - 1)), shape)
    elif structure == "channel" and g.kind == "conv":
        keep = _exact_mask(rng.random(shape[:2]), density)
        mask = np.broadcast_to(keep[:, :, None, None], shape)
    else:
        mask = _exact_mask(rng.random(shape), density)
    return np.where(mask, w, np.float32(0))


def synthetic_activation(shape: tuple[int, ...], density: float, clustering: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Non-negative activation with exactly ``round(density*size)`` non-zeros whose
    positions cluster spatially with correlation length ``clustering`` pixels."""
    noise = rng.standard_normal(shape).astype(np.float32)
    if clustering > 0 and len(shape) == 4:
        noise = gaussian_filter(noise, sigma=(0, 0, clustering, clustering), mode="wrap")
    mask = _exact_mask(noise, density)
    values = np.abs(rng.standard_normal(shape)).astype(np.float32) + np.float32(1e-3)
    return np.where(mask, values, np.float32(0))


def topk_magnitude(a: np.ndarray, density: float) -> np.ndarray:
    """Keep the ``round(density*size)`` largest-magnitude entries (SWAT's Top-K-NCHW)."""
    if density >= 1.0:
        return a
    return np.where(_exact_mask(np.abs(a), density) & (a != 0), a, np.float32(0))


def _legacy_operands(spec: SyntheticSpec, g: LayerGeometry, index: int, density: float,
                     rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """The operands of one layer by the uncalibrated generator (module docstring)."""
    w = synthetic_weight(g, density, spec.weight_structure, rng)
    a_shape = g.activation_shape(spec.batch)
    if index == 0:
        a = rng.standard_normal(a_shape).astype(np.float32)
    else:
        a = synthetic_activation(a_shape, 1.0 - spec.activation_sparsity,
                                 spec.activation_clustering, rng)
    saved = topk_magnitude(a, density) if spec.saved_activation == "topk" else a
    grad = rng.standard_normal(g.grad_shape(spec.batch)).astype(np.float32) * np.float32(1e-3)
    if spec.grad_sparsity > 0:
        grad = np.where(_exact_mask(rng.random(grad.shape), 1.0 - spec.grad_sparsity),
                        grad, np.float32(0))
    return {"forward": {"weight": w, "activation": a},
            "backward_weight": {"activation": saved, "grad": grad}}


def _profiled_operands(spec: SyntheticSpec, profile: Profile, g: LayerGeometry, index: int,
                       count: int, density: float, dataset: str,
                       rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """The operands of one layer drawn from ``profile`` (module docstring)."""
    lp = profile.layer_for(index, count, g.kind)
    roles = lp.roles
    layout = profile.dataset == dataset  # the pixel maps are the data set's layout
    if spec.weight_structure == "unstructured":
        w = profiled_weight(g.weight_shape(), density, roles["weight"], rng)
    else:
        mask = synthetic_weight(g, density, spec.weight_structure, rng) != 0
        w = profiled_values(mask, roles["weight"], 0, rng)
    a_shape = g.activation_shape(spec.batch)
    act, saved_stats = roles["activation"], roles["saved"]
    act_density = act.density if spec.activation_sparsity is None \
        else 1.0 - spec.activation_sparsity
    clustering = act.clustering if spec.activation_clustering is None \
        else float(spec.activation_clustering)
    if index == 0 and profile.dataset != dataset:
        a = rng.standard_normal(a_shape).astype(np.float32)
        saved = topk_magnitude(a, density) if spec.saved_activation == "topk" else a
    elif spec.saved_activation == "topk":
        ratio = min(saved_stats.density / max(min(act.density, lp.weight_density), 1e-12), 1.0)
        a, saved = profiled_pair(a_shape, act_density, ratio * min(act_density, density), act,
                                 saved_stats, (clustering, saved_stats.clustering), rng,
                                 layout=layout)
    else:
        a = profiled_tensor(a_shape, act_density, act, 1, clustering, rng, layout=layout)
        saved = a
    grad_stats = roles["grad"]
    grad_density = grad_stats.density if spec.grad_sparsity is None \
        else 1.0 - spec.grad_sparsity
    grad = profiled_tensor(g.grad_shape(spec.batch), grad_density, grad_stats, 1,
                           grad_stats.clustering, rng, layout=layout)
    return {"forward": {"weight": w, "activation": a},
            "backward_weight": {"activation": saved, "grad": grad}}


def generate_layers(spec: SyntheticSpec, *, derive: TableDeriver | None = None
                    ) -> Iterator[tuple[LayerGeometry, dict[str, dict[str, np.ndarray]]]]:
    """Yield ``(geometry, operands)`` per layer, one layer in memory at a time; ``derive``:
    how to derive a layer table that does not ship (:func:`accelsim.networks.catalog.layer_table`)."""
    layers = layer_table(spec.model, spec.dataset, spec.input_size, derive=derive)
    densities = layer_densities(layers, spec.weight_sparsity, distribution=spec.distribution,
                                first_layer_dense=spec.first_layer_dense,
                                overrides=spec.layer_sparsity)
    profile = spec.profile_data()
    dataset = model_input(spec.model, spec.dataset, spec.input_size).dataset
    for index, (g, density) in enumerate(zip(layers, densities, strict=True)):
        rng = np.random.default_rng([spec.seed, index])
        if profile is None:
            operands = _legacy_operands(spec, g, index, density, rng)
        else:
            operands = _profiled_operands(spec, profile, g, index, len(layers), density,
                                          dataset, rng)
        if index > 0:
            operands["backward_input"] = {"weight": operands["forward"]["weight"],
                                          "grad": operands["backward_weight"]["grad"]}
        yield g, operands
        del operands  # not held while the next layer is drawn


def write_synthetic_trace(spec: SyntheticSpec, path: str | Path, *, encoding: str = "fixed16",
                          derive: TableDeriver | None = None) -> Path:
    """Write the trace of ``spec`` to ``path`` atomically and return the path (``derive``: as
    for :func:`generate_layers`)."""
    inp = model_input(spec.model, spec.dataset, spec.input_size)
    params = spec.to_dict()
    metadata = TraceMetadata(
        model=spec.model, dataset=inp.dataset, method=spec.method, step=0, epoch=0,
        batch_indices=tuple(range(spec.batch)),
        method_params={"weight_sparsity": spec.weight_sparsity,
                       "distribution": spec.distribution,
                       "first_layer_dense": spec.first_layer_dense},
        extra={"synthetic": params, "input": [inp.in_channels, inp.input_size, inp.input_size]})
    with TraceWriter(path, metadata, encoding=encoding) as writer:
        for g, operands in generate_layers(spec, derive=derive):
            writer.add_layer(g, operands)
    return Path(path)
