"""The registry of sparse-training methods: one entry per method, one training loop for all.

The shipped methods are the declarative table :data:`training.catalog.METHODS`; neither
it nor this module imports torch, so ``accelsim methods`` lists them, and a run config is
validated, without it (each method's module is imported when the method is built, see
:meth:`~training.method_spec.MethodSpec.build`).  ``accelsim train --method NAME --param
key=value`` reads this registry; new methods add themselves with :func:`register`.
"""

from __future__ import annotations

from accelsim.errors import ConfigError
from training.catalog import METHODS
from training.method_spec import MethodSpec

_REGISTRY: dict[str, MethodSpec] = {m.name: m for m in METHODS}


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry (a name may be registered once)."""
    if spec.name in _REGISTRY:
        raise ConfigError(f"method {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def methods() -> dict[str, MethodSpec]:
    """Every registered method, by name (the shipped ones first, in catalog order)."""
    return dict(_REGISTRY)


def get_method(name: str) -> MethodSpec:
    """The method called ``name`` (a one-line error listing the choices otherwise)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(_REGISTRY)} "
                          "(`accelsim methods` lists them with their parameters)")
    return _REGISTRY[name]
