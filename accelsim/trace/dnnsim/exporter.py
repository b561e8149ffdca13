"""Export the forward pass of a trace as a DNNsim trace directory, built beside the target
and moved into place only when complete."""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from accelsim.errors import TraceError
from accelsim.fileio import WriteError, atomic_write, fsync_dir, write_error
from accelsim.spec.geometry import LayerGeometry
from accelsim.trace.dnnsim.layout import (
    DEFUSE_FC,
    DEFUSE_OTHER,
    FC_MARKERS,
    NAMES_FILE,
    NAMES_HEADER,
    PARAMS_FILE,
    check_batch_file,
    dnnsim_layer_type,
)
from accelsim.trace.reader import Trace, open_trace

__all__ = ["export_dnnsim"]


def _exported_name(geometry: LayerGeometry) -> str:
    name = geometry.name.replace("/", "-")
    for bad in (",", "\r", "\n"):
        name = name.replace(bad, "_")
    for word, harmless in DEFUSE_OTHER.items():
        name = name.replace(word, harmless)
    if geometry.kind == "conv":
        for word, harmless in DEFUSE_FC.items():
            name = name.replace(word, harmless)
    elif not any(marker in name for marker in FC_MARKERS):
        name = f"fc-{name}"
    want = "InnerProduct" if geometry.kind == "linear" else "Convolution"
    if dnnsim_layer_type(name) != want:  # pragma: no cover - the rules above guarantee it
        raise TraceError(f"layer {geometry.name!r}: cannot find a DNNsim name for it")
    return name


def _check_exportable(geometry: LayerGeometry, passes: tuple[str, ...]) -> None:
    where = f"dnnsim export, layer {geometry.name!r}"
    if "forward" not in passes:
        raise TraceError(f"{where}: the trace holds no forward pass for it (only "
                         f"{', '.join(passes)}); DNNsim needs the forward weight and "
                         "activation, export a trace recorded with the forward pass")
    if geometry.kind != "conv":
        return
    for field in ("stride", "padding"):
        h, w = getattr(geometry, f"{field}_h"), getattr(geometry, f"{field}_w")
        if h != w:
            raise TraceError(f"{where}: {field} {h}x{w} is not square; DNNsim's "
                             f"{PARAMS_FILE} has one {field} per layer, so this layer cannot "
                             "be exported (drop it or use a square one)")
    if (geometry.dilation_h, geometry.dilation_w) != (1, 1):
        raise TraceError(f"{where}: dilation {geometry.dilation_h}x{geometry.dilation_w} "
                         "is not 1; DNNsim has no dilated convolutions, so this layer cannot "
                         "be exported")


def _write_npy(path: Path, array: np.ndarray) -> None:
    """One float32 tensor as an ``.npy`` file (:func:`accelsim.fileio.atomic_write`)."""
    data = np.ascontiguousarray(array, dtype=np.float32)
    atomic_write(path, lambda fh: np.lib.format.write_array(fh, data, allow_pickle=False))


def _sibling(out: Path, tag: str) -> Path:
    return out.with_name(f".{out.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")


def _move_into_place(tmp: Path, out: Path) -> None:
    """Put the finished directory ``tmp`` at ``out``; an existing ``out`` is moved aside
    first and deleted only once the new one is in place (restored if that fails)."""
    if not os.path.lexists(out):
        os.replace(tmp, out)
        return
    old = _sibling(out, "old")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def _check_target(src: Path, out: Path, overwrite: bool) -> None:
    if os.path.lexists(out) and not out.is_dir():
        raise TraceError(f"dnnsim export: {out} exists and is not a directory; give a "
                         "directory path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TraceError(f"dnnsim export: {out} exists and is not empty; pass overwrite=True "
                         "(CLI: --force) to replace it, or choose another directory")
    if not out.parent.is_dir():
        raise TraceError(f"dnnsim export: directory {out.parent} does not exist; create it "
                         "first")
    if out.is_dir() and src.exists() and src.resolve().is_relative_to(out.resolve()):
        raise TraceError(f"dnnsim export: {out} holds the input trace {src}; replacing it "
                         "would delete the trace, export to another directory")


def _names(tr: Trace) -> tuple[list[str], list[tuple[str, str]]]:
    """The DNNsim name of every layer, and the (exported, original) pairs that differ."""
    names: list[str] = []
    renamed: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for entry in tr.layers:
        _check_exportable(entry.geometry, tuple(entry.passes))
        name = _exported_name(entry.geometry)
        if name in seen:
            raise TraceError(f"dnnsim export: layers {seen[name]!r} and "
                             f"{entry.geometry.name!r} both become {name!r} in DNNsim's "
                             "naming; rename one of them")
        seen[name] = entry.geometry.name
        names.append(name)
        if name != entry.geometry.name:
            renamed.append((name, entry.geometry.name))
    return names, renamed


def _write_layers(tr: Trace, names: list[str], renamed: list[tuple[str, str]], tmp: Path,
                  batch_file: int) -> None:
    """The tensors, ``trace_params.csv`` and (when needed) ``accelsim-names.csv`` in ``tmp``."""
    rows = []
    for entry, name in zip(tr.layers, names, strict=True):
        g = entry.geometry
        layer = tr.load_layer(entry.index)
        _write_npy(tmp / f"wgt-{name}.npy", layer.operand("forward", "weight"))
        _write_npy(tmp / f"act-{name}-{batch_file}.npy", layer.operand("forward", "activation"))
        if g.kind == "linear":
            rows.append(f"{name},{g.out_channels},1,1,1,0\n")
        else:
            rows.append(f"{name},{g.out_channels},{g.kernel_h},{g.kernel_w},"
                        f"{g.stride_h},{g.padding_h}\n")
    atomic_write(tmp / PARAMS_FILE, "".join(rows))
    if renamed:
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(NAMES_HEADER)
        writer.writerows(renamed)
        atomic_write(tmp / NAMES_FILE, buf.getvalue())


def export_dnnsim(trace: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                  batch_file: int = 0, overwrite: bool = False) -> Path:
    """Write the forward pass of an accelsim ``.trace`` file as a DNNsim trace directory.

    ``out_dir`` receives ``trace_params.csv`` (6-column form), ``wgt-NAME.npy`` and
    ``act-NAME-<batch_file>.npy`` per layer (float32, dense, as decoded from the trace)
    and, when a layer had to be renamed, ``accelsim-names.csv``.  The directory is built
    next to ``out_dir`` and moved into place only when complete; an existing non-empty
    ``out_dir`` is replaced only with ``overwrite=True`` (CLI: ``--force``), and only after
    the new one is complete.  On any error nothing is left behind and an existing
    ``out_dir`` is untouched.  Returns ``out_dir``.

    Raises :class:`TraceError` for layers DNNsim cannot express (non-square stride or
    padding, dilation != 1), layers without a forward pass, and name clashes.
    """
    check_batch_file(batch_file)
    src = Path(trace)
    out = Path(os.path.abspath(out_dir))
    _check_target(src, out, overwrite)
    with open_trace(src) as tr:
        names, renamed = _names(tr)
        tmp = _sibling(out, "tmp")
        try:
            os.mkdir(tmp)
            _write_layers(tr, names, renamed, tmp, batch_file)
            _move_into_place(tmp, out)
            fsync_dir(out.parent)
        except (OSError, WriteError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            cause = exc if isinstance(exc, OSError) else exc.__context__
            if isinstance(cause, OSError):      # name the export, not the file being built
                raise write_error(OSError(cause.errno, cause.strerror), out) from None
            raise WriteError(f"cannot write {out}: {exc}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out
