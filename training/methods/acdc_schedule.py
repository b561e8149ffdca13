"""The AC/DC phase schedule (Peste et al., 2021), as a frozen dataclass; no torch.

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
Any of ``warmup``, ``compressed``, ``decompressed``, ``final`` can be set explicitly (the
method parameters ``acdc_warmup`` ... ``acdc_final``), or the whole phase list given
(:meth:`AcdcSchedule.from_phases`, :meth:`AcdcSchedule.parse`).
"""


from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from accelsim.errors import ConfigError
from accelsim.numeric import require_int, round_half_up

__all__ = ["AcdcPhase", "AcdcSchedule", "PHASE_KINDS", "check_params", "schedule_from_params"]

PHASE_KINDS = ("dense", "compressed")
#: default phase lengths as fractions of the epochs (the paper's ImageNet schedule / 100)
WARMUP_FRACTION = 0.10
PHASE_FRACTION = 0.05
FINAL_FRACTION = 0.15
_SHORT_KINDS = {"d": "dense", "dense": "dense", "c": "compressed", "compressed": "compressed"}
_EPOCHS = "a number of epochs"
_PHASE_TOKEN = re.compile(r"(dense|compressed|d|c):?(\d+)")


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
        require_int(self.epochs, "AC/DC epochs", 1, _EPOCHS)
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
            require_int(length, f"AC/DC phase {i} length", 1, _EPOCHS)
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
        w = (max(1, round_half_up(WARMUP_FRACTION * e)) if self.warmup is None
             else require_int(self.warmup, "AC/DC warmup", 1, _EPOCHS))
        c = (max(1, round_half_up(PHASE_FRACTION * e)) if self.compressed is None
             else require_int(self.compressed, "AC/DC compressed phase length", 1,
                               _EPOCHS))
        d = c if self.decompressed is None else require_int(
            self.decompressed, "AC/DC decompressed phase length", 1, _EPOCHS)
        f = (max(1, round_half_up(FINAL_FRACTION * e)) if self.final is None
             else require_int(self.final, "AC/DC final compressed phase length", 1,
                               _EPOCHS))
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




def schedule_from_params(params: Mapping[str, Any], epochs: int) -> AcdcSchedule:
    """The schedule of the method parameters ``acdc_warmup`` ... ``acdc_final`` (0: the
    scaled default) over ``epochs`` epochs."""
    return AcdcSchedule(epochs, warmup=params["acdc_warmup"] or None,
                        compressed=params["acdc_compressed"] or None,
                        decompressed=params["acdc_decompressed"] or None,
                        final=params["acdc_final"] or None)


def check_params(params: Mapping[str, Any], config: Any) -> None:
    """Registry check: the phase lengths fit ``config.epochs`` (raises ConfigError)."""
    schedule_from_params(params, config.epochs)
