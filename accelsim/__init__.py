"""accelsim: how much faster would sparse training run on a sparse accelerator, and on a GPU?

The simulator side (this package) never imports torch.  The public names below are loaded on
first use (PEP 562), so ``import accelsim`` (and ``import accelsim.gpu``) imports neither numba
nor simpy; they come in with the first simulation (the array models load through
:mod:`accelsim.arrays.registry`).
"""

from __future__ import annotations

import importlib
from typing import Any

# ``simulate`` is both a submodule and a public function: importing the submodule binds the
# package attribute to the module, which a lazy lookup could not undo, so the function is
# bound here (the module imports no numba and no simpy).
from accelsim.simulate import Report, simulate, simulate_layer

__version__ = "0.1.0"

_PUBLIC: dict[str, str] = {
    "AccelsimError": "accelsim.errors",
    "ConfigError": "accelsim.errors",
    "GeometryError": "accelsim.errors",
    "TraceError": "accelsim.errors",
    "WorkloadError": "accelsim.errors",
    "LayerGeometry": "accelsim.spec.geometry",
    "Hardware": "accelsim.spec.hardware",
    "load_hardware": "accelsim.spec.hardware",
    "TraceMetadata": "accelsim.trace.schema",
    "TraceWriter": "accelsim.trace.writer",
    "find_trace": "accelsim.trace.reader",
    "open_trace": "accelsim.trace.reader",
}
"""Public name -> the module that defines it."""

__all__ = [*_PUBLIC, "Report", "simulate", "simulate_layer", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
