"""Golden compute cycles of SCALE-Sim v3 for small conv layers (run on demand, not a test).

    /tmp/scalesim-venv/bin/python tests/data/scalesim_golden.py > tests/data/scalesim_golden.json

SCALE-Sim lives in a venv of its own (``python3 -m venv /tmp/scalesim-venv &&
/tmp/scalesim-venv/bin/pip install scalesim "numpy<2.4"``; pip release 3.0.0).  Every layer
below is run on every (array, dataflow) pair through SCALE-Sim's Python API (``scalesim(...,
save_disk_space=True).run_scale()``) with the CALC interface bandwidth (no DRAM stalls);
the compute cycles are ``Total Cycles - Stall Cycles`` of its ``COMPUTE_REPORT.csv``.

SCALE-Sim has no padding: the topology rows are unpadded inputs (IFMAP height/width as
given), so accelsim's matching layer is the same layer with padding 0.  The rows are
(name, IFMAP h, IFMAP w, filter h, filter w, channels, filters, stride).  The JSON output
is what ``tests/arrays/test_arrays.py`` hard-codes as ``SCALESIM_GOLDEN``.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

LAYERS = [
    ("l1", 6, 6, 3, 3, 2, 5, 1),
    ("l2", 9, 7, 3, 3, 3, 11, 2),
    ("l3", 5, 5, 1, 1, 16, 9, 1),
    ("l4", 8, 8, 2, 2, 4, 3, 2),
    ("l5", 7, 7, 3, 3, 8, 20, 1),
    ("l6", 18, 18, 3, 3, 32, 64, 1),
    ("l7", 1, 1, 1, 1, 100, 10, 1),
]
ARRAYS = [(4, 4), (8, 4), (4, 8), (32, 32)]
DATAFLOWS = ["os", "ws", "is"]

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


def run(h: int, w: int, df: str, work: Path) -> list[int]:
    """Compute cycles of every layer of LAYERS on an h x w array with dataflow df."""
    from scalesim.scale_sim import scalesim

    cfg, topo, layout = work / "scale.cfg", work / "topo.csv", work / "layout.csv"
    cfg.write_text(CFG.format(h=h, w=w, df=df))
    topo.write_text(HEADER + "\n" + "\n".join(",".join(map(str, r)) + "," for r in LAYERS)
                    + "\n")
    layout.write_text("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
                      "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel "
                      "Intraline Factor, Num Filter Intraline Factor,\n"
                      + "\n".join(f"{r[0]},1,1,1,1,1,1," for r in LAYERS) + "\n")
    out = work / f"out-{h}x{w}-{df}"
    s = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                 layout=str(layout), input_type_gemm=False)
    s.run_scale(top_path=str(out))
    report = next(out.rglob("COMPUTE_REPORT.csv"))
    with open(report, newline="") as f:
        rows = [r for r in csv.reader(f, skipinitialspace=True)][1:]
    rows = [r for r in rows if r and r[0].strip()]
    # columns: LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, ...
    return [int(float(r[2])) - int(float(r[3])) for r in rows]


def main() -> None:
    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        for h, w in ARRAYS:
            for df in DATAFLOWS:
                golden[f"{h}x{w}-{df}"] = run(h, w, df, Path(tmp))
    json.dump({"layers": LAYERS, "compute_cycles": golden}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
