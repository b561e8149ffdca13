"""Bit-serial activation back ends of Bit-Tactical (TCLp, TCLe): values, codes, cycles.

The rules are those of the public DNNsim simulator (isakedo/DNNsim, ``BitTacticalP.cpp`` and
``BitTacticalE.cpp``), restated in issue 6:

Values
    Operands are ``pe_bits``-bit fixed point in sign-magnitude form.  A tensor (one operand of
    one pass of one layer, e.g. the whole activation tensor) is quantised with one per-tensor
    scale, as DNNsim quantises each layer to its profiled precision::

        magnitude = rint(|x| / max|x| * (2**(pe_bits - 1) - 1)),  at least 1 where x != 0

    (:func:`fixed_point_magnitudes`).  For ``pe_bits = 16`` this is exactly the trace's
    ``fixed16`` encoding (``q = rint(|x| / scale * 32767)``, ``scale = max|x|``, non-zeros kept
    >= 1), so a fixed16 trace's values come back bit for bit.  An activation's *precision* is
    the bit length of its magnitude (0 for zero); its *terms* are the signed powers of two of
    the Booth-like recoding :func:`_booth_terms` (7 -> {3, 0}).

Which operand is serial
    The window operand of every lowered pass (the one fed per column): forward -> the input
    activation, backward-input -> the output gradient, backward-weight -> the saved activation.
    The filter operand stays bit-parallel.

Slots
    A slot processed at step s multiplies the window value at its weight's original (line,
    lane): a promoted weight brings its own activation; a slot whose weight was promoted away
    is idle; a zero weight that stayed occupies its lane unless ``[backend] skip_zero_weights``
    (:func:`accelsim.kernels.scheduler._schedule_sources`).  With the window operand scheduled, a slot
    holds a (promoted) window value and the streamed filters use their weight at its origin;
    ``skip_zero_weights`` then masks, per filter, the lanes whose weight is zero.

Cycles (per step; at least 1)
    TCLp: the largest precision over every active slot of every filter and tile, for every
    window of the set -- columns and tiles synchronise every step.
    TCLe: per PE (one filter x one window) the number of rounds of the two-stage shifter
    (:func:`accelsim.kernels.scheduler._tcle_pe`, ``bits_first_stage``), the column's cost is the max
    over its filters and the tiles, and columns run up to ``column_registers`` steps apart.

Base (dense) cycles of a bit-serial machine: the same array with a dense front end and every
activation at the full ``pe_bits`` width, i.e. ``pe_bits`` cycles per dense step.  A machine
with ``pe_bits`` x the columns of a bit-parallel one has the same base cycles as it (when the
windows fill the columns), which is how ``data/bit-tactical-tcle.toml`` is sized.
"""

from __future__ import annotations

import numpy as np

from accelsim.errors import ConfigError

__all__ = ["booth_terms", "fixed_point_magnitudes", "precisions", "serial_codes",
           "twos_complement_precisions"]

TERM_BITS = 16  # magnitudes are at most 16 bits
# "u32": the term masks of 0..65535, "u16": those of 0..32767 as uint16; built on first use
# (by any thread: a second build is the same table)
_TERMS_LUT: dict[str, np.ndarray] = {}


def _terms_lut(name: str) -> np.ndarray:
    if "u32" not in _TERMS_LUT:
        _TERMS_LUT.setdefault("u32", _booth_terms(np.arange(1 << 16, dtype=np.uint16)))
    if name == "u16" and "u16" not in _TERMS_LUT:
        _TERMS_LUT.setdefault("u16", _TERMS_LUT["u32"][:1 << 15].astype(np.uint16))
    return _TERMS_LUT[name]


QUANTISE_BLOCK = 1 << 20
"""Elements :func:`fixed_point_magnitudes` quantises at a time."""


def fixed_point_magnitudes(values: np.ndarray, pe_bits: int = 16) -> np.ndarray:
    """Sign-magnitude fixed-point magnitudes of a tensor with one per-tensor scale.

    ``magnitude = rint(|x| / max|x| * (2**(pe_bits-1) - 1))``, raised to 1 where ``x != 0``
    (a non-zero stays non-zero, as in the trace encoding), 0 where ``x == 0``.  Booleans and
    integers are taken as values.  -> uint16 array of the input's shape, values in
    ``0 .. 2**(pe_bits-1) - 1``.  ``pe_bits`` must be in 2..16.
    """
    if isinstance(pe_bits, bool) or not isinstance(pe_bits, int | np.integer) or not 2 <= pe_bits <= 16:
        raise ConfigError(f"pe_bits = {pe_bits!r}: bit-serial values need 2..16 bits")
    flat = np.asarray(values).reshape(-1)
    out = np.zeros(np.shape(values), dtype=np.uint16)
    blocks = [np.s_[i:i + QUANTISE_BLOCK] for i in range(0, flat.size, QUANTISE_BLOCK)]
    top = 0.0  # one tensor's scale, taken a block at a time (no float64 copy of the tensor)
    for b in blocks:
        # NaN if any is NaN, inf if any is infinite
        m = float(np.abs(flat[b], dtype=np.float64).max())
        if not np.isfinite(m):
            raise ConfigError("values hold NaN/inf; fix the tensor before simulating")
        top = max(top, m)
    if top == 0.0:
        return out
    full = (1 << (pe_bits - 1)) - 1
    dst = out.reshape(-1)
    for b in blocks:
        a = np.abs(np.asarray(flat[b]), dtype=np.float64)  # a new array, worked in place
        nonzero = a > 0
        a /= top
        a *= full
        np.rint(a, out=a)
        np.maximum(a, nonzero, out=a)  # 0 stays 0 (rint(0) = 0), a non-zero becomes >= 1
        dst[b] = a
    return out


def precisions(mags: np.ndarray) -> np.ndarray:
    """Bit length of each magnitude (0 for 0): ``floor(log2(m)) + 1``.  -> uint32."""
    m = np.asarray(mags)
    if m.size and (m.min() < 0 or m.max() > 65535):
        raise ConfigError("magnitudes must be in 0..65535")
    return np.frexp(m.astype(np.float32))[1].astype(np.uint32)


def twos_complement_precisions(values: np.ndarray) -> np.ndarray:
    """TCLp precision of signed integer values counted in two's complement, sign bit
    included (DNNsim's ``ShapeShifter``): ``1 + max(1, bit_length(|x| - (x < 0)))``, so 2 for
    0 and -1, 8 for 127 and -128.  ``values``: integers with ``|x| < 2**15``.  -> uint32."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and np.abs(v).max() >= 1 << 15:
        raise ConfigError("two's complement values must be in -32767..32767")
    ones = np.where(v < 0, -v - 1, v)
    return (1 + np.maximum(precisions(ones), 1)).astype(np.uint32)


def booth_terms(mags: np.ndarray) -> np.ndarray:
    """Term bit masks of the TCLe recoding (bit p set <=> a term at 2**p).  -> uint32."""
    m = np.asarray(mags)
    if m.size and (m.min() < 0 or m.max() > 65535):
        raise ConfigError("magnitudes must be in 0..65535")
    m = np.asarray(m, dtype=np.uint16)
    # every 16-bit value is recoded once per process (one numpy table) and the
    # magnitudes are looked up
    return _terms_lut("u32")[m]


def serial_codes(window_mags: np.ndarray, kind: str, *, transposed: bool = False
                 ) -> np.ndarray:
    """Per window and flat position (``line * lanes + lane``) the code the kernels read:
    precisions for ``"tclp"``, term masks for ``"tcle"``.  ``window_mags``: the lowered window
    operand's magnitudes ``[n_windows, lines, lanes]``.  -> uint32[n_windows, lines * lanes];
    with ``transposed``: C-contiguous ``[lines * lanes, n_windows]``, uint16 where every code
    fits (precisions; term masks of magnitudes below 2**15), else uint32."""
    m = np.asarray(window_mags)
    flat = m.reshape(m.shape[0], -1)
    if kind not in ("tclp", "tcle"):
        raise ConfigError(f"serial_codes(): kind must be 'tclp' or 'tcle', not {kind!r}")
    if not transposed:
        return np.ascontiguousarray(precisions(flat) if kind == "tclp" else booth_terms(flat))
    if flat.size and (flat.min() < 0 or flat.max() > 65535):
        raise ConfigError("magnitudes must be in 0..65535")
    flat_t = np.ascontiguousarray(flat.T, dtype=np.uint16)
    if kind == "tclp":
        return precisions(flat_t).astype(np.uint16)
    narrow = not flat_t.size or int(flat_t.max()) < 1 << 15
    return _terms_lut("u16" if narrow else "u32")[flat_t]


def _booth_terms(mags: np.ndarray) -> np.ndarray:
    """Term bit masks (uint32, bit p <=> a term at position p, p in 0..16) of 16-bit magnitudes.

    The Booth-like recoding of the Bit-Tactical TCLe back end, scanning bits 15 down to 0 (bits
    below 0 read as 0), starting outside a run: outside a run every 1 bit is a term (+2^p),
    except a 1 at bit p whose bits p-1 and p-2 are also 1, which puts a term at p+1 (+2^(p+1))
    and opens a run; inside a run, a 0 bit whose next lower bit is 1 is a term (-2^p), and the
    first 1 bit whose two lower bits are both 0 is a term (-2^p) and closes the run.
    7 -> {3, 0} (8 - 1); 27 -> {4, 3, 1, 0}.  ``mags``: any integer array of values in
    0..65535; the result has its shape.  Plain numpy over all values at once, one bit position
    at a time (built once per process as a table, so nothing is compiled for it).
    """
    v = np.asarray(mags).astype(np.int64).ravel()
    if v.size and (v.min() < 0 or v.max() > 65535):
        raise ValueError("magnitudes must be in 0..65535")
    out = np.zeros(v.size, np.uint32)
    run = np.zeros(v.size, bool)
    for p in range(TERM_BITS - 1, -1, -1):
        b = (v >> p) & 1 == 1
        b1 = (v >> (p - 1)) & 1 == 1 if p >= 1 else np.zeros(v.size, bool)
        b2 = (v >> (p - 2)) & 1 == 1 if p >= 2 else np.zeros(v.size, bool)
        opens = ~run & b & b1 & b2
        plain = ~run & b & ~(b1 & b2)
        minus = run & ((~b & b1) | (b & ~b1 & ~b2))
        closes = run & b & ~b1 & ~b2
        out[opens] |= np.uint32(1 << (p + 1))
        out[plain | minus] |= np.uint32(1 << p)
        run = (run | opens) & ~closes
    return out.reshape(np.shape(mags))


def _booth_terms_ref(value: int) -> list[tuple[int, int]]:
    """The recoding rule of :func:`_booth_terms` for one magnitude, written plainly:
    -> [(position, sign)] from the highest position down; sum(sign * 2**p) == value."""
    def bit(p: int) -> int:
        return (value >> p) & 1 if p >= 0 else 0

    terms: list[tuple[int, int]] = []
    in_run = False
    for p in range(15, -1, -1):
        if not in_run:
            if bit(p) and bit(p - 1) and bit(p - 2):
                terms.append((p + 1, +1))
                in_run = True
            elif bit(p):
                terms.append((p, +1))
        elif bit(p) == 0 and bit(p - 1) == 1:
            terms.append((p, -1))
        elif bit(p) == 1 and bit(p - 1) == 0 and bit(p - 2) == 0:
            terms.append((p, -1))
            in_run = False
    return terms
