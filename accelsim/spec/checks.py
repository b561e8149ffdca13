"""Validation and TOML-writing helpers shared by the spec loaders (hardware descriptions here,
sweep specs in :mod:`accelsim.explore`): one-line :class:`~accelsim.errors.HardwareError`
messages naming ``[section] key``, the bad value and the fix."""

from __future__ import annotations

import contextlib
import difflib
import math
from typing import Any

from accelsim.errors import HardwareError

__all__ = ["MAX_BUFFER_BYTES", "MAX_LANES", "MAX_MACS_PER_CYCLE", "MAX_PES", "MAX_PE_BITS",
           "check_bool", "check_choice", "check_int", "check_nonneg_float", "check_sizes",
           "check_positive_float", "show", "suggest", "toml_string", "toml_type", "toml_value"]


def toml_type(value: Any) -> str:
    """The TOML name of a value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def show(value: Any) -> str:
    """A value as it would be written in TOML (strings quoted, booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    return repr(value)


def suggest(key: Any, known: Any) -> str:
    """`` (did you mean X?)`` for the closest of ``known`` to ``key``, or nothing."""
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_int(section: str, key: str, value: Any, minimum: int, what: str,
               symbol: str = "") -> None:
    """An integer (not a bool, not a float) ``>= minimum``; ``what`` explains the key and
    ``symbol`` is its name in the paper (h, d), if any."""
    if isinstance(value, bool) or not isinstance(value, int):
        example = max(minimum, 1)
        if isinstance(value, (float, str)):
            # suggest the integer the user probably meant: "16" or 16.0 -> 16
            with contextlib.suppress(ValueError, OverflowError):
                example = int(value) if float(value).is_integer() else example
        raise HardwareError(f"[{section}] {key} = {show(value)} must be an integer ({what}), "
                            f"not a {toml_type(value)}; write e.g. {key} = {example}")
    if value < minimum:
        why = f": {symbol} < {minimum}" if symbol else f" must be >= {minimum} ({what})"
        raise HardwareError(f"[{section}] {key} = {value}{why}; use {key} >= {minimum}")


def check_choice(section: str, key: str, value: Any, choices: tuple[str, ...]) -> None:
    listed = ", ".join(f'"{c}"' for c in choices)
    if not isinstance(value, str):
        raise HardwareError(f"[{section}] {key} = {show(value)} must be a string, one of "
                            f"{listed}")
    if value not in choices:
        raise HardwareError(f"[{section}] {key} = {show(value)} is not one of {listed}; "
                            "use one of those")


def check_positive_float(section: str, key: str, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareError(f"[{section}] {key} = {show(value)} must be a number ({what}), "
                            f"not a {toml_type(value)}; write e.g. {key} = 1.0")
    if not math.isfinite(value) or value <= 0:
        raise HardwareError(f"[{section}] {key} = {value!r} must be a finite number > 0 "
                            f"({what}); write e.g. {key} = 1.0")


def check_nonneg_float(section: str, key: str, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HardwareError(f"[{section}] {key} = {show(value)} must be a number ({what}), "
                            f"not a {toml_type(value)}; write e.g. {key} = 1.0")
    if not math.isfinite(value) or value < 0:
        raise HardwareError(f"[{section}] {key} = {value!r} must be a finite number >= 0 "
                            f"({what}); write e.g. {key} = 1.0")


def check_bool(section: str, key: str, value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise HardwareError(f"[{section}] {key} = {show(value)} must be true or false ({what}), "
                            f"not a {toml_type(value)}; write e.g. {key} = false")


# ---- TOML writing (tomllib only reads) ------------------------------------------------
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    raise HardwareError(f"cannot write {value!r} ({type(value).__name__}) as TOML")

#: upper bounds on sizes, checked before anything is allocated (far above any real chip; a
#: larger value is a typo such as tiles = 1e12): processing elements (or MACs of a systolic
#: array, PEs of SCNN), products per PE per cycle, MACs per cycle, fixed-point bits, and
#: bytes of one on-chip buffer
MAX_PES = 1 << 20
MAX_LANES = 1 << 10
MAX_MACS_PER_CYCLE = 1 << 24
MAX_PE_BITS = 64
MAX_BUFFER_BYTES = 1 << 40
MAX_SCNN_PER_CYCLE = 1 << 10


def check_sizes(hw: Any) -> None:
    """Refuse absurd sizes of a :class:`~accelsim.spec.hardware.Hardware` (:data:`MAX_PES` and friends) with a one-line error, before
    the simulator allocates anything by them."""
    a, s, n = hw.array, hw.systolic, hw.scnn
    limits = (
        ("[array] tiles x rows x columns", a.pes, MAX_PES, "processing elements"),
        ("[array] lanes", a.lanes, MAX_LANES, "products per PE per cycle"),
        ("[array] tiles x rows x columns x lanes", a.macs_per_cycle, MAX_MACS_PER_CYCLE,
         "MACs per cycle"),
        ("[array] pe_bits", a.pe_bits, MAX_PE_BITS, "bits"),
        ("[systolic] height x width", s.height * s.width, MAX_PES, "MACs"),
        ("[scnn] pe_rows x pe_columns", n.pe_rows * n.pe_columns, MAX_PES, "PEs"),
        ("[scnn] weights_per_cycle x activations_per_cycle",
         n.weights_per_cycle * n.activations_per_cycle, MAX_SCNN_PER_CYCLE,
         "products per PE per cycle"),
        ("[scnn] accumulator_banks", n.accumulator_banks, MAX_LANES, "banks"),
        ("[scnn] output_channel_group", n.output_channel_group, MAX_PES, "channels"),
        ("[memory] weight_buffer_bytes", hw.memory.weight_buffer_bytes, MAX_BUFFER_BYTES,
         "bytes (1 TiB)"),
        ("[memory] activation_buffer_bytes", hw.memory.activation_buffer_bytes,
         MAX_BUFFER_BYTES, "bytes (1 TiB)"),
    )
    for what, value, limit, unit in limits:
        if value > limit:
            raise HardwareError(f"{what} = {value} is absurdly large: accelsim simulates at "
                                f"most {limit} {unit}; use a smaller value")
