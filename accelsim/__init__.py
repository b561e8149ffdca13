"""accelsim: how much faster would sparse training run on a sparse accelerator, and on a GPU?

The simulator side (this package) never imports torch.
"""

from accelsim.errors import AccelsimError, ConfigError, GeometryError, TraceError, WorkloadError
from accelsim.simulate import Report, simulate, simulate_layer
from accelsim.spec.geometry import LayerGeometry
from accelsim.spec.hardware import Hardware, load_hardware
from accelsim.trace import TraceMetadata, TraceWriter, find_trace, open_trace

__version__ = "0.1.0"

__all__ = [
    "AccelsimError", "ConfigError", "GeometryError", "Hardware", "LayerGeometry", "Report",
    "TraceError", "load_hardware", "simulate", "simulate_layer",
    "TraceMetadata", "TraceWriter", "WorkloadError", "find_trace", "open_trace", "__version__",
]
