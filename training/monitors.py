"""Forward-hook monitors of a model: activation density per layer and dead-neuron rates.

* :class:`ActivationDensityMonitor` -- fraction of non-zero input elements per layer.
* :class:`DeadNeuronMonitor` -- dead-neuron rate (DNR), dynamic and static DNR per ReLU
  call site.

All counters are accumulated as counts (non-zeros, elements, samples), never as means of
per-batch means, so the batch size does not change any result.
"""

from __future__ import annotations

import abc
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import torch
from torch import nn

from accelsim.errors import ConfigError
from training.layers import prunable_layers, unwrap

__all__ = ["RELU_TYPES", "ActivationDensityMonitor", "DeadNeuronMonitor", "DeadNeuronStats"]

#: Module types whose outputs the dead-neuron monitor watches.
RELU_TYPES = (nn.ReLU, nn.ReLU6)


# ----------------------------------------------------------------------------- activations


class _HookMonitor(abc.ABC):
    """A context manager that puts the hooks of :meth:`_attach` on entry (once: entering an
    attached monitor is an error) and removes them on exit."""

    _handles: list[Any]

    @abc.abstractmethod
    def _attach(self) -> list[Any]:
        """Register the hooks; their handles."""

    def __enter__(self) -> Self:
        if self._handles:
            raise ConfigError(f"this {type(self).__name__} is already attached")
        self._handles = self._attach()
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class ActivationDensityMonitor(_HookMonitor):
    """Fraction of non-zero elements in the input of each Conv2d/Linear layer.

    A context manager: on entry it puts a forward pre-hook on every layer of ``layers``
    (name -> module, e.g. ``sparsifier.layers``; a model means all its Conv2d/Linear
    layers), on exit it removes them; the counts stay readable.  Every call of a layer
    (every batch, and every call of a layer used twice) adds its input's non-zeros and
    elements, so density[l] = sum_calls nnz(x) / sum_calls numel(x).  It measures the
    input the layer receives (for SWAT: the dense forward input, before Top-K).
    """

    def __init__(self, layers: Mapping[str, nn.Module] | nn.Module) -> None:
        if isinstance(layers, nn.Module):
            layers = prunable_layers(unwrap(layers))
        if not layers:
            raise ConfigError("ActivationDensityMonitor needs at least one layer to watch")
        self.layers: OrderedDict[str, nn.Module] = OrderedDict(layers)
        self._handles: list[Any] = []
        self._nnz: dict[str, torch.Tensor] = {}
        self._numel: dict[str, int] = {}

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0]
            with torch.no_grad():
                nnz = torch.count_nonzero(x)
            self._nnz[name] = nnz if name not in self._nnz else self._nnz[name] + nnz
            self._numel[name] = self._numel.get(name, 0) + x.numel()
        return hook

    def _attach(self) -> list[Any]:
        return [m.register_forward_pre_hook(self._hook(n)) for n, m in self.layers.items()]

    def reset(self) -> None:
        """Forget the counts so far."""
        self._nnz.clear()
        self._numel.clear()

    def counts(self) -> dict[str, tuple[int, int]]:
        """``{layer: (non-zero input elements, input elements)}`` of the layers seen."""
        return {n: (int(self._nnz[n]), self._numel[n]) for n in self.layers if n in self._numel}

    def densities(self) -> dict[str, float | None]:
        """``{layer: nnz / numel}`` over every call seen; None for a layer never called."""
        counts = self.counts()
        return {n: c[0] / c[1] if (c := counts.get(n)) and c[1] else None for n in self.layers}

    def overall_density(self) -> float | None:
        """Pooled density sum_l nnz_l / sum_l numel_l over all layers (None: nothing seen)."""
        counts = self.counts().values()
        total = sum(c[1] for c in counts)
        return sum(c[0] for c in counts) / total if total else None


# ----------------------------------------------------------------------------- dead neurons


@dataclass(frozen=True)
class DeadNeuronStats:
    """Dead-neuron rates of one evaluation pass (see :class:`DeadNeuronMonitor`).

    ``samples`` = n, ``neurons`` = N (ReLU output elements per sample, all call sites),
    ``dead`` = sum_i D_i, ``static_neurons`` = S; rates are fractions in [0, 1];
    ``sites`` gives per call site ``{"neurons", "dnr", "static_dnr", "dynamic_dnr"}``.
    """

    samples: int
    neurons: int
    dead: int
    static_neurons: int
    dnr: float
    static_dnr: float
    dynamic_dnr: float
    sites: dict[str, dict[str, float | int]] = field(default_factory=dict)

    def to_dict(self, sites: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"dnr": self.dnr, "dynamic_dnr": self.dynamic_dnr,
                               "static_dnr": self.static_dnr, "samples": self.samples,
                               "neurons_per_sample": self.neurons, "dead": self.dead,
                               "static_neurons": self.static_neurons}
        if sites:
            out["sites"] = {k: dict(v) for k, v in self.sites.items()}
        return out


class _Site:
    """Counters of one ReLU call site: dead sample-neurons, and per neuron whether it was
    dead in every sample and the range [lo, hi] of its pre-activation over the samples."""

    __slots__ = ("numel", "samples", "dead", "always_dead", "lo", "hi")

    def __init__(self, pre: torch.Tensor) -> None:
        self.numel = pre.shape[1]
        self.samples = 0
        self.dead = torch.zeros((), dtype=torch.int64, device=pre.device)
        self.always_dead = torch.ones(self.numel, dtype=torch.bool, device=pre.device)
        self.lo, self.hi = torch.aminmax(pre, dim=0)

    def static(self) -> torch.Tensor:
        """Per neuron: dead in every sample and the same pre-activation in every sample
        (lo == hi; a NaN anywhere makes it unequal)."""
        return self.always_dead & (self.lo == self.hi)


class DeadNeuronMonitor(_HookMonitor):
    r"""Dead-neuron rate (seed 004, section 3.1) of the ReLU neurons of ``model``.

    A context manager that hooks every ``nn.ReLU``/``nn.ReLU6`` module of the model
    (functional ``F.relu`` calls are invisible to it).  A module may be called several
    times per forward: each call is its own **call site**, named like the layer tables
    (``relu``, ``relu#2``, ...; counted per forward of the model).  A **neuron** is one
    element (channel, pixel) of one call site's output for one sample: N = sum over call
    sites of the per-sample output size.

    * dead for sample i: its post-ReLU output is exactly 0.
    * DNR = (1/n) sum_i D_i / N, D_i the dead neurons of sample i (equation 1 of the paper;
      our networks are not structurally pruned, so "all neurons of the unpruned network"
      is N).  Counted exactly: DNR = (dead sample-neurons) / (n N).
    * **static dead** (the paper: dead with all associated weights pruned).  Which weights
      feed a ReLU cannot be read off a general model (BN, residual adds, concatenation
      in between), so we use an observable rule that is implied by it: a neuron is
      statically dead when, over the n evaluated samples, its output is 0 for every sample
      **and** its pre-activation is the same value for every sample, i.e. it does not
      depend on the input.  A neuron whose producing filter is all-zero has pre-activation
      = a constant (conv bias, or BN's shift in eval mode), so it is statically dead iff
      that constant is <= 0, as in the paper; on a residual add the shortcut still varies,
      so it is not.  The rule also counts neurons whose unpruned weights only ever see
      zero inputs (dead by an upstream cascade): input-independent, hence static too.
    * static DNR = S / N, S the statically dead neurons (each is dead in all n samples);
      dynamic DNR = DNR - static DNR = (dead sample-neurons - n S) / (n N): dead neurons
      whose state depends on the input ("not all weights pruned").

    Needs n >= 2 samples (with one sample every value is "constant") and fixed-size
    inputs; use it in eval mode (``evaluate`` does) so BN uses its running statistics.
    Cost: per call a min/max and a max reduction and a non-zero count over the call's
    values; memory: two floats and a flag per neuron.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = unwrap(model)
        self.relus: OrderedDict[str, nn.Module] = OrderedDict(
            (n, m) for n, m in self.model.named_modules() if isinstance(m, RELU_TYPES))
        if not self.relus:
            raise ConfigError(f"model {type(self.model).__name__} has no nn.ReLU/nn.ReLU6 "
                              "module (functional relu calls are not seen); dead-neuron rates "
                              "need ReLU modules")
        self._handles: list[Any] = []
        self._sites: dict[str, _Site] = {}
        self._calls: dict[str, int] = {}
        self._current: dict[int, str] = {}

    def _start_forward(self, module: nn.Module, args: tuple) -> None:
        self._calls = {}

    def _pre(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            k = self._calls.get(name, 0) + 1
            self._calls[name] = k
            key = name if k == 1 else f"{name}#{k}"
            self._current[id(module)] = key
            with torch.no_grad():
                pre = args[0].detach().reshape(args[0].shape[0], -1)
                site = self._sites.get(key)
                if site is None:
                    self._sites[key] = _Site(pre)  # starts lo/hi from this batch
                    return
                if pre.shape[1] != site.numel:
                    raise ConfigError(f"ReLU call site {key} gave {pre.shape[1]} values per "
                                      f"sample after {site.numel}; dead-neuron rates need "
                                      "fixed-size inputs")
                lo, hi = torch.aminmax(pre, dim=0)
                torch.minimum(site.lo, lo, out=site.lo)
                torch.maximum(site.hi, hi, out=site.hi)
        return hook

    def _post(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        site = self._sites[self._current.pop(id(module))]
        with torch.no_grad():
            out = output.detach().reshape(output.shape[0], -1)
            site.dead += out.numel() - torch.count_nonzero(out)
            site.always_dead &= out.amax(dim=0) == 0   # ReLU outputs are >= 0 (or NaN)
            site.samples += int(out.shape[0])

    def _attach(self) -> list[Any]:
        handles = [self.model.register_forward_pre_hook(self._start_forward)]
        for name, m in self.relus.items():
            handles.append(m.register_forward_pre_hook(self._pre(name)))
            handles.append(m.register_forward_hook(self._post))
        return handles

    def reset(self) -> None:
        """Forget everything seen so far."""
        self._sites.clear()
        self._calls.clear()
        self._current.clear()

    def result(self) -> DeadNeuronStats:
        """The rates over every sample seen (see the class docstring for the formulas)."""
        if not self._sites:
            raise ConfigError("the dead-neuron monitor saw no ReLU call; run the model on data "
                              "inside the 'with' block")
        counts = {s.samples for s in self._sites.values()}
        if len(counts) != 1:
            raise ConfigError("ReLU call sites saw different numbers of samples (the forward "
                              "pass changes with the input); dead-neuron rates need a fixed "
                              "graph")
        n = counts.pop()
        if n < 2:
            raise ConfigError(f"dead-neuron rates need an evaluation pass over >= 2 samples, "
                              f"got {n}; static and dynamic dead neurons cannot be told apart")
        sites: dict[str, dict[str, float | int]] = {}
        neurons = dead = static = 0
        for key, s in self._sites.items():
            d = int(s.dead)
            st = int(s.static().sum())
            sites[key] = {"neurons": s.numel, "dnr": d / (n * s.numel),
                          "static_dnr": st / s.numel,
                          "dynamic_dnr": (d - n * st) / (n * s.numel)}
            neurons, dead, static = neurons + s.numel, dead + d, static + st
        dnr = dead / (n * neurons)
        static_dnr = static / neurons
        return DeadNeuronStats(samples=n, neurons=neurons, dead=dead, static_neurons=static,
                               dnr=dnr, static_dnr=static_dnr,
                               dynamic_dnr=(dead - n * static) / (n * neurons), sites=sites)
