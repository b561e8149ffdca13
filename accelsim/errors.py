"""Error types.  Every bad input raises one of these with a one-line message that
names the thing (file, layer, field) and the fix; the CLI prints it without a traceback."""

from __future__ import annotations


class AccelsimError(Exception):
    """Base class: a user-facing, one-line error."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class GeometryError(AccelsimError, ValueError):
    """A layer record whose fields are impossible or inconsistent."""


class TraceError(AccelsimError, ValueError):
    """A trace file that is missing, truncated, of the wrong version, or inconsistent."""


class WorkloadError(AccelsimError, ValueError):
    """An unknown model/data set name or an input shape a model cannot take."""


class ConfigError(AccelsimError, ValueError):
    """An impossible configuration value (sparsity outside [0, 1), unknown method ...)."""


class HardwareError(AccelsimError, ValueError):
    """A hardware description (TOML file or dict) with an unknown key, wrong type or bad value."""


class LoweringError(AccelsimError, ValueError):
    """Operands that do not fit a layer's pass (wrong shape, unknown pass, lanes < 1 ...)."""


class ResultsError(AccelsimError, ValueError):
    """A results input (GPU measurements, a simulation report, a run directory, a results
    store's rows) that is missing, unreadable, malformed or empty."""


class ProfileError(AccelsimError, ValueError):
    """A value profile (``accelsim profile``, ``--profile FILE``) that is missing,
    unreadable, of another version or malformed."""
