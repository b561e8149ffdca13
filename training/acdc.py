"""AC/DC: Alternating Compressed/DeCompressed training (Peste et al., 2021).

Training alternates *dense* phases, where every weight trains, with *compressed* phases,
where the weights are pruned once by global magnitude at the start of the phase and then
trained on that fixed support (the mask is re-applied after every optimizer step, i.e.
iterative hard thresholding with a frozen support).  The run starts with a dense warm-up and
ends with a compressed phase, so it yields a sparse model (and, at every dense phase end, a
dense one).

Schedule (:class:`AcdcSchedule`), in epochs, scaled from the paper's ImageNet run (100
epochs: dense 0-10, then 5-epoch compressed/decompressed phases, the last decompressed phase
stretched to 75-85, final compressed 85-100).  With ``E`` epochs and ``rnd(x) = floor(x+1/2)``::

    W = max(1, rnd(0.10 E))   dense warm-up
    C = max(1, rnd(0.05 E))   compressed phase length        D = C   decompressed length
    F = max(1, rnd(0.15 E))   final compressed phase
    M = E - W - F             epochs for the alternation
    n = floor(M / (C + D))    compressed/decompressed pairs, n >= 1 required
    r = M - n (C + D)         remainder, added to the last decompressed phase

    dense [0, W) | for i < n: compressed [W + i(C+D), +C), dense [.., W + (i+1)(C+D))
    (+ r on the last) | compressed [E - F, E)

Every phase is at least one epoch; the smallest schedule is 4 epochs (1 dense, 1
compressed, 1 dense, 1 final compressed).  ``E = 100`` gives exactly the paper's run;
``E = 10`` gives dense 0-1, C/D pairs of 1 epoch up to 8 (the last D is 6-8), final 8-10.
Any of ``warmup``, ``compressed``, ``decompressed``, ``final`` can be set explicitly, or the
whole phase list given (:meth:`AcdcSchedule.from_phases`, :meth:`AcdcSchedule.parse`).

Pruning (:class:`AcdcSparsifier`): at the start of every compressed phase all pruned
layers' weights ``w`` (biases are never pruned) are ranked together by ``|w|``; with ``N``
weights in total, ``K = rnd((1 - s) N)`` are kept.  The threshold ``t`` is the K-th largest
``|w|``, found by k-th value selection (``torch.kthvalue``, no sort); the mask keeps every
weight with ``|w| > t`` and then as many weights with ``|w| == t`` as are needed to reach
exactly ``K``, the first ones in layer order then row-major order (deterministic ties).
Mask churn at a prune point is ``|m_new XOR m_prev| / N``, ``m_prev`` being the mask of the
previous prune point; the first prune point compares with the all-ones mask of the dense
warm-up, so its churn is the fraction pruned (``1 - K/N``).

Momentum is reset at every phase change (see :func:`reset_momentum`): a stale momentum would
otherwise push freshly pruned weights, or re-grown ones, with the other phase's history.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from accelsim.errors import ConfigError
from accelsim.spec.sparsity import check_sparsity
from training.sparsifier import (
    Sparsifier,
    apply_weight_masks,
    load_layer_tensors,
    mask_densities,
    nonzero_densities,
    overlay_masks,
)

__all__ = ["AcdcPhase", "AcdcSchedule", "AcdcSparsifier", "PHASE_KINDS", "apply",
           "global_magnitude_masks", "keep_count", "mask_churn", "reset_momentum"]

PHASE_KINDS = ("dense", "compressed")
#: default phase lengths as fractions of the epochs (the paper's ImageNet schedule / 100)
WARMUP_FRACTION = 0.10
PHASE_FRACTION = 0.05
FINAL_FRACTION = 0.15
_SHORT_KINDS = {"d": "dense", "dense": "dense", "c": "compressed", "compressed": "compressed"}
_PHASE_TOKEN = re.compile(r"(dense|compressed|d|c):?(\d+)")


def _rnd(x: float) -> int:
    """Round half up (Python's ``round`` rounds half to even)."""
    return int(math.floor(x + 0.5))


def _check_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"AC/DC {what} = {value!r} must be an integer >= {minimum} (epochs)")
    return value


class AcdcPhase(NamedTuple):
    """One phase: epochs ``start <= epoch < end``, ``kind`` dense|compressed, index."""

    start: int
    end: int
    kind: str
    phase_id: int


@dataclass(frozen=True)
class AcdcSchedule:
    """The AC/DC phases over ``epochs`` epochs (formula in the module docstring).

    epochs: total training epochs ``E``.
    warmup: dense warm-up ``W`` (default ``max(1, rnd(0.10 E))``).
    compressed: length ``C`` of each alternating compressed phase (default
        ``max(1, rnd(0.05 E))``).
    decompressed: length ``D`` of each alternating dense phase (default ``C``); the last
        one also takes the remainder ``r``.
    final: final compressed phase ``F`` (default ``max(1, rnd(0.15 E))``).
    phase_list: explicit ``((kind, length), ...)`` instead of the formula (then the four
        lengths above must be left unset); use :meth:`from_phases` or :meth:`parse`.
    """

    epochs: int
    warmup: int | None = None
    compressed: int | None = None
    decompressed: int | None = None
    final: int | None = None
    phase_list: tuple[tuple[str, int], ...] | None = None
    _phases: tuple[AcdcPhase, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int(self.epochs, "epochs", 1)
        if self.phase_list is not None:
            lengths = self._explicit_lengths()
        else:
            lengths = self._formula_lengths()
        phases, start = [], 0
        for i, (kind, length) in enumerate(lengths):
            phases.append(AcdcPhase(start, start + length, kind, i))
            start += length
        object.__setattr__(self, "_phases", tuple(phases))

    def _explicit_lengths(self) -> list[tuple[str, int]]:
        if any(v is not None for v in (self.warmup, self.compressed, self.decompressed,
                                       self.final)):
            raise ConfigError("AC/DC schedule: give either an explicit phase list or the "
                              "warmup/compressed/decompressed/final lengths, not both")
        if not isinstance(self.phase_list, tuple) or not self.phase_list:
            raise ConfigError("AC/DC phase list must be a non-empty tuple of (kind, epochs) "
                              "pairs, e.g. (('dense', 2), ('compressed', 1), ...)")
        out: list[tuple[str, int]] = []
        for i, item in enumerate(self.phase_list):
            if not isinstance(item, tuple) or len(item) != 2:
                raise ConfigError(f"AC/DC phase {i} = {item!r} must be a (kind, epochs) pair")
            kind, length = item
            if kind not in PHASE_KINDS:
                raise ConfigError(f"AC/DC phase {i} has kind {kind!r}; use 'dense' or "
                                  "'compressed'")
            _check_int(length, f"phase {i} length", 1)
            if out and out[-1][0] == kind:
                raise ConfigError(f"AC/DC phases {i - 1} and {i} are both {kind}; merge them "
                                  "into one phase")
            out.append((kind, length))
        if not any(kind == "compressed" for kind, _ in out):
            raise ConfigError("AC/DC phase list has no compressed phase; add one or train "
                              "with --method dense")
        total = sum(length for _, length in out)
        if total != self.epochs:
            raise ConfigError(f"AC/DC phase list covers {total} epochs but epochs = "
                              f"{self.epochs}; make the lengths add up to the epochs")
        return out

    def _formula_lengths(self) -> list[tuple[str, int]]:
        e = self.epochs
        w = (max(1, _rnd(WARMUP_FRACTION * e)) if self.warmup is None
             else _check_int(self.warmup, "warmup", 1))
        c = (max(1, _rnd(PHASE_FRACTION * e)) if self.compressed is None
             else _check_int(self.compressed, "compressed phase length", 1))
        d = c if self.decompressed is None else _check_int(
            self.decompressed, "decompressed phase length", 1)
        f = (max(1, _rnd(FINAL_FRACTION * e)) if self.final is None
             else _check_int(self.final, "final compressed phase length", 1))
        middle = e - w - f
        pairs = middle // (c + d) if middle > 0 else 0
        if pairs < 1:
            raise ConfigError(
                f"AC/DC needs at least warmup + compressed + decompressed + final = "
                f"{w} + {c} + {d} + {f} = {w + c + d + f} epochs, got epochs = {e}; train "
                "longer, shorten the phases, or give an explicit phase list")
        rest = middle - pairs * (c + d)
        out: list[tuple[str, int]] = [("dense", w)]
        for i in range(pairs):
            out += [("compressed", c), ("dense", d + (rest if i == pairs - 1 else 0))]
        out.append(("compressed", f))
        return out

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_phases(cls, phases: Iterable[tuple[str, int]]) -> AcdcSchedule:
        """An explicit schedule from ``[(kind, epochs), ...]``; epochs = sum of lengths."""
        try:
            items = tuple((str(k), n) for k, n in phases)
        except (TypeError, ValueError):
            raise ConfigError("AC/DC phase list must be (kind, epochs) pairs, e.g. "
                              "[('dense', 2), ('compressed', 1)]") from None
        total = sum(n for _, n in items if isinstance(n, int) and not isinstance(n, bool))
        return cls(epochs=max(total, 1), phase_list=items)

    @classmethod
    def parse(cls, text: str) -> AcdcSchedule:
        """An explicit schedule from text: ``"d10,c5,d5,c5,d10,c15"`` or
        ``"dense:10,compressed:5,..."`` (comma-separated kind and epochs)."""
        items: list[tuple[str, int]] = []
        for token in str(text).replace(" ", "").split(","):
            match = _PHASE_TOKEN.fullmatch(token.lower())
            if match is None:
                raise ConfigError(f"AC/DC phase {token!r} in {text!r} is not KIND EPOCHS; "
                                  "write e.g. 'd10,c5,d5,c15' or 'dense:10,compressed:5'")
            items.append((_SHORT_KINDS[match.group(1)], int(match.group(2))))
        return cls.from_phases(items)

    # -- queries ------------------------------------------------------------------------
    def phases(self) -> tuple[AcdcPhase, ...]:
        """All phases in order, as ``(start_epoch, end_epoch, kind, phase_id)``, end
        exclusive."""
        return self._phases

    def phase_at(self, epoch: int) -> AcdcPhase:
        """The phase that contains ``epoch`` (0-based)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not (
                0 <= epoch < self.epochs):
            raise ConfigError(f"epoch {epoch!r} is outside the AC/DC schedule of {self.epochs} "
                              "epochs; build the schedule with the run's number of epochs")
        for phase in self._phases:
            if phase.start <= epoch < phase.end:
                return phase
        raise AssertionError("unreachable: phases cover every epoch")  # pragma: no cover

    def prune_epochs(self) -> tuple[int, ...]:
        """Epochs at whose start the model is pruned (compressed phase starts)."""
        return tuple(p.start for p in self._phases if p.kind == "compressed")

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly form (with the resolved phases, for run configs)."""
        return {"epochs": self.epochs, "warmup": self.warmup, "compressed": self.compressed,
                "decompressed": self.decompressed, "final": self.final,
                "phase_list": (None if self.phase_list is None
                               else [list(p) for p in self.phase_list]),
                "phases": [[p.start, p.end, p.kind] for p in self._phases]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AcdcSchedule:
        d = {k: v for k, v in dict(data).items() if k != "phases"}
        if d.get("phase_list") is not None:
            d["phase_list"] = tuple((str(k), int(n)) for k, n in d["phase_list"])
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"bad AC/DC schedule: {exc}") from None


# -- pruning primitives -------------------------------------------------------------------
def keep_count(sparsity: float, total: int) -> int:
    """Weights kept at ``sparsity`` out of ``total``: ``K = floor((1 - s) N + 1/2)``."""
    s = check_sparsity(sparsity, "AC/DC sparsity")
    return _rnd((1.0 - s) * total)


def global_magnitude_masks(weights: Mapping[str, torch.Tensor],
                           keep: int) -> tuple[dict[str, torch.Tensor], float]:
    """Masks keeping exactly the ``keep`` largest ``|w|`` over all tensors together.

    The threshold ``t`` is the ``keep``-th largest ``|w|`` (``torch.kthvalue`` on the
    concatenated magnitudes in float32, float64 if any weight is, order ``N - keep + 1``); kept are all ``|w| > t`` plus the first
    ``keep - #{|w| > t}`` weights with ``|w| == t`` in the order of ``weights`` then row-major,
    so the count is exact and ties are deterministic.  Returns ``(masks, t)``; ``t`` is
    ``inf`` when ``keep == 0``.
    """
    if not weights:
        raise ConfigError("no weights to prune")
    tensors = [w.detach() for w in weights.values()]
    device = tensors[0].device
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    flat = torch.cat([t.abs().flatten().to(device=device, dtype=dtype) for t in tensors])
    total = flat.numel()
    if not 0 <= keep <= total:
        raise ConfigError(f"cannot keep {keep} of {total} weights")
    if not bool(torch.isfinite(flat).all()):
        bad = [n for n, w in weights.items() if not bool(torch.isfinite(w.detach()).all())]
        raise ConfigError(f"layer(s) {', '.join(bad)} have NaN/inf weights at an AC/DC prune "
                          "point: training diverged; lower the learning rate")
    if keep == 0:
        kept = torch.zeros(total, dtype=torch.bool, device=device)
        threshold = math.inf
    else:
        t = torch.kthvalue(flat, total - keep + 1).values
        kept = flat > t
        need = keep - int(kept.sum())
        if need > 0:
            ties = torch.nonzero(flat == t).flatten()[:need]
            kept[ties] = True
        threshold = float(t)
    masks: dict[str, torch.Tensor] = {}
    offset = 0
    for (name, w), t_ in zip(weights.items(), tensors, strict=True):
        n = t_.numel()
        masks[name] = kept[offset:offset + n].view(w.shape).to(w.device)
        offset += n
    return masks, threshold


def mask_churn(previous: Mapping[str, torch.Tensor] | None,
               current: Mapping[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
    """Fraction of mask bits that changed, ``|m_cur XOR m_prev| / N``, overall and per layer.

    ``previous=None`` means the all-ones mask (dense), so the churn is the pruned fraction.
    """
    changed_total, total = 0, 0
    per_layer: dict[str, float] = {}
    for name, cur in current.items():
        if previous is None:
            changed = int((~cur).sum())
        else:
            if name not in previous or previous[name].shape != cur.shape:
                raise ConfigError(f"previous AC/DC mask has no layer {name!r} of shape "
                                  f"{tuple(cur.shape)}; the checkpoint is of another model")
            changed = int((cur ^ previous[name].to(cur.device)).sum())
        per_layer[name] = changed / cur.numel() if cur.numel() else 0.0
        changed_total += changed
        total += cur.numel()
    return (changed_total / total if total else 0.0), per_layer


_ADAM_MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf")


def reset_momentum(optimizer: torch.optim.Optimizer | None) -> int:
    """Clear the momentum of every parameter the optimizer holds; returns how many
    parameter states were reset.

    * ``torch.optim.SGD``: ``momentum_buffer`` is dropped, so the next step starts it from
      the gradient exactly as the first step of training does.
    * Adam family (any state with ``exp_avg``: Adam, AdamW, Adamax, RAdam, NAdam ...):
      ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``exp_inf`` zeroed and ``step`` set to
      0, so the bias correction restarts as for a fresh optimizer.
    * any other optimizer with a ``momentum_buffer`` tensor (RMSprop ...): zeroed.
      Second-moment scalers without bias correction (RMSprop's ``square_avg``, Adagrad's
      ``sum``) are left alone: zeroing them would blow up the next steps.
    """
    if optimizer is None:
        return 0
    count = 0
    is_sgd = isinstance(optimizer, torch.optim.SGD)
    for state in optimizer.state.values():
        touched = False
        if "exp_avg" in state:
            for key in _ADAM_MOMENTS:
                if isinstance(state.get(key), torch.Tensor):
                    state[key].zero_()
            if isinstance(state.get("step"), torch.Tensor):
                state["step"].zero_()
            elif "step" in state:
                state["step"] = 0
            touched = True
        if "momentum_buffer" in state:
            if is_sgd:
                del state["momentum_buffer"]
            elif isinstance(state["momentum_buffer"], torch.Tensor):
                state["momentum_buffer"].zero_()
            touched = True
        count += touched
    return count


# -- the sparsifier -------------------------------------------------------------------------
LayerFilter = Callable[[str, nn.Module], bool]


def _match(patterns: Iterable[str], names: Sequence[str], what: str) -> set[str]:
    chosen: set[str] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ConfigError(f"AC/DC {what} entry {pattern!r} must be a layer name or pattern")
        hits = fnmatch.filter(names, pattern)
        if not hits:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise ConfigError(f"AC/DC {what} {pattern!r} matches no Conv2d/Linear layer; "
                              f"layers are: {shown}")
        chosen.update(hits)
    return chosen


class AcdcSparsifier(Sparsifier):
    """AC/DC on any model: global magnitude pruning on a dense/compressed phase schedule.

    Parameters
    ----------
    model: any ``nn.Module``; its Conv2d/Linear weights are the candidates.
    sparsity: target fraction of zeros over the *pruned* layers' weights together
        (global magnitude: the per-layer split follows from the magnitudes).
    schedule: an :class:`AcdcSchedule`, or the number of epochs for the default one.
    layers: which layers to prune: ``None`` (default: every Conv2d/Linear), names/fnmatch
        patterns, or a callable ``(name, module) -> bool``.
    exclude: names/patterns of layers kept dense.
    keep_first_dense / keep_last_dense: keep the first / last Conv2d/Linear (registration
        order) dense, as some AC/DC set-ups do (the paper's ``no_conv1_fc`` runs).  Default
        ``False``: the paper's main ResNet-50 results prune every layer.

    Hooks: ``on_epoch_start(epoch)`` enters the epoch's phase when it changes (prune and
    apply masks at a compressed start, lift them at a dense start; reset momentum at every
    change); ``step()`` re-applies the mask after every optimizer step in compressed phases.
    Events: ``"prune"`` at each compressed start and ``"phase"`` at each dense start, with
    ``phase_id``, ``phase``, ``start_epoch``, ``end_epoch``, ``momentum_reset`` (parameter
    states reset) and per-layer ``densities``; prune events add ``prune_point``, ``kept``,
    ``total``, ``threshold``, ``churn`` and ``layer_churn``.
    """

    method = "acdc"

    def __init__(self, model: nn.Module, sparsity: float, schedule: AcdcSchedule | int, *,
                 layers: Iterable[str] | LayerFilter | None = None, exclude: Iterable[str] = (),
                 keep_first_dense: bool = False, keep_last_dense: bool = False) -> None:
        super().__init__(model)
        self.sparsity = check_sparsity(sparsity, "AC/DC sparsity")
        if isinstance(schedule, int) and not isinstance(schedule, bool):
            schedule = AcdcSchedule(schedule)
        if not isinstance(schedule, AcdcSchedule):
            raise ConfigError(f"AC/DC schedule must be an AcdcSchedule or a number of epochs, "
                              f"got {type(schedule).__name__}")
        self.schedule = schedule
        self.keep_first_dense = bool(keep_first_dense)
        self.keep_last_dense = bool(keep_last_dense)
        names = list(self.layers)
        if layers is None:
            chosen = set(names)
        elif callable(layers):
            chosen = {n for n in names if layers(n, self.layers[n])}
        elif isinstance(layers, str):
            chosen = _match([layers], names, "layers")
        else:
            chosen = _match(list(layers), names, "layers")
        if isinstance(exclude, str):
            exclude = [exclude]
        self.exclude = tuple(exclude)
        chosen -= _match(self.exclude, names, "exclude")
        if self.keep_first_dense:
            chosen.discard(names[0])
        if self.keep_last_dense:
            chosen.discard(names[-1])
        if not chosen:
            raise ConfigError("AC/DC has no layer left to prune (layers/exclude/keep_*_dense "
                              "remove them all); prune at least one Conv2d/Linear layer")
        self.pruned: OrderedDict[str, nn.Module] = OrderedDict(
            (n, m) for n, m in self.layers.items() if n in chosen)
        self.total_weights = sum(m.weight.numel() for m in self.pruned.values())
        self.keep = keep_count(self.sparsity, self.total_weights)
        if self.keep == 0:
            raise ConfigError(f"AC/DC sparsity {self.sparsity} keeps no weight of the "
                              f"{self.total_weights} pruned ones; lower the sparsity")
        self.phase_id: int | None = None
        self.phase: str | None = None
        self.prune_points = 0
        #: mask of the current compressed phase (None in dense phases)
        self.mask: dict[str, torch.Tensor] | None = None
        #: mask of the last prune point before the current phase (for churn)
        self.previous_mask: dict[str, torch.Tensor] | None = None

    # -- hooks ----------------------------------------------------------------------------
    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        phase = self.schedule.phase_at(epoch)
        if phase.phase_id != self.phase_id:
            self._enter(phase)

    def step(self) -> None:
        """Re-apply the mask after ``optimizer.step()`` in compressed phases."""
        if self.mask is not None:
            self._apply_mask()

    def _apply_mask(self) -> None:
        assert self.mask is not None
        apply_weight_masks(self.pruned, self.mask)

    def _enter(self, phase: AcdcPhase) -> None:
        reset = reset_momentum(self.optimizer)
        common = {"phase_id": phase.phase_id, "phase": phase.kind, "start_epoch": phase.start,
                  "end_epoch": phase.end, "momentum_reset": reset}
        if phase.kind == "compressed":
            reference = self.mask if self.mask is not None else self.previous_mask
            weights = {n: m.weight for n, m in self.pruned.items()}
            masks, threshold = global_magnitude_masks(weights, self.keep)
            churn, layer_churn = mask_churn(reference, masks)
            self.previous_mask, self.mask = reference, masks
            self._apply_mask()
            self.phase_id, self.phase = phase.phase_id, phase.kind
            self._event("prune", **common, prune_point=self.prune_points, kept=self.keep,
                        total=self.total_weights, threshold=threshold, churn=churn,
                        layer_churn=layer_churn, densities=self._densities())
            self.prune_points += 1
        else:
            if self.mask is not None:
                # pruned weights restart from exactly zero: nothing kept their old values
                self._apply_mask()
                self.previous_mask, self.mask = self.mask, None
            self.phase_id, self.phase = phase.phase_id, phase.kind
            self._event("phase", **common, densities=self._densities())

    def _densities(self) -> dict[str, float]:
        return nonzero_densities(self.layers)

    # -- what the method did --------------------------------------------------------------
    def current_phase(self) -> AcdcPhase | None:
        """The phase entered last (``None`` before the first ``on_epoch_start``)."""
        return None if self.phase_id is None else self.schedule.phases()[self.phase_id]

    def weight_masks(self) -> dict[str, torch.Tensor]:
        """Pruned layers: the mask in compressed phases; otherwise ``weight != 0``."""
        return overlay_masks(super().weight_masks(), self.mask)

    def target_densities(self) -> dict[str, float]:
        """1.0 in dense phases and for unpruned layers; in compressed phases the kept
        fraction that the global selection gave each pruned layer."""
        out = super().target_densities()
        if self.mask is not None:
            out.update(mask_densities(self.mask))
        return out

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "sparsity": self.sparsity,
                "schedule": self.schedule.to_dict(), "pruning": "global magnitude",
                "pruned_layers": list(self.pruned), "exclude": list(self.exclude),
                "keep_first_dense": self.keep_first_dense,
                "keep_last_dense": self.keep_last_dense,
                "kept_weights": self.keep, "total_weights": self.total_weights,
                "momentum_reset": "every phase change"}

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        def copy(masks: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
            return None if masks is None else {n: m.clone() for n, m in masks.items()}

        return {**super().state_dict(), "sparsity": self.sparsity,
                "schedule": self.schedule.to_dict(), "pruned_layers": list(self.pruned),
                "phase_id": self.phase_id, "phase": self.phase,
                "prune_points": self.prune_points, "mask": copy(self.mask),
                "previous_mask": copy(self.previous_mask)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if AcdcSchedule.from_dict(state["schedule"]) != self.schedule:
            raise ConfigError("checkpoint's AC/DC schedule differs from this run's; resume with "
                              "the same --epochs and phase options")
        if float(state["sparsity"]) != self.sparsity:
            raise ConfigError(f"checkpoint's AC/DC sparsity {state['sparsity']} differs from "
                              f"{self.sparsity}; resume with the same --sparsity")
        if list(state["pruned_layers"]) != list(self.pruned):
            raise ConfigError("checkpoint's AC/DC pruned layers differ from this run's; resume "
                              "with the same model and layer options")
        self.mask = load_layer_tensors(state["mask"], self.pruned, "AC/DC mask")
        self.previous_mask = load_layer_tensors(state["previous_mask"], self.pruned, "AC/DC mask")
        self.phase_id = None if state["phase_id"] is None else int(state["phase_id"])
        self.phase = state["phase"]
        self.prune_points = int(state["prune_points"])
        if self.mask is not None:
            self._apply_mask()


def apply(model: nn.Module, sparsity: float, schedule: AcdcSchedule | int,
          **options: Any) -> AcdcSparsifier:
    """AC/DC on ``model`` (``options`` as for :class:`AcdcSparsifier`)."""
    return AcdcSparsifier(model, sparsity, schedule, **options)
