"""Helpers shared by the benchmark scripts: the machine a result was measured on, atomic JSON
results, the ``--table`` option (README tables from a result), and the SCALE-Sim v3 inputs
(config, topology, layout) of the side-by-side runs.

The benchmarks run as scripts (``python benchmarks/X.py``); each puts this directory on
``sys.path`` and imports ``_common``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from accelsim.fileio import atomic_write


# ---- machine -----------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo ("model name"), else what ``platform`` knows."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01."""
    return [round(x, 2) for x in os.getloadavg()]


def machine(**extra: Any) -> dict[str, Any]:
    """Host, CPU model, cores, python and numpy versions, date and load average (the machine
    is shared), plus ``extra`` fields of the calling benchmark."""
    try:
        numpy = version("numpy")
    except PackageNotFoundError:
        numpy = None
    return {"host": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": numpy,
            "date": time.strftime("%Y-%m-%d"), "loadavg": loadavg(), **extra}


# ---- results -----------------------------------------------------------------------------
def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` through a temporary file in the same
    directory (fsynced, then renamed; :func:`accelsim.fileio.atomic_write`): readers never see a
    half-written result."""
    atomic_write(path, json.dumps(data, indent=1) + "\n")


def add_table_option(parser: argparse.ArgumentParser) -> None:
    """``--table``: print the README table(s) of the ``--out`` result and exit."""
    parser.add_argument("--table", action="store_true",
                        help="print the README table(s) of the --out result and exit")


def printed_table(args: argparse.Namespace, render: Callable[[dict[str, Any]], str]) -> bool:
    """With ``--table``: print ``render`` of the JSON at ``args.out`` and return True."""
    if args.table:
        print(render(json.loads(Path(args.out).read_text())))
    return bool(args.table)


# ---- SCALE-Sim inputs --------------------------------------------------------------------
SCALESIM_ARRAY = 32  # SCALE-Sim array height and width (its shipped configs/scale.cfg)


def scalesim_config(run_name: str, array: int = SCALESIM_ARRAY) -> str:
    """SCALE-Sim's shipped configs/scale.cfg (32x32, output stationary), plus the [layout] and
    [sparsity] sections that the pip release 3.0.0 requires (custom layouts and sparsity
    off)."""
    return f"""\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {array}
ArrayWidth:     {array}
IfmapSramSzkB:   64
FilterSramSzkB:  64
OfmapSramSzkB:   64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : os
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


TOPO_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
               "Channels, Num Filter, Strides,")

# Python-API run without trace files (``save_disk_space=True``, SCALE-Sim's fastest mode):
# argv = cfg, topology, layout, output dir; prints "WALL <seconds>" of the run itself.
SCALESIM_API_DRIVER = """\
import sys, time
from scalesim.scale_sim import scalesim
t0 = time.perf_counter()
s = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2],
             layout=sys.argv[3], input_type_gemm=False)
s.run_scale(top_path=sys.argv[4])
print("WALL", time.perf_counter() - t0)
"""


def scalesim_rows(layers: Sequence[Any]) -> list[list[Any]]:
    """SCALE-Sim conv topology rows (name, IFMAP h, w, filter h, w, channels, filters,
    stride) whose output sizes equal ours: SCALE-Sim has no padding field, so the IFMAP is
    the part of the padded input that the outputs read, ``(out - 1) * stride + kernel``."""
    rows = []
    for g in layers:
        if g.groups != 1 or g.dilation_h != 1 or g.dilation_w != 1 or g.stride_h != g.stride_w:
            raise ValueError(f"layer {g.name}: SCALE-Sim topology needs groups = dilation = 1 "
                             "and equal strides")
        ih = (g.output_h - 1) * g.stride_h + g.kernel_h
        iw = (g.output_w - 1) * g.stride_w + g.kernel_w
        rows.append([g.name, ih, iw, g.kernel_h, g.kernel_w, g.in_channels, g.out_channels,
                     g.stride_h])
    return rows


def write_scalesim_inputs(work: Path, rows: Sequence[Sequence[Any]], run_name: str,
                          topology: str = "topo.csv") -> tuple[Path, Path, Path]:
    """Write ``scale.cfg``, the topology ``topology`` (``rows`` of :func:`scalesim_rows`) and
    ``layout.csv`` into ``work``; returns the three paths."""
    cfg, topo, layout = work / "scale.cfg", work / topology, work / "layout.csv"
    cfg.write_text(scalesim_config(run_name))
    topo.write_text(TOPO_HEADER + "\n" + "".join(",".join(map(str, r)) + ",\n" for r in rows))
    layout.write_text("Layer name,\n")  # required by scalesim 3.0.0; unused (no custom layout)
    return cfg, topo, layout
