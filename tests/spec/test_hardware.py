"""Hardware specs: defaults and shipped files, round trips, digest, replace, offsets."""

import dataclasses

import pytest

from accelsim.errors import HardwareError
from accelsim.spec.array_sections import (
    FRONTEND_KINDS,
    PRIORITIES,
    SCHEDULES,
    SHAPES,
    ArraySpec,
    BackendSpec,
    FrontendSpec,
)
from accelsim.spec.hardware import (
    BUILTIN_HARDWARE,
    DATA_DIR,
    Hardware,
    builtin_hardware,
    default_hardware,
    dense_baseline,
    load_hardware,
)
from accelsim.spec.sections import EnergySpec, MemorySpec


# ---- defaults and shipped files -------------------------------------------------------
def test_defaults():
    hw = load_hardware()
    assert hw == default_hardware()
    assert hw.name == "bit-tactical T<2,5>"
    assert hw.array == ArraySpec(kind="bit-tactical", tiles=16, rows=16, columns=1, lanes=16,
                                 pe_bits=16, clock_ghz=1.0)
    assert hw.frontend == FrontendSpec(kind="tcl", shape="T", lookahead=2, lookaside=5,
                                       priority="least-flexible", schedule="sparser")
    assert hw.backend == BackendSpec("bit-parallel")
    assert hw.memory == MemorySpec("ideal")
    assert hw.energy == EnergySpec()
    assert hw.frontend.label == "T<2,5>"
    assert hw.array.pes == 256 and hw.array.macs_per_cycle == 4096
    assert hw.array.peak_gmacs_per_s == 4096.0
    # an empty description is the default machine, unnamed
    assert load_hardware({}) == Hardware()
    assert load_hardware({}).replace(name=hw.name) == hw


def test_choice_tuples():
    assert FRONTEND_KINDS == ("dense", "tcl")
    assert SHAPES == ("T", "L")
    assert PRIORITIES == ("least-flexible", "most-flexible", "non-overlapping")
    assert SCHEDULES == ("sparser", "weights", "activations")


def test_shipped_files_load():
    assert set(BUILTIN_HARDWARE) == {"bit-tactical", "dadiannao", "bit-tactical-tclp",
                                     "bit-tactical-tcle", "systolic-os-32x32", "scnn", "ideal"}
    for name in BUILTIN_HARDWARE:
        assert (DATA_DIR / f"{name}.toml").is_file()
    bt = builtin_hardware("bit-tactical")
    dd = builtin_hardware("dadiannao")
    assert bt == default_hardware()
    assert load_hardware(DATA_DIR / "bit-tactical.toml") == bt
    assert load_hardware(str(DATA_DIR / "dadiannao.toml")) == dd
    assert load_hardware("dadiannao") == dd  # a built-in name, not a file here
    assert dd.frontend.kind == "dense" and dd.array == bt.array
    assert dd.frontend.offsets() == ()


def test_dense_baseline():
    bt, dd = builtin_hardware("bit-tactical"), builtin_hardware("dadiannao")
    base = dense_baseline(bt)
    assert base.frontend.kind == "dense"
    assert base.array == bt.array and base.backend == bt.backend and base.memory == bt.memory
    assert base.replace(name=dd.name) == dd
    assert dense_baseline(base) == base
    assert base.digest() != bt.digest()
    # the dense front end ignores the lookaside, so it need not fit the lanes
    small = load_hardware({"array": {"lanes": 4}, "frontend": {"kind": "dense"}})
    assert small.frontend.lookaside == 5
    with pytest.raises(HardwareError, match=r"\[frontend\] lookaside"):
        small.replace(**{"frontend.kind": "tcl"})


def test_builtin_unknown_name():
    with pytest.raises(HardwareError, match="bit-tactical, dadiannao") as info:
        builtin_hardware("eyeriss")
    assert "\n" not in str(info.value)


# ---- round trips, digest, replace -----------------------------------------------------
def _custom() -> Hardware:
    return load_hardware({
        "name": 'odd "name" \\ with\ttab, ünïcode and \x7f',
        "array": {"tiles": 4, "rows": 8, "columns": 2, "lanes": 8, "pe_bits": 8,
                  "clock_ghz": 0.8},
        "frontend": {"shape": "L", "lookahead": 3, "lookaside": 4,
                     "priority": "non-overlapping", "schedule": "weights"},
    })


@pytest.mark.parametrize("make", [default_hardware, _custom,
                                  lambda: builtin_hardware("dadiannao"), Hardware])
def test_round_trip_dict(make):
    hw = make()
    d = hw.to_dict()
    assert set(d) == {"name", "array", "frontend", "backend", "memory", "energy"}
    assert set(d["energy"]) == {f.name for f in dataclasses.fields(EnergySpec)}
    assert load_hardware(d) == hw
    assert load_hardware(hw) is hw


@pytest.mark.parametrize("make", [default_hardware, _custom,
                                  lambda: builtin_hardware("dadiannao"), Hardware])
def test_round_trip_toml(tmp_path, make):
    hw = make()
    path = tmp_path / "hw.toml"
    path.write_text(hw.to_toml(), encoding="utf-8")
    back = load_hardware(path)
    assert back == hw
    assert back.digest() == hw.digest()


def test_integer_clock_is_a_float():
    hw = load_hardware({"array": {"clock_ghz": 2}})
    assert hw.array.clock_ghz == 2.0 and isinstance(hw.array.clock_ghz, float)
    assert hw.digest() == load_hardware({"array": {"clock_ghz": 2.0}}).digest()


def test_digest_stable_and_sensitive():
    hw = default_hardware()
    digest = hw.digest()
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert digest == default_hardware().digest() == builtin_hardware("bit-tactical").digest()
    assert digest == load_hardware(hw.to_dict()).digest()
    changed = {
        "array.tiles": 8, "array.rows": 8, "array.columns": 2, "array.lanes": 8,
        "array.pe_bits": 8, "array.clock_ghz": 1.5, "frontend.kind": "dense",
        "frontend.shape": "L", "frontend.lookahead": 1, "frontend.lookaside": 4,
        "frontend.priority": "most-flexible", "frontend.schedule": "activations",
        "name": "other",
    }
    digests = {digest}
    for key, value in changed.items():
        other = hw.replace(**{key: value}).digest()
        assert other not in digests, key
        digests.add(other)


def test_replace():
    hw = default_hardware()
    new = hw.replace(**{"frontend.lookahead": 4, "array.tiles": 8})
    assert new.frontend.lookahead == 4 and new.array.tiles == 8
    assert new.array.rows == hw.array.rows and new.name == hw.name
    assert hw.frontend.lookahead == 2 and hw.array.tiles == 16  # untouched
    assert hw.replace() == hw
    assert hw.replace(name="x").name == "x"
    with pytest.raises(HardwareError, match=r"\[frontend\] lookahead = -1"):
        hw.replace(**{"frontend.lookahead": -1})


@pytest.mark.parametrize("key, words", [
    ("frontend.lookahed", ["[frontend] lookahed", "lookahead"]),
    ("arrays.tiles", ["arrays.tiles", "array"]),
    ("tiles", ["tiles", "section.key"]),
    ("energy.joules", ["[energy] joules"]),
    ("array.tiles.x", ["[array] tiles.x"]),
])
def test_replace_unknown_key(key, words):
    with pytest.raises(HardwareError) as info:
        default_hardware().replace(**{key: 1})
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_frozen():
    hw = default_hardware()
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.array.tiles = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.name = "x"


# ---- offsets --------------------------------------------------------------------------
def _offsets(shape, h, d, kind="tcl"):
    return FrontendSpec(kind=kind, shape=shape, lookahead=h, lookaside=d).offsets()


def test_offsets_t25():
    assert default_hardware().frontend.offsets() == (
        (1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2))


def test_offsets_l34():
    assert _offsets("L", 3, 4) == ((1, -4), (1, -3), (1, -2), (1, -1), (1, 0), (2, 0), (3, 0))


@pytest.mark.parametrize("shape, h, d, want", [
    ("L", 1, 0, ((1, 0),)),
    ("L", 2, 1, ((1, -1), (1, 0), (2, 0))),
    ("T", 2, 0, ((1, 0), (2, 0))),
    ("T", 1, 4, ((1, -2), (1, -1), (1, 0), (1, 1), (1, 2))),
    ("T", 2, 6, ((1, -3), (1, -1), (1, 0), (1, 1), (1, 3), (2, -2), (2, 0), (2, 2))),
    ("T", 3, 5, ((1, -1), (1, 0), (1, 1), (2, -2), (2, 0), (2, 2), (3, 0), (3, 3))),
])
def test_offsets_other_shapes(shape, h, d, want):
    assert _offsets(shape, h, d) == want


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("d", [0, 1, 5, 15])
def test_offsets_no_lookahead(shape, d):
    assert _offsets(shape, 0, d) == ()


@pytest.mark.parametrize("shape", SHAPES)
def test_offsets_dense(shape):
    assert _offsets(shape, 2, 5, kind="dense") == ()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("h", [1, 2, 3, 4])
@pytest.mark.parametrize("d", [0, 1, 2, 5, 7, 15])
def test_offsets_properties(shape, h, d):
    offs = _offsets(shape, h, d)
    assert list(offs) == sorted(set(offs))  # lexicographic, no repeats
    assert len(offs) == h + d  # h straight lookahead + d lookaside connections
    assert all(1 <= dt <= h and abs(dl) <= d for dt, dl in offs)
    # no two offsets reach the same lane at the same step when lanes = d + 1
    assert len({(dt, dl % (d + 1)) for dt, dl in offs}) == len(offs)
