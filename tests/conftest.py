"""Shared fixtures: tiny geometries and traces that can be checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.spec.geometry import LayerGeometry
from accelsim.trace import TraceMetadata, TraceWriter


@pytest.fixture
def conv3x3() -> LayerGeometry:
    return LayerGeometry(name="conv", kind="conv", in_channels=4, out_channels=6, kernel_h=3,
                         kernel_w=3, padding_h=1, padding_w=1, input_h=5, input_w=5,
                         output_h=5, output_w=5)


@pytest.fixture
def conv_strided() -> LayerGeometry:
    return LayerGeometry(name="down", kind="conv", in_channels=6, out_channels=8, kernel_h=3,
                         kernel_w=3, stride_h=2, stride_w=2, padding_h=1, padding_w=1,
                         input_h=5, input_w=5, output_h=3, output_w=3)


@pytest.fixture
def depthwise() -> LayerGeometry:
    return LayerGeometry(name="dw", kind="conv", in_channels=8, out_channels=8, kernel_h=3,
                         kernel_w=3, padding_h=1, padding_w=1, groups=8, input_h=3,
                         input_w=3, output_h=3, output_w=3)


@pytest.fixture
def linear() -> LayerGeometry:
    return LayerGeometry(name="fc", kind="linear", in_channels=8, out_channels=3)


@pytest.fixture
def tiny_layers(conv3x3, conv_strided, depthwise, linear) -> tuple[LayerGeometry, ...]:
    return (conv3x3, conv_strided, depthwise, linear)


def random_operands(g: LayerGeometry, batch: int, rng: np.random.Generator,
                    density: float = 0.5) -> dict:
    def sparse(shape):
        a = rng.standard_normal(shape).astype(np.float32)
        return np.where(rng.random(shape) < density, a, 0).astype(np.float32)

    w = sparse(g.weight_shape())
    a = sparse(g.activation_shape(batch))
    grad = rng.standard_normal(g.grad_shape(batch)).astype(np.float32)
    saved = np.where(np.abs(a) > 0.5, a, 0).astype(np.float32)
    return {"forward": {"weight": w, "activation": a},
            "backward_input": {"weight": w, "grad": grad},
            "backward_weight": {"activation": saved, "grad": grad}}


@pytest.fixture
def make_trace(tmp_path, tiny_layers):
    """Write a tiny trace; returns (path, {layer name: operands})."""

    def make(name: str = "tiny.trace", encoding: str = "float32", batch: int = 2, seed: int = 0,
             step: int = 7):
        rng = np.random.default_rng(seed)
        md = TraceMetadata(model="tiny", dataset="synthetic", method="test", step=step,
                           epoch=1, batch_indices=tuple(range(10, 10 + batch)),
                           method_params={"sparsity": 0.5}, phase="compressed")
        ops = {}
        path = tmp_path / name
        with TraceWriter(path, md, encoding=encoding) as w:
            for g in tiny_layers:
                ops[g.name] = random_operands(g, batch, rng)
                w.add_layer(g, ops[g.name])
        return path, ops

    return make


@pytest.fixture
def operands_for():
    """``operands_for(geometry, batch, rng, density)`` -> pass -> role -> random array."""
    return random_operands
