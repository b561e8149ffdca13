"""The sweep spec as data: the frozen :class:`SweepSpec` and its parts, the spec format's
keys and limits, and :class:`SweepError`.  Loading: :func:`accelsim.explore.load.load_sweep`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accelsim.errors import ConfigError
from accelsim.networks.catalog import TableDeriver
from accelsim.spec.checks import show
from accelsim.spec.hardware import Hardware
from accelsim.trace.schema import PASSES

__all__ = ["REFERENCE", "HardwarePoint", "SkippedPoint", "SweepError", "SweepSpec", "Workload"]

TOP_KEYS = ("name", "passes", "invalid", "reference", "base", "grid", "points", "zip",
            "workloads")
WORKLOAD_TABLE_KEYS = ("traces", "run_steps", "synthetic")
SYNTHETIC_KEYS = ("model", "dataset", "method", "sparsity", "batch", "seed")
SYNTHETIC_EXTRA = ("activation_sparsity", "activation_clustering", "weight_structure",
                   "grad_sparsity", "input_size", "distribution", "first_layer_dense",
                   "saved_activation", "layer_sparsity")
SYNTHETIC_DEFAULTS = {"dataset": "cifar10", "method": "swat-u", "sparsity": 0.9, "batch": 1,
                      "seed": 0}
#: the machine speedups are measured against when a spec names none (built-in hardware)
REFERENCE = "dadiannao"
MAX_AXIS = 10_000
MAX_HARDWARE_POINTS = 1_000_000


class SweepError(ConfigError):
    """A sweep spec with an unknown key, a bad value, or no valid point; or a failed sweep."""


@dataclass(frozen=True)
class HardwarePoint:
    """One hardware point: the parameters set on the base (dotted keys), the result, and its
    name (:func:`accelsim.explore.labels.point_label`: what the sweep set, ``T<4,6> tcle
    x1``)."""

    params: dict[str, Any]
    hardware: Hardware
    digest: str
    label: str = ""


@dataclass(frozen=True)
class SkippedPoint:
    """A hardware combination left out as invalid, with the validation error."""

    params: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Workload:
    """A trace file (``kind = "trace"``, ``path``) or a synthetic trace (``kind =
    "synthetic"``, ``synthetic`` = the :class:`accelsim.trace.synthetic.SyntheticSpec` fields).
    ``digest``: blake2b-128 of the file's bytes, or ``"synthetic-"`` + blake2b-128 of the
    spec's canonical JSON.  ``info``: the store's workload columns (trace, workload_kind,
    model, dataset, method, sparsity, batch, step, json)."""

    kind: str
    label: str
    digest: str
    path: str | None = None
    synthetic: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the hardware points (after skipping invalid combinations; the
    reference machine is one of them, added when no design point is it), the workloads and
    the passes.  Build it with :func:`load_sweep`."""

    name: str
    base: Hardware
    hardware: tuple[HardwarePoint, ...]
    workloads: tuple[Workload, ...]
    passes: tuple[str, ...] = PASSES
    invalid: str = "skip"
    skipped: tuple[SkippedPoint, ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    source: str = ""
    derive: TableDeriver | None = None  # derives layer tables that do not ship (torch)
    reference: Hardware | None = None   # the machine speedups are against (one of hardware)

    @property
    def reference_point(self) -> HardwarePoint | None:
        """The hardware point of the reference machine (a design point, or the one added)."""
        if self.reference is None:
            return None
        digest = self.reference.digest()
        return next((hp for hp in self.hardware if hp.digest == digest), None)

    @property
    def size(self) -> int:
        """Number of points: workloads x hardware points."""
        return len(self.workloads) * len(self.hardware)


def fail(where: str, message: str) -> SweepError:
    """A :class:`SweepError` whose message starts with ``where`` (the table and key)."""
    return SweepError(f"{where}: {message}" if where else message)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def scalar(where: str, v: Any) -> Any:
    """A TOML scalar (number, string, boolean) or a :class:`SweepError`."""
    if isinstance(v, bool | int | float | str):
        return v
    raise fail(where, f"{show(v)} must be a number, string or boolean, not a "
                      f"{type(v).__name__}")
