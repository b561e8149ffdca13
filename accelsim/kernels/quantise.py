"""Quantisation of the bit-serial operand (``[backend] quantisation``, ``value_bits``).

The serial back ends (TCLp, TCLe) read magnitudes: sign-magnitude fixed-point integers of at
most ``value_bits`` bits.  :func:`quantise_window` turns one operand tensor (the window
operand of one pass of one layer) into them by one of these rules and says which it used:

``"integer"``
    The values are fixed-point integers already (DNNsim's ``quantised: true`` traces) and are
    used as they are: magnitude = ``|x|``.  Every value must be integral and fit: ``|x| <
    2**value_bits`` for a tensor without negative values, ``|x| < 2**(value_bits - 1)``
    otherwise (one bit for the sign); anything else is a :class:`ConfigError` naming the
    layer and pass.
``"per-tensor"``
    One scale per tensor: ``rint(|x| / max|x| * (2**(value_bits-1) - 1))``, non-zeros kept
    >= 1 (:func:`accelsim.kernels.recoding.fixed_point_magnitudes`).
``"per-layer-profile"``
    Each layer gets a profiled precision, as Stripes and Bit-Tactical do: a magnitude width
    ``M`` (integer bits, sign included, as DNNsim counts it) and a fraction width ``F``, and
    ``magnitude = min(rint(|x| * 2**F), 2**(M - 1 + F) - 1)`` (DNNsim's
    ``profiled_quantization``), non-zeros kept >= 1 so the operand's zero pattern is that of
    the trace.  ``(M, F)`` come from ``[backend] precision_file`` when set, else from the
    tensor by the *derived rule*: ``F = [backend] fraction_bits`` and ``M - 1 + F`` the bit
    length of ``rint(p * 2**F)`` (at least 1) where ``p`` is the 99.99th percentile of the
    non-zero magnitudes, capped at ``value_bits - 1`` (values above the percentile clip).
``"auto"`` (default)
    ``"integer"`` when every value is integral and fits, else ``"per-tensor"``.

Precision file: DNNsim's ``precision.txt`` (``base/src/NetReader.cpp``: the first line is
skipped; lines 2-5 are ';'-separated per-layer activation magnitude (sign included),
activation fraction, weight magnitude, weight fraction), plus line 6, which DNNsim ignores,
naming the layers (';'-separated, the same order) so that they are matched by name, and
optional lines 7 and 8 with the output gradients' magnitude and fraction.  The activation
precision serves the forward and backward-weight passes (the activation is their serial
operand), the gradient precision backward-input; a layer or gradient the file does not give
falls back on the derived rule.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from accelsim.errors import ConfigError
from accelsim.kernels import recoding
from accelsim.kernels.recoding import fixed_point_magnitudes
from accelsim.spec.array_sections import BackendSpec

__all__ = ["derived_precision", "fits_integer", "integer_magnitudes", "profiled_magnitudes",
           "quantise_window", "read_precision_file", "twos_complement"]

PERCENTILE = 99.99


def fits_integer(values: np.ndarray, value_bits: int) -> bool:
    """Whether every value is a finite integer that fits ``value_bits`` (see ``"integer"``)."""
    a = np.asarray(values)
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.int64)
        largest = float(np.abs(a).max()) if a.size else 0.0
    else:
        flat = a.reshape(-1)
        step = recoding.QUANTISE_BLOCK  # a block at a time: no copies of the tensor
        for i in range(0, flat.size, step):
            b = flat[i:i + step]
            if not np.isfinite(b).all() or not (b == np.rint(b)).all():
                return False
        largest = max(abs(float(a.max())), abs(float(a.min()))) if a.size else 0.0
    if a.size == 0:
        return True
    top = (1 << value_bits) if a.min() >= 0 else (1 << (value_bits - 1))
    return largest < top


def integer_magnitudes(values: np.ndarray, value_bits: int, where: str) -> np.ndarray:
    """``|x|`` as uint16 of integral values that fit ``value_bits``; ``where`` names the
    layer and pass in the error."""
    a = np.asarray(values)
    if not fits_integer(a, value_bits):
        f = np.asarray(a, dtype=np.float64)
        bad = ~np.isfinite(f) | (f != np.rint(np.nan_to_num(f)))
        why = (f"value {float(f[bad].flat[0])!r} is not an integer" if bad.any() else
               f"magnitude {np.abs(f).max():g} does not fit value_bits = {value_bits}")
        raise ConfigError(f"{where}: {why}; [backend] quantisation = \"integer\" needs "
                          "fixed-point integer values (use \"per-tensor\" or raise value_bits)")
    return np.abs(a.astype(np.int64)).astype(np.uint16)


def profiled_magnitudes(values: np.ndarray, magnitude: int, fraction: int) -> np.ndarray:
    """``min(rint(|x| * 2**fraction), 2**(magnitude - 1 + fraction) - 1)``, non-zeros >= 1."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    width = magnitude - 1 + fraction
    q = np.minimum(np.rint(a * 2.0 ** fraction), (1 << max(width, 0)) - 1)
    return np.where(a > 0, np.maximum(q, 1), 0).astype(np.uint16)


def derived_precision(values: np.ndarray, fraction: int, value_bits: int) -> tuple[int, int]:
    """``(M, F)`` of the derived rule (module docstring): ``F = fraction``, ``M - 1 + F`` the
    bit length of the 99.99th-percentile non-zero magnitude at ``F`` fraction bits, at
    least 1 and at most ``value_bits - 1``."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    nz = a[a > 0]
    top = float(np.percentile(nz, PERCENTILE)) if nz.size else 0.0
    width = max(1, min(int(np.rint(top * 2.0 ** fraction)).bit_length(), value_bits - 1))
    return width + 1 - fraction, fraction


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> dict[str, dict[str, tuple[int, int]]]:
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    if len(lines) < 6 or not lines[5]:
        raise ConfigError(f"precision file {path}: needs DNNsim's 5 lines plus line 6 naming "
                          "the layers (';'-separated, in the order of lines 2-5)")

    def row(i: int) -> list[int]:
        try:
            return [int(v) for v in lines[i].split(";") if v.strip()]
        except ValueError:
            raise ConfigError(f"precision file {path}: line {i + 1} must hold ';'-separated "
                              "integers") from None

    names = [v.strip() for v in lines[5].split(";") if v.strip()]
    act_m, act_f = row(1), row(2)
    grad = (row(6), row(7)) if len(lines) >= 8 and lines[6] else ([], [])
    if len(act_m) != len(names) or len(act_f) != len(names) or \
            any(len(r) not in (0, len(names)) for r in grad):
        raise ConfigError(f"precision file {path}: lines 2, 3 (and 7, 8) need one value per "
                          f"layer named on line 6 ({len(names)})")
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for i, name in enumerate(names):
        out[name] = {"activation": (act_m[i], act_f[i])}
        if grad[0]:
            out[name]["grad"] = (grad[0][i], grad[1][i])
    return out


def read_precision_file(path: str) -> dict[str, dict[str, tuple[int, int]]]:
    """``{layer: {"activation": (M, F), "grad": (M, F)}}`` of a precision file (module
    docstring); "grad" only where lines 7-8 are given."""
    try:
        mtime = os.path.getmtime(path)
    except OSError as e:
        raise ConfigError(f"[backend] precision_file {path!r} cannot be read ({e.strerror}); "
                          "fix the path") from None
    return _read(str(path), mtime)


def _profile(values: np.ndarray, backend: BackendSpec, layer: str,
             pass_name: str) -> tuple[int, int]:
    role = "grad" if pass_name == "backward_input" else "activation"
    if backend.precision_file:
        found = read_precision_file(backend.precision_file).get(layer, {}).get(role)
        if found is not None:
            if not 0 <= found[0] - 1 + found[1] <= backend.value_bits - 1:
                raise ConfigError(f"precision file {backend.precision_file}: layer {layer!r} "
                                  f"{role} precision {found} does not fit value_bits = "
                                  f"{backend.value_bits}")
            return found
    return derived_precision(values, backend.fraction_bits, backend.value_bits)


def twos_complement(backend: BackendSpec, rule: str, values: np.ndarray) -> bool:
    """Whether TCLp counts the precisions of this serial operand in two's complement
    (``[backend] signed_precision``; ``rule``: the quantisation rule used): only a tensor
    holding negative values has a sign to count."""
    if backend.kind != "tclp" or backend.signed_precision == "sign-magnitude":
        return False
    if backend.signed_precision == "auto" and rule != "integer":
        return False
    a = np.asarray(values)
    return bool(a.size) and bool((a < 0).any())


def quantise_window(values: np.ndarray, backend: BackendSpec, layer: str,
                    pass_name: str) -> tuple[np.ndarray, str]:
    """The serial operand of ``pass_name`` of ``layer`` as uint16 magnitudes, and the rule
    used (``"integer"``, ``"per-tensor"`` or ``"per-layer-profile"``)."""
    a = np.asarray(values)
    rule = backend.quantisation
    if rule == "auto":
        rule = "integer" if fits_integer(a, backend.value_bits) else "per-tensor"
    if rule == "integer":
        return integer_magnitudes(a, backend.value_bits, f"layer {layer!r} {pass_name}"), rule
    if rule == "per-tensor":
        return fixed_point_magnitudes(a, backend.value_bits), rule
    return profiled_magnitudes(a, *_profile(a, backend, layer, pass_name)), rule
