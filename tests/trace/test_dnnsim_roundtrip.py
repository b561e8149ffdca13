"""export-dnnsim -> import-dnnsim keeps the cycles of every pass the format carries (the
forward pass) on every machine, for float traces and for the integer traces of the DNNsim
peer comparison (tests/data/dnnsim)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelsim.simulate import simulate
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import builtin_hardware
from accelsim.trace.dnnsim import export_dnnsim, import_dnnsim
from accelsim.trace.schema import TraceMetadata
from accelsim.trace.writer import TraceWriter
from tests.trace.dnnsim_helpers import BATCH, sparse

PEER = Path(__file__).resolve().parents[1] / "data" / "dnnsim" / "w90-a20-s8.trace"
MACHINES = ["dadiannao", "bit-tactical", "bit-tactical-tclp", "bit-tactical-tcle", "scnn",
            "ideal", "systolic-os-32x32"]


def _float_trace(path: Path) -> Path:
    rng = np.random.default_rng(7)
    layers = [LayerGeometry(name="c1", kind="conv", in_channels=5, out_channels=20, kernel_h=3,
                            kernel_w=3, stride_h=2, stride_w=2, padding_h=1, padding_w=1,
                            input_h=9, input_w=9, output_h=5, output_w=5),
              LayerGeometry(name="dw", kind="conv", in_channels=20, out_channels=20, kernel_h=3,
                            kernel_w=1, padding_h=1, padding_w=1, groups=20, input_h=5,
                            input_w=5, output_h=5, output_w=7),
              LayerGeometry(name="head", kind="linear", in_channels=40, out_channels=7)]
    meta = TraceMetadata(model="m", dataset="d", method="dense", batch_indices=(0, 1))
    with TraceWriter(path, meta, encoding="float32") as writer:
        for g in layers:
            act = sparse(rng, g.activation_shape(BATCH))
            writer.add_layer(g, {"forward": {"weight": sparse(rng, g.weight_shape()),
                                             "activation": act}})
    return path


def _cycles(trace: Path, machine: str) -> list[tuple[str, int, int]]:
    report = simulate(trace, builtin_hardware(machine), passes=("forward",))
    return [(lr.geometry.name, lr.passes["forward"].base_cycles,
             lr.passes["forward"].compute_cycles) for lr in report.layers]


@pytest.mark.parametrize("source", ["float", "peer-integer"])
@pytest.mark.parametrize("encoding", ["float32", "fixed16"])
def test_round_trip_keeps_cycles(tmp_path, source, encoding):
    src = _float_trace(tmp_path / "t.trace") if source == "float" else PEER
    if source == "peer-integer" and encoding == "fixed16":
        pytest.skip("fixed16 rescales integers: the quantisation rule changes, by design")
    back = import_dnnsim(export_dnnsim(src, tmp_path / "d"), tmp_path / "back.trace",
                         encoding=encoding)
    for machine in MACHINES:
        assert _cycles(back, machine) == _cycles(src, machine), machine
