"""The versioned trace contract: schema, writer, validating reader, DNNsim import/export."""

from accelsim.trace.reader import LayerData, LayerEntry, Trace, TraceCheck, open_trace
from accelsim.trace.rundir import (
    TraceListing,
    check_trace,
    find_trace,
    list_traces,
    scan_traces,
)
from accelsim.trace.schema import (
    PASS_ROLES,
    PASSES,
    SCHEMA_VERSION,
    TRACE_SUFFIX,
    TraceMetadata,
)
from accelsim.trace.writer import TraceWriter, write_trace

__all__ = [
    "PASSES", "PASS_ROLES", "SCHEMA_VERSION", "TRACE_SUFFIX", "LayerData", "LayerEntry",
    "Trace", "TraceCheck", "TraceListing", "TraceMetadata", "TraceWriter", "check_trace",
    "find_trace", "list_traces", "open_trace", "scan_traces", "write_trace",
]
