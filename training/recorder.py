"""Record traces: the operands each Conv2d/Linear layer's kernels really computed with.

Works on any torch model and with a plain training loop::

    recorder = TraceRecorder(model, "run/traces", model_name="mynet", dataset="digits",
                             sparsifier=sparsifier, every=100, samples=4)
    for step, (x, y) in enumerate(loader):
        with recorder.step(step, epoch=epoch):          # records only when due
            loss = criterion(model(x), y)
            optimizer.zero_grad(); loss.backward()
        optimizer.step(); sparsifier.step()

For every recorded layer and pass the trace holds (first ``samples`` of the batch):

* forward: the weight as used (SWAT: Top-K; AC/DC: masked in place) and the input;
* backward-input: the same weight and the layer's output gradient (layers whose input
  needs no gradient, e.g. the first, have no backward-input);
* backward-weight: the activation the weight gradient is computed from (SWAT: the
  Top-K sparsified saved input; otherwise the input) and the output gradient.

SWAT layers hand their operands to the recorder through a tap inside their autograd
function; other layers are observed with forward hooks and a gradient hook on their
output.  A model in eval mode (or ``mode="inference"``) gives forward-only traces.
Traces are written atomically when the ``with`` block ends without an error.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.rundir import trace_name
from accelsim.trace.schema import PASS_ROLES, PASSES, TraceMetadata
from accelsim.trace.writer import TraceWriter
from training.layers import prunable_layers, unwrap
from workloads.tables import geometry_of


class _Capture:
    """Operands captured during one recorded step (first ``samples`` of the batch)."""

    def __init__(self, samples: int, keep_results: bool) -> None:
        self.samples = samples
        self.keep_results = keep_results
        self.operands: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
        self.shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.results: dict[str, dict[str, torch.Tensor]] = {}
        self.batch = 0
        self.path: Path | None = None

    def cut(self, t: torch.Tensor) -> torch.Tensor:
        return t.detach()[: self.samples].to("cpu", torch.float32, copy=True)


class TraceRecorder:
    """Records traces of ``model`` into ``out_dir`` (see the module docstring).

    every: record every ``every`` global steps (0: only when asked or at boundaries).
    samples: number of samples of the mini-batch recorded (the trace's batch).
    layers: fnmatch patterns of layer names to record (default: all Conv2d/Linear).
    passes: passes recorded (subset of forward, backward_input, backward_weight).
    at_boundaries: also record the step right after a sparsifier phase change or
        threshold recompute (``sparsifier.at_boundary()``).
    encoding: value encoding of the trace (``fixed16``, ``float16``, ``float32``).
    keep_existing: :meth:`step` leaves a trace already on disk alone (a resumed run
        repeats steps whose traces were written before the interruption).
    keep_results: also keep each layer's output and gradients (for verification).
    """

    def __init__(self, model: nn.Module, out_dir: str | os.PathLike[str], *,
                 model_name: str = "model", dataset: str = "unknown",
                 sparsifier: Any = None, every: int = 0, samples: int = 4,
                 layers: Sequence[str] | None = None, passes: Sequence[str] = PASSES,
                 at_boundaries: bool = True, encoding: str = "fixed16",
                 keep_results: bool = False, keep_existing: bool = False) -> None:
        self.model = unwrap(model)
        self.out_dir = Path(out_dir)
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ConfigError(f"trace every = {every!r} must be an integer >= 0 (steps; 0 = "
                              "only at boundaries)")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigError(f"trace samples = {samples!r} must be an integer >= 1")
        bad = [p for p in passes if p not in PASSES]
        if bad or not passes:
            raise ConfigError(f"trace passes {list(passes)} must be a non-empty subset of "
                              f"{', '.join(PASSES)}")
        self.every, self.samples = every, samples
        self.passes = tuple(p for p in PASSES if p in passes)
        self.at_boundaries = at_boundaries
        self.encoding = encoding
        self.keep_results = keep_results
        self.keep_existing = keep_existing
        self.model_name, self.dataset = model_name, dataset
        self.sparsifier = sparsifier
        all_layers = prunable_layers(self.model)
        if layers:
            chosen = {n: m for n, m in all_layers.items()
                      if any(fnmatch.fnmatchcase(n, p) for p in layers)}
            if not chosen:
                raise ConfigError(f"trace layers {list(layers)} match no Conv2d/Linear layer; "
                                  f"names look like {next(iter(all_layers))!r}")
            self.layers = chosen
        else:
            self.layers = dict(all_layers)
        self.written: list[Path] = []

    # -- when to record --------------------------------------------------------------
    def due(self, step: int, boundary: bool = False) -> bool:
        """Whether global step ``step`` is recorded."""
        return (self.every > 0 and step % self.every == 0) or (boundary and self.at_boundaries)

    @contextlib.contextmanager
    def step(self, step: int, *, epoch: int = 0, batch_indices: Sequence[int] | None = None,
             phase: str | None = None, force: bool = False,
             extra: dict[str, Any] | None = None) -> Iterator[_Capture | None]:
        """Record ``step`` if it is due (or ``force``), else do nothing."""
        boundary = bool(self.sparsifier is not None and self.sparsifier.at_boundary())
        if self.keep_existing and (self.out_dir / trace_name(step)).exists():
            yield None                              # written before an interruption: keep it
        elif force or self.due(step, boundary):
            with self.record(step, epoch=epoch, batch_indices=batch_indices, phase=phase,
                             extra=extra) as cap:
                yield cap
        else:
            yield None

    @contextlib.contextmanager
    def record(self, step: int, *, epoch: int = 0, batch_indices: Sequence[int] | None = None,
               phase: str | None = None, mode: str | None = None,
               extra: dict[str, Any] | None = None) -> Iterator[_Capture]:
        """Record the forward (and backward) computation run inside the block."""
        if mode is None:
            mode = "train" if self.model.training else "inference"
        if mode not in ("train", "inference"):
            raise ConfigError(f"trace mode {mode!r} must be 'train' or 'inference'")
        cap = _Capture(self.samples, self.keep_results)
        undo = self._install(cap, mode)
        try:
            yield cap
        finally:
            for u in undo:
                u()
        cap.path = self._write(cap, step, epoch, batch_indices, phase, mode, extra or {})
        self.written.append(cap.path)

    # -- capturing ---------------------------------------------------------------------
    def _install(self, cap: _Capture, mode: str) -> list:
        undo = []
        for name, module in self.layers.items():
            swat = getattr(module, "_accelsim_swat", None)
            if swat is not None:
                swat.set_tap(name, self._tap(cap, name, module, mode))
                undo.append(lambda s=swat, n=name: s.set_tap(n, None))
            else:
                h = module.register_forward_hook(self._hook(cap, name, mode))
                undo.append(h.remove)
        return undo

    def _store(self, cap: _Capture, name: str, pass_name: str, ops: dict[str, torch.Tensor]
               ) -> None:
        if pass_name not in self.passes or pass_name in cap.operands.get(name, {}):
            return                                  # a layer called twice: first call counts
        roles = PASS_ROLES[pass_name]
        cap.operands.setdefault(name, {})[pass_name] = {
            r: (ops[r].detach().to("cpu", torch.float32, copy=True) if r == "weight"
                else cap.cut(ops[r])) for r in roles}

    def _keep(self, cap: _Capture, name: str, key: str, t: torch.Tensor | None,
              cut: bool = True) -> None:
        if cap.keep_results and t is not None and key not in cap.results.get(name, {}):
            cap.results.setdefault(name, {})[key] = (
                cap.cut(t) if cut else t.detach().to("cpu", torch.float32, copy=True))

    def _seen(self, cap: _Capture, name: str, x: torch.Tensor, out: torch.Tensor) -> bool:
        if name in cap.shapes:
            return False
        cap.shapes[name] = (tuple(x.shape), tuple(out.shape))
        cap.batch = max(cap.batch, int(x.shape[0]))
        return True

    def _tap(self, cap: _Capture, name: str, module: nn.Module, mode: str):
        def tap(pass_name: str, ops: dict[str, torch.Tensor]) -> None:
            if pass_name == "forward":
                if not self._seen(cap, name, ops["activation"], ops["output"]):
                    return
                self._keep(cap, name, "output", ops["output"])
            elif mode == "inference":
                return
            else:
                key = "grad_input" if pass_name == "backward_input" else "grad_weight"
                self._keep(cap, name, key, ops["result"], cut=pass_name == "backward_input")
            self._store(cap, name, pass_name, ops)
        return tap

    def _hook(self, cap: _Capture, name: str, mode: str):
        def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            x = args[0]
            if not self._seen(cap, name, x, out):
                return
            w = module.weight
            self._store(cap, name, "forward", {"weight": w, "activation": x})
            self._keep(cap, name, "output", out)
            if mode == "inference" or not out.requires_grad:
                return
            saved_w = w.detach().clone()
            saved_x = x.detach()[: cap.samples].clone()
            needs_input = x.requires_grad

            def on_grad(g: torch.Tensor) -> None:
                if needs_input:
                    self._store(cap, name, "backward_input", {"weight": saved_w, "grad": g})
                self._store(cap, name, "backward_weight", {"activation": saved_x, "grad": g})
            out.register_hook(on_grad)
            if cap.keep_results and needs_input:
                x.register_hook(lambda g: self._keep(cap, name, "grad_input", g))
        return hook

    # -- writing -----------------------------------------------------------------------
    def _write(self, cap: _Capture, step: int, epoch: int, batch_indices: Sequence[int] | None,
               phase: str | None, mode: str, extra: dict[str, Any]) -> Path:
        if not cap.operands:
            raise ConfigError(f"trace of step {step}: no recorded layer ran inside the "
                              "record block; run the model's forward (and backward) in it")
        k = min(self.samples, cap.batch)
        if batch_indices is None:
            indices = tuple(range(k))
        else:
            indices = tuple(int(i) for i in batch_indices)[:k]
            if len(indices) != k:
                raise ConfigError(f"trace of step {step}: {len(indices)} batch indices for "
                                  f"{k} recorded samples")
        if mode == "train":
            missing = [n for n, ops in cap.operands.items()
                       if "backward_weight" in self.passes and "backward_weight" not in ops]
            if missing:
                raise ConfigError(f"trace of step {step}: layers {missing[:3]} have no backward "
                                  "pass; call loss.backward() inside the record block, or "
                                  "record in eval mode for an inference trace")
        method = "dense"
        params: dict[str, Any] = {}
        if self.sparsifier is not None:
            params = dict(self.sparsifier.describe())
            method = str(params.pop("method", getattr(self.sparsifier, "method", "dense")))
        meta = TraceMetadata(model=self.model_name, dataset=self.dataset, method=method,
                             step=step, epoch=epoch, batch_indices=indices,
                             method_params=_jsonable(params), phase=phase, mode=mode,
                             extra=_jsonable(extra))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / trace_name(step)
        with TraceWriter(path, meta, encoding=self.encoding) as writer:
            for name in self.layers:
                if name not in cap.operands:
                    continue
                in_shape, out_shape = cap.shapes[name]
                geometry = geometry_of(name, self.layers[name], in_shape, out_shape)
                ops = {p: {r: t.numpy() for r, t in roles.items()}
                       for p, roles in cap.operands[name].items()}
                writer.add_layer(geometry, ops)
        return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value
