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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from accelsim.errors import ConfigError
from accelsim.networks.catalog import TableDeriver, layer_table, model_input
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.methods import method_profile
from accelsim.spec.sparsity import DISTRIBUTIONS, check_sparsity, layer_densities
from accelsim.trace import TraceMetadata, TraceWriter

STRUCTURES = ("unstructured", "channel", "filter")


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
    activation_sparsity: float = 0.5
    activation_clustering: float = 1.0
    saved_activation: str = "forward"  # "forward" | "topk"
    grad_sparsity: float = 0.0
    input_size: int | None = None
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    method: str = "synthetic"
    seed: int = 0

    def __post_init__(self) -> None:
        check_sparsity(self.weight_sparsity, "weight sparsity")
        check_sparsity(self.activation_sparsity, "activation sparsity")
        check_sparsity(self.grad_sparsity, "gradient sparsity")
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
        if not isinstance(c, int | float) or not np.isfinite(c) or c < 0:
            raise ConfigError(f"activation clustering {c!r} must be >= 0 (pixels; 0 = independent)")

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
        return asdict(self)


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


def generate_layers(spec: SyntheticSpec, *, derive: TableDeriver | None = None
                    ) -> Iterator[tuple[LayerGeometry, dict[str, dict[str, np.ndarray]]]]:
    """Yield ``(geometry, operands)`` per layer, one layer in memory at a time; ``derive``:
    how to derive a layer table that does not ship (:func:`accelsim.networks.catalog.layer_table`)."""
    layers = layer_table(spec.model, spec.dataset, spec.input_size, derive=derive)
    densities = layer_densities(layers, spec.weight_sparsity, distribution=spec.distribution,
                                first_layer_dense=spec.first_layer_dense,
                                overrides=spec.layer_sparsity)
    for index, (g, density) in enumerate(zip(layers, densities, strict=True)):
        rng = np.random.default_rng([spec.seed, index])
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
        operands = {"forward": {"weight": w, "activation": a},
                    "backward_weight": {"activation": saved, "grad": grad}}
        if index > 0:
            operands["backward_input"] = {"weight": w, "grad": grad}
        yield g, operands


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
