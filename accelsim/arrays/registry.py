"""The one registry of array models, keyed by ``[array] kind``.

Each kind names the module and class of its model; a model module (and the numba kernels it
needs) is imported the first time a machine of that kind is simulated, so importing the
simulator's API imports no numba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from accelsim.errors import HardwareError
from accelsim.spec.array_sections import ARRAY_KINDS
from accelsim.spec.hardware import Hardware

if TYPE_CHECKING:  # the models (and the SimPy pipeline behind them) load on first use
    from accelsim.arrays.base import ArrayModel

__all__ = ["MODELS", "array_model", "model_for"]

MODELS: dict[str, str] = {
    "bit-tactical": "accelsim.arrays.bittactical:BitTacticalModel",
    "systolic": "accelsim.arrays.systolic:SystolicModel",
    "scnn": "accelsim.arrays.scnn:ScnnModel",
    "ideal": "accelsim.arrays.ideal:IdealModel",
}
"""``[array] kind`` -> ``"module:Class"`` of its :class:`~accelsim.arrays.base.ArrayModel`."""

_LOADED: dict[str, ArrayModel] = {}  # noqa: F821 - annotation only

if set(MODELS) != set(ARRAY_KINDS):
    raise HardwareError(f"array kinds {sorted(ARRAY_KINDS)} and models {sorted(MODELS)} differ")


def array_model(kind: str) -> ArrayModel:
    """The model of ``[array] kind = kind``."""
    if kind not in MODELS:
        raise HardwareError(f"[array] kind = {kind!r} has no model; use one of "
                            f"{', '.join(MODELS)}")
    if kind not in _LOADED:
        module, _, cls = MODELS[kind].partition(":")
        model = getattr(importlib.import_module(module), cls)()
        if model.kind != kind:
            raise HardwareError(f"{MODELS[kind]} models kind {model.kind!r}, not {kind!r}")
        _LOADED[kind] = model
    return _LOADED[kind]


def model_for(hw: Hardware) -> ArrayModel:
    """The model of ``hw.array.kind``."""
    return array_model(hw.array.kind)
