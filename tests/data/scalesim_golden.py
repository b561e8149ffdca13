"""Golden compute cycles of SCALE-Sim v3 (run on demand, never by the test suite).

    nice /tmp/scalesim-venv/bin/python tests/data/scalesim_golden.py tests/data/scalesim_golden.jsonl

SCALE-Sim lives in a venv of its own (``python3 -m venv /tmp/scalesim-venv &&
/tmp/scalesim-venv/bin/pip install scalesim "numpy<2.4"``; pip release 3.0.0).  Every
(layer set, array, dataflow, layer) job below is one SCALE-Sim run through its Python API
(``scalesim(..., save_disk_space=True).run_scale()``) with the CALC interface bandwidth (no
DRAM stalls); the compute cycles are ``Total Cycles - Stall Cycles`` of its
``COMPUTE_REPORT.csv``.  Each finished job is appended to the output file as one JSON line::

    {"set": "small", "array": [h, w], "dataflow": "os", "layer": [name, ih, iw, fh, fw, c, m, s],
     "compute_cycles": N}

so a partial run is usable, and a rerun skips the jobs already in the file.  The jobs run in
this order: the small strided layers whose ``(H - R) / stride`` is not exact (s1..s5) on
every array and dataflow, every unique ResNet-50 (ImageNet) layer shape on 32x32 os, ws, is
and the non-square 16x64 os, then the other small layers (l1..l7) on every array and
dataflow.

SCALE-Sim has no padding: the topology rows are unpadded inputs (IFMAP height/width as
given, e.g. ResNet-50 conv1 is 224x224 with a 7x7 filter at stride 2, so SCALE-Sim counts
``ceil((224 - 7) / 2) + 1 = 110`` output rows); accelsim's matching layer is the same layer
with padding 0 in ``compat = "scalesim"`` mode.  ``tests/arrays/test_systolic_golden.py``
reads the committed JSON lines.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

SMALL = [
    ("l1", 6, 6, 3, 3, 2, 5, 1),
    ("l2", 9, 7, 3, 3, 3, 11, 2),
    ("l3", 5, 5, 1, 1, 16, 9, 1),
    ("l4", 8, 8, 2, 2, 4, 3, 2),
    ("l5", 7, 7, 3, 3, 8, 20, 1),
    ("l6", 18, 18, 3, 3, 32, 64, 1),
    ("l7", 1, 1, 1, 1, 100, 10, 1),
    # strided layers whose division is inexact (SCALE-Sim keeps the partial edge window)
    ("s1", 10, 10, 3, 3, 4, 6, 2),
    ("s2", 11, 9, 4, 2, 3, 5, 3),
    ("s3", 12, 13, 7, 7, 3, 8, 2),
    ("s4", 8, 8, 1, 1, 6, 7, 2),
    ("s5", 9, 12, 2, 3, 5, 4, 4),
]
SMALL_ARRAYS = [(4, 4), (8, 4), (4, 8), (32, 32)]
DATAFLOWS = ["os", "ws", "is"]
RESNET50_CONFIGS = [((32, 32), "os"), ((32, 32), "ws"), ((32, 32), "is"), ((16, 64), "os")]
ROOT = Path(__file__).resolve().parents[2]

CFG = """\
[general]
run_name = golden

[architecture_presets]
ArrayHeight:    {h}
ArrayWidth:     {w}
IfmapSramSzkB:   1024
FilterSramSzkB:  1024
OfmapSramSzkB:   1024
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : {df}
MemoryBanks:   1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
          "Num Filter, Strides,")


def resnet50_layers() -> list[tuple]:
    """Unique (unpadded) layer shapes of ResNet-50 on ImageNet, the fc as a 1x1 conv."""
    table = json.loads((ROOT / "accelsim/networks/layer_tables/resnet50_imagenet.json")
                       .read_text())
    seen: dict[tuple, str] = {}
    for layer in table["layers"]:
        shape = (layer["input_h"], layer["input_w"], layer["kernel_h"], layer["kernel_w"],
                 layer["in_channels"], layer["out_channels"], layer["stride_h"])
        assert layer["stride_h"] == layer["stride_w"] and layer["groups"] == 1
        seen.setdefault(shape, layer["name"])
    return [(name, *shape) for shape, name in seen.items()]


def run_one(layer: tuple, h: int, w: int, df: str, work: Path) -> int:
    """Compute cycles of one layer on an h x w array with dataflow df."""
    from scalesim.scale_sim import scalesim

    cfg, topo, layout = work / "scale.cfg", work / "topo.csv", work / "layout.csv"
    cfg.write_text(CFG.format(h=h, w=w, df=df))
    topo.write_text(HEADER + "\n" + ",".join(map(str, layer)) + ",\n")
    layout.write_text("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
                      "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel "
                      "Intraline Factor, Num Filter Intraline Factor,\n"
                      f"{layer[0]},1,1,1,1,1,1,\n")
    out = work / f"out-{h}x{w}-{df}-{layer[0]}"
    s = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                 layout=str(layout), input_type_gemm=False)
    s.run_scale(top_path=str(out))
    report = next(out.rglob("COMPUTE_REPORT.csv"))
    with open(report, newline="") as f:
        rows = [r for r in csv.reader(f, skipinitialspace=True)][1:]
    rows = [r for r in rows if r and r[0].strip()]
    # columns: LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, ...
    (row,) = rows
    return int(float(row[2])) - int(float(row[3]))


def jobs() -> list[tuple[str, tuple[int, int], str, tuple]]:
    """Every (set, array, dataflow, layer), cheapest first."""
    small = [("small", a, df, layer) for a in SMALL_ARRAYS for df in DATAFLOWS for layer in SMALL]
    strided = [j for j in small if j[3][0].startswith("s")]
    rn = resnet50_layers()
    rn_jobs = [("resnet50", a, df, layer) for a, df in RESNET50_CONFIGS for layer in rn]
    return strided + rn_jobs + [j for j in small if j not in strided]


def main(path: str) -> None:
    target = Path(path)
    done = set()
    if target.exists():
        for line in target.read_text().splitlines():
            r = json.loads(line)
            done.add((r["set"], tuple(r["array"]), r["dataflow"], tuple(r["layer"])))
    with tempfile.TemporaryDirectory() as tmp:
        for name, (h, w), df, layer in jobs():
            if (name, (h, w), df, tuple(layer)) in done:
                continue
            cycles = run_one(layer, h, w, df, Path(tmp))
            rec = {"set": name, "array": [h, w], "dataflow": df, "layer": list(layer),
                   "compute_cycles": cycles}
            with open(target, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
