"""Value profiles: what real training traces look like, per layer and operand role (numpy only).

A profile is a versioned JSON file (``"format": "accelsim-profile"``, ``"version": 1``),
fitted from the traces of a training run (:mod:`accelsim.trace.profile_fit`,
``accelsim profile RUN_DIR --out FILE``) and read back by :func:`read_profile`, which
validates every field and names the first bad one in a one-line :class:`ProfileError`.
Synthetic traces draw their values from one (:mod:`accelsim.trace.profiled`).

Per layer (in network order, with its relative depth ``index / (layers - 1)``) and per
*role* -- ``weight`` (the forward weight), ``activation`` (the forward input), ``saved``
(the activation saved for backward-weight), ``grad`` (the output gradient of both backward
passes) -- a :class:`RoleStats` holds what the simulator is sensitive to:

* ``density``: the non-zero fraction (the scheduler skips zeros);
* ``positive``: the share of non-zeros that are positive;
* ``magnitude``: histogram of ``log2(|x| / max|x|)`` of the non-zeros, in bins of
  :data:`BIN` octaves (the bit-serial back ends read magnitudes quantised per tensor, so the
  relative magnitudes decide the precisions and Booth terms);
* ``sample_offset``, ``channel_offset``, ``position_offset`` and ``residual``: ``log2|x|``
  of the non-zeros split additively into a per-sample part of activations and gradients (a
  sample's 99th percentile over the tensor's: samples differ in their upper tail, e.g. a
  well-classified sample has small gradients; ``sample_relative`` is ``log2|x|`` relative to
  its sample's percentile), then (by medians) a per-channel part (per (sample, channel) plane of an
  activation or gradient, per output filter of a weight), a per-position part (an (n, h, w)
  pixel of an activation or gradient; none for weights) and the rest, a histogram each: how the spread groups by channel and pixel decides how precisions group along the
  lanes and windows of the bit-serial back ends;
* ``channel_density``: :data:`QUANTILES` evenly spaced quantiles of the per-channel
  density (dead channels, uneven filters: the work imbalance of the scheduler's tiles);
  for weights also ``in_channel_density`` (the same over input channels, the filters of
  backward-input);
* ``spatial``: the density of each kernel tap of a conv weight, of each (h, w) pixel of an
  activation or gradient, over the mean, with the map's shape (none for linear layers): the
  data's layout, e.g. the blank border of a digit (a synthetic trace uses the pixel map
  only on the profile's data set);
* ``clustering``: the spatial correlation length of zeros in pixels (the ``sigma`` of the
  smoothed-noise mask that gives the same share of equal neighbours; 0 for weights and
  linear layers);
* ``shared``: the share of that noise's variance common to all channels (fitted so that
  the channels share their non-zero pixels as much as the trace's do: ReLU zeros of a blank
  background, Top-K survivors on a digit's strokes);
* ``log2_max``: the median ``log2 max|x|`` (the absolute scale, for realistic values).

Layers of another network map onto the profile's by role and relative depth
(:meth:`Profile.layer_for`): a network's first layer takes the profile's first layer, every
other layer the profile's non-first layer of the same kind (conv or linear) nearest in
relative depth (ties: the shallower one).
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import ProfileError
from accelsim.fileio import atomic_write, check_file_target

PROFILE_FORMAT = "accelsim-profile"
PROFILE_VERSION = 1
ROLES = ("weight", "activation", "saved", "grad")
#: where each role is read from in a trace: (pass, operand role)
ROLE_SOURCES = {"weight": ("forward", "weight"), "activation": ("forward", "activation"),
                "saved": ("backward_weight", "activation"), "grad": ("backward_weight", "grad")}
BIN = 0.25
"""Width of a histogram bin, octaves (log2 units)."""
QUANTILES = 11
HISTOGRAMS = ("magnitude", "sample_offset", "sample_relative", "channel_offset",
              "position_offset", "residual")
OPTIONAL_HISTOGRAMS = ("sample_offset", "sample_relative", "position_offset")
"""Histograms that weights do not have."""
KINDS = ("conv", "linear")
SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"
SHIPPED = {"digits-cnn": "digits-cnn-swat-u-90.json", "resnet20": "resnet20-swat-u-90.json"}
"""The shipped profiles (fitted from real SWAT-U 90% runs on digits, see README "Synthetic
traces calibrated on real ones"), by the model they were fitted on."""
SHIPPED_DEFAULT = "resnet20"
"""The shipped profile that models without one of their own map onto."""


@dataclass(frozen=True)
class Histogram:
    """A distribution over ``log2`` values: bin ``i`` covers ``[lo + i*BIN, lo + (i+1)*BIN)``
    with probability ``p[i]`` (the ``p`` sum to 1)."""

    lo: float
    p: tuple[float, ...]

    @classmethod
    def of(cls, values: np.ndarray) -> Histogram:
        """The histogram of ``values`` (log2 units; at least one finite value)."""
        v = np.asarray(values, dtype=np.float64)
        first = math.floor(float(v.min()) / BIN)
        idx = np.floor(v / BIN).astype(np.int64) - first
        counts = np.bincount(idx)
        p = counts / counts.sum()
        return cls(first * BIN, tuple(round(float(x), 7) for x in p))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (float64, log2 units): a bin by its probability, uniform inside it."""
        return self.from_uniform(rng.random(n), rng.random(n))

    def from_uniform(self, u_bin: np.ndarray, u_in: np.ndarray) -> np.ndarray:
        """The draws of :meth:`sample` from its two uniform streams: ``u_bin`` picks the bin,
        ``u_in`` the place inside it (so that a long draw can be made in blocks)."""
        cdf = np.cumsum(np.asarray(self.p, dtype=np.float64))
        idx = np.minimum(np.searchsorted(cdf / cdf[-1], u_bin, side="right"), cdf.size - 1)
        return self.lo + (idx + u_in) * BIN

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (bin-linear)."""
        c = np.cumsum(self.p) / sum(self.p)
        i = int(np.searchsorted(c, q))
        i = min(i, len(self.p) - 1)
        below = c[i - 1] if i else 0.0
        inside = (q - below) / max(c[i] - below, 1e-12)
        return self.lo + (i + min(max(inside, 0.0), 1.0)) * BIN

    def to_dict(self) -> dict[str, Any]:
        return {"lo": self.lo, "p": list(self.p)}


@dataclass(frozen=True)
class RoleStats:
    """Statistics of one operand role of one layer (see the module docstring)."""

    density: float
    positive: float
    log2_max: float
    magnitude: Histogram | None
    sample_offset: Histogram | None
    sample_relative: Histogram | None
    channel_offset: Histogram | None
    position_offset: Histogram | None
    residual: Histogram | None
    channel_density: tuple[float, ...]
    clustering: float
    shared: float = 0.0
    in_channel_density: tuple[float, ...] | None = None
    spatial: tuple[tuple[int, int], tuple[float, ...]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"density": self.density, "positive": self.positive,
                               "log2_max": self.log2_max,
                               "channel_density": list(self.channel_density),
                               "clustering": self.clustering, "shared": self.shared,
                               "in_channel_density": None if self.in_channel_density is None
                               else list(self.in_channel_density),
                               "spatial": None if self.spatial is None else
                               {"shape": list(self.spatial[0]),
                                "density": list(self.spatial[1])}}
        for name in HISTOGRAMS:
            h = getattr(self, name)
            out[name] = None if h is None else h.to_dict()
        return out


@dataclass(frozen=True)
class LayerProfile:
    """One layer of a profile: its name and kind in the fitted network, relative depth
    (0 = first layer, 1 = last), the weight density it was trained at, and its roles."""

    name: str
    kind: str
    depth: float
    weight_density: float
    roles: dict[str, RoleStats]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "depth": self.depth,
                "weight_density": self.weight_density,
                "roles": {r: s.to_dict() for r, s in self.roles.items()}}


@dataclass(frozen=True)
class Profile:
    """A fitted value profile: where it comes from and its layers in network order."""

    model: str
    dataset: str
    method: str
    source: dict[str, Any]
    layers: tuple[LayerProfile, ...]

    def layer_for(self, index: int, count: int, kind: str) -> LayerProfile:
        """The profile layer that layer ``index`` of a ``count``-layer network of ``kind``
        maps onto (module docstring: first to first, others by kind and relative depth)."""
        if index == 0 or len(self.layers) == 1:
            return self.layers[0]
        depth = index / max(count - 1, 1)
        rest = self.layers[1:]
        same = [lp for lp in rest if lp.kind == kind] or list(rest)
        return min(same, key=lambda lp: (abs(lp.depth - depth), lp.depth))

    def to_dict(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "model": self.model,
                "dataset": self.dataset, "method": self.method, "source": self.source,
                "layers": [lp.to_dict() for lp in self.layers]}


def write_profile(profile: Profile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as JSON to ``path`` atomically (one line per layer).  -> the path."""
    target = check_file_target(path)
    data = profile.to_dict()
    layers = data.pop("layers")
    head = json.dumps(data, indent=1)[:-2]
    body = ",\n".join(json.dumps(lp, separators=(",", ":")) for lp in layers)
    return atomic_write(target, f'{head},\n "layers": [\n{body}\n]}}\n')


def shipped_profile_path(model: str) -> Path:
    """The shipped profile for ``model``: its own if one ships, else :data:`SHIPPED_DEFAULT`'s."""
    return SHIPPED_DIR / SHIPPED.get(model, SHIPPED[SHIPPED_DEFAULT])


def read_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile file; any problem is a one-line :class:`ProfileError`
    naming the file and the field."""
    p = Path(path)
    try:
        stat = p.stat()
    except OSError as exc:
        raise ProfileError(f"profile {p}: cannot read it ({exc.strerror or exc}); give a "
                           "file written by `accelsim profile RUN_DIR --out FILE`") from None
    return _read_cached(str(p), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int) -> Profile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile {path}: cannot read it ({exc}); give a file written by "
                           "`accelsim profile RUN_DIR --out FILE`") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile {path}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                           "the file is truncated or not a profile, write it again with "
                           "`accelsim profile`") from None
    return _parse(data, path)


def _fail(path: str, where: str, problem: str) -> ProfileError:
    return ProfileError(f"profile {path}: {where} {problem}; write the file again with "
                        "`accelsim profile RUN_DIR --out FILE`")


def _parse(data: Any, path: str) -> Profile:
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise ProfileError(f"profile {path}: not an accelsim profile (no \"format\": "
                           f"\"{PROFILE_FORMAT}\"); give a file written by `accelsim profile`")
    if data.get("version") != PROFILE_VERSION:
        raise ProfileError(f"profile {path}: version {data.get('version')!r} is not "
                           f"{PROFILE_VERSION}, the version this accelsim reads; fit it "
                           "again with `accelsim profile`")
    for key in ("model", "dataset", "method"):
        if not isinstance(data.get(key), str):
            raise _fail(path, key, "is missing or not a string")
    if not isinstance(data.get("source"), dict):
        raise _fail(path, "source", "is missing or not an object")
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        raise _fail(path, "layers", "is missing or empty")
    parsed = tuple(_parse_layer(lp, f"layers[{i}]", path) for i, lp in enumerate(layers))
    return Profile(data["model"], data["dataset"], data["method"], data["source"], parsed)


def _number(value: Any, where: str, path: str, lo: float = -math.inf,
            hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, where, f"= {value!r} is not a finite number")
    if not lo <= value <= hi:
        raise _fail(path, where, f"= {value!r} is outside [{lo}, {hi}]")
    return float(value)


def _parse_layer(data: Any, where: str, path: str) -> LayerProfile:
    if not isinstance(data, dict):
        raise _fail(path, where, "is not an object")
    if not isinstance(data.get("name"), str):
        raise _fail(path, f"{where}.name", "is missing or not a string")
    if data.get("kind") not in KINDS:
        raise _fail(path, f"{where}.kind", f"= {data.get('kind')!r} is not one of {KINDS}")
    roles = data.get("roles")
    if not isinstance(roles, dict) or set(roles) != set(ROLES):
        raise _fail(path, f"{where}.roles", f"must hold exactly {', '.join(ROLES)}")
    return LayerProfile(
        data["name"], data["kind"], _number(data.get("depth"), f"{where}.depth", path, 0, 1),
        _number(data.get("weight_density"), f"{where}.weight_density", path, 0, 1),
        {r: _parse_role(roles[r], f"{where}.roles.{r}", path) for r in ROLES})


def _parse_role(data: Any, where: str, path: str) -> RoleStats:
    if not isinstance(data, dict):
        raise _fail(path, where, "is not an object")
    density = _number(data.get("density"), f"{where}.density", path, 0, 1)
    hists = {n: _parse_hist(data.get(n), f"{where}.{n}", path,
                            density > 0 and n not in OPTIONAL_HISTOGRAMS)
             for n in HISTOGRAMS}
    q = _quantiles(data.get("channel_density"), f"{where}.channel_density", path)
    q_in = None if data.get("in_channel_density") is None else \
        _quantiles(data["in_channel_density"], f"{where}.in_channel_density", path)
    return RoleStats(density, _number(data.get("positive"), f"{where}.positive", path, 0, 1),
                     _number(data.get("log2_max"), f"{where}.log2_max", path, -200, 200),
                     hists["magnitude"], hists["sample_offset"], hists["sample_relative"],
                     hists["channel_offset"],
                     hists["position_offset"],
                     hists["residual"], q,
                     _number(data.get("clustering"), f"{where}.clustering", path, 0, 1000),
                     _number(data.get("shared"), f"{where}.shared", path, 0, 1), q_in,
                     _parse_spatial(data.get("spatial"), f"{where}.spatial", path))


def _quantiles(q: Any, where: str, path: str) -> tuple[float, ...]:
    if not isinstance(q, list) or len(q) != QUANTILES:
        raise _fail(path, where, f"must be a list of {QUANTILES} numbers")
    out = tuple(_number(v, where, path, 0, 1) for v in q)
    if any(b < a for a, b in zip(out, out[1:], strict=False)):
        raise _fail(path, where, "must not decrease (quantiles)")
    return out


def _parse_spatial(data: Any, where: str, path: str
                ) -> tuple[tuple[int, int], tuple[float, ...]] | None:
    if data is None:
        return None
    shape = data.get("shape") if isinstance(data, dict) else None
    if not (isinstance(shape, list) and len(shape) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in shape)):
        raise _fail(path, f"{where}.shape", "must be [height, width] (integers 1..4096)")
    dens = data.get("density")
    if not isinstance(dens, list) or len(dens) != shape[0] * shape[1]:
        raise _fail(path, f"{where}.density", f"must be a list of {shape[0] * shape[1]} numbers")
    return (shape[0], shape[1]), tuple(_number(v, f"{where}.density", path, 0, 1e6)
                                       for v in dens)


def _parse_hist(data: Any, where: str, path: str, needed: bool) -> Histogram | None:
    if data is None and not needed:
        return None
    if not isinstance(data, dict):
        raise _fail(path, where, "is missing or not an object {lo, p}")
    lo = _number(data.get("lo"), f"{where}.lo", path, -1000, 1000)
    p = data.get("p")
    if not isinstance(p, list) or not p or len(p) > 100_000:
        raise _fail(path, f"{where}.p", "must be a non-empty list of probabilities")
    probs = tuple(_number(v, f"{where}.p", path, 0, 1) for v in p)
    if not 0.99 <= sum(probs) <= 1.01:
        raise _fail(path, f"{where}.p", f"sums to {sum(probs):.4f}, not 1")
    return Histogram(lo, probs)
