"""Import a DNNsim trace directory as an inference-mode trace: parse ``trace_params.csv``
the way DNNsim does, check each layer's tensors against its row, write the trace."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import GeometryError, TraceError
from accelsim.spec.geometry import LayerGeometry, conv_output_size
from accelsim.trace.container import path_kind
from accelsim.trace.dnnsim.layout import (
    NAMES_FILE,
    NAMES_HEADER,
    PARAMS_FILE,
    check_batch_file,
    dnnsim_layer_type,
)
from accelsim.trace.schema import ENCODINGS, TraceMetadata
from accelsim.trace.writer import TraceWriter

__all__ = ["import_dnnsim"]


@dataclass(frozen=True)
class _Row:
    name: str
    lineno: int
    nn: int
    kx: int
    ky: int
    stride: int
    padding: int


_INT_FIELDS = ("Nn", "Kx", "Ky", "stride", "padding")


def _read_params(path: Path) -> list[_Row]:
    """Parse ``trace_params.csv`` the way DNNsim does (plain comma split, no quoting)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"dnnsim {path}: cannot read it ({exc}); it must be a UTF-8 text "
                         "file with one layer per row") from None
    rows: list[_Row] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        where = f"dnnsim {path} line {lineno}"
        words = line.split(",")
        if len(words) not in (6, 7):
            raise TraceError(f"{where}: {len(words)} columns, expected 6 "
                             "(name,Nn,Kx,Ky,stride,padding) or 7 "
                             "(name,input_layer,Nn,Kx,Ky,stride,padding); fix the row")
        name = words[0]
        if not name.strip():
            raise TraceError(f"{where}: the layer name is empty; give every row a name")
        numbers = words[-5:]
        values = []
        for field, word in zip(_INT_FIELDS, numbers, strict=True):
            try:
                value = int(word.strip())
            except ValueError:
                raise TraceError(f"{where} (layer {name!r}): {field} = {word!r} is not an "
                                 "integer; fix the row") from None
            minimum = 0 if field == "padding" else 1
            if value < minimum:
                raise TraceError(f"{where} (layer {name!r}): {field} = {value} must be >= "
                                 f"{minimum}; fix the row")
            values.append(value)
        kind = dnnsim_layer_type(name)
        if kind not in ("Convolution", "InnerProduct"):
            raise TraceError(f"{where}: DNNsim reads layer {name!r} as an {kind} layer (from "
                             "its name); accelsim imports only convolution and fully "
                             "connected layers, remove the row")
        if name in seen:
            raise TraceError(f"{where}: layer {name!r} appears twice; remove the duplicate")
        seen.add(name)
        rows.append(_Row(name, lineno, *values))
    if not rows:
        raise TraceError(f"dnnsim {path}: holds no layer rows; it needs one "
                         "name,Nn,Kx,Ky,stride,padding row per layer")
    return rows


def _read_names(path: Path) -> dict[str, str]:
    """``accelsim-names.csv`` -> {exported name: original name} ({} when absent)."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"dnnsim {path}: cannot read it ({exc}); delete it to keep "
                         "DNNsim's names") from None
    mapping: dict[str, str] = {}
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise TraceError(f"dnnsim {path}: not valid CSV ({exc}); delete it to keep DNNsim's "
                         "names") from None
    if not records or tuple(records[0]) != NAMES_HEADER:
        raise TraceError(f"dnnsim {path}: first row must be {','.join(NAMES_HEADER)}; fix it "
                         "or delete the file to keep DNNsim's names")
    for lineno, record in enumerate(records[1:], 2):
        if not record:
            continue
        if len(record) != 2 or not record[0] or not record[1]:
            raise TraceError(f"dnnsim {path} line {lineno}: expected "
                             "exported_name,original_name; fix the row or delete the file")
        if record[0] in mapping:
            raise TraceError(f"dnnsim {path} line {lineno}: {record[0]!r} is listed "
                             "twice; keep one row")
        mapping[record[0]] = record[1]
    return mapping


def _load_npy(path: Path, layer: str, what: str) -> np.ndarray:
    where = f"dnnsim {path} (layer {layer!r})"
    if not path.is_file():
        if path.exists():
            raise TraceError(f"{where}: the {what} file {path.name} is {path_kind(path)}, not "
                             "a .npy file")
        raise TraceError(f"{where}: the {what} file is missing; DNNsim expects it next to "
                         f"{PARAMS_FILE} (check the layer name and the batch_file number)")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as exc:  # MemoryError: absurd header
        raise TraceError(f"{where}: not a readable .npy file ({exc}); re-dump it with "
                         "numpy.save") from None
    if not isinstance(array, np.ndarray):
        if hasattr(array, "close"):
            array.close()
        raise TraceError(f"{where}: is an .npz archive, not an .npy array; save the single "
                         "tensor with numpy.save")
    if array.dtype.kind not in "fiu":
        raise TraceError(f"{where}: dtype {array.dtype} is not numeric; re-dump it as float32 "
                         "like DNNsim's traces")
    if array.size == 0:
        raise TraceError(f"{where}: the {what} is empty (shape {list(array.shape)}); re-dump it")
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.ascontiguousarray(array, dtype=np.float32)
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise TraceError(f"{where}: {bad} NaN/inf values in the {what} (or values too large "
                         "for float32); fix or re-dump the tensor from a healthy run")
    return array


def _linear_geometry(row: _Row, name: str, wgt: np.ndarray, act: np.ndarray, wfile: Path,
                     afile: Path) -> tuple[LayerGeometry, np.ndarray, np.ndarray]:
    """A fully connected row: its tensors checked (a 1x1-kernel weight and a 4-D activation
    are flattened); returns (geometry, weight, activation)."""
    rowref = f"{PARAMS_FILE} line {row.lineno}"
    if wgt.ndim == 4 and wgt.shape[2:] == (1, 1):
        wgt = wgt.reshape(wgt.shape[:2])
    if wgt.ndim != 2:
        raise TraceError(f"dnnsim {wfile} (layer {row.name!r}): weight has {wgt.ndim} "
                         f"dimensions {list(wgt.shape)}, expected 2 [out, in] for a fully "
                         "connected layer (its name contains fc/inner_prod/Linear); "
                         "rename the layer if it is a convolution")
    if act.ndim == 4:
        act = act.reshape(act.shape[0], -1)
    if act.ndim != 2:
        raise TraceError(f"dnnsim {afile} (layer {row.name!r}): activation has {act.ndim} "
                         f"dimensions {list(act.shape)}, expected 2 [batch, in] (or 4, "
                         "flattened) for a fully connected layer; re-dump it")
    if (row.kx, row.ky) != (1, 1):
        raise TraceError(f"dnnsim {rowref} (layer {row.name!r}): Kx, Ky = {row.kx}, "
                         f"{row.ky} but a fully connected layer has a 1x1 kernel; set "
                         "them to 1")
    if wgt.shape[0] != row.nn:
        raise TraceError(f"dnnsim {wfile} (layer {row.name!r}): weight has "
                         f"{wgt.shape[0]} outputs but {rowref} says Nn = {row.nn}; fix "
                         "the row or the file")
    if act.shape[1] != wgt.shape[1]:
        raise TraceError(f"dnnsim {afile} (layer {row.name!r}): activation has "
                         f"{act.shape[1]} features per sample (shape {list(act.shape)}) "
                         f"but the weight expects {wgt.shape[1]}; the files do not belong "
                         "together")
    try:
        geom = LayerGeometry(name=name, kind="linear", in_channels=int(wgt.shape[1]),
                             out_channels=int(wgt.shape[0]))
    except GeometryError as exc:  # pragma: no cover - shapes were checked above
        raise TraceError(f"dnnsim layer {row.name!r}: {exc}") from None
    return geom, wgt, act


def _conv_geometry(row: _Row, name: str, wgt: np.ndarray, act: np.ndarray, wfile: Path,
                   afile: Path) -> tuple[LayerGeometry, np.ndarray, np.ndarray]:
    """A convolution row: its tensors checked; returns (geometry, weight, activation)."""
    rowref = f"{PARAMS_FILE} line {row.lineno}"
    if wgt.ndim != 4:
        raise TraceError(f"dnnsim {wfile} (layer {row.name!r}): weight has {wgt.ndim} "
                         f"dimensions {list(wgt.shape)}, expected 4 [out, in, kx, ky] for a "
                         "convolution (DNNsim reads names without fc/inner_prod/Linear as "
                         "convolutions); rename the layer if it is fully connected")
    if act.ndim != 4:
        raise TraceError(f"dnnsim {afile} (layer {row.name!r}): activation has {act.ndim} "
                         f"dimensions {list(act.shape)}, expected 4 [batch, in, x, y] for a "
                         "convolution; re-dump it")
    out_ch, wgt_in, kx, ky = (int(v) for v in wgt.shape)
    _, act_in, h, w = (int(v) for v in act.shape)
    if out_ch != row.nn:
        raise TraceError(f"dnnsim {wfile} (layer {row.name!r}): weight has {out_ch} output "
                         f"channels but {rowref} says Nn = {row.nn}; fix the row or the file")
    if (kx, ky) != (row.kx, row.ky):
        raise TraceError(f"dnnsim {wfile} (layer {row.name!r}): kernel is {kx}x{ky} but "
                         f"{rowref} says Kx, Ky = {row.kx}, {row.ky}; fix the row or the file")
    if act_in % wgt_in:
        raise TraceError(f"dnnsim {afile} (layer {row.name!r}): activation has {act_in} "
                         f"channels, not a multiple of the weight's {wgt_in} input channels "
                         "per group; the files do not belong together")
    groups = act_in // wgt_in
    if out_ch % groups:
        raise TraceError(f"dnnsim {wfile} (layer {row.name!r}): {out_ch} output channels "
                         f"cannot be split into the {groups} groups implied by the "
                         f"activation's {act_in} channels; the files do not belong together")
    oh = conv_output_size(h, kx, row.stride, row.padding, 1)
    ow = conv_output_size(w, ky, row.stride, row.padding, 1)
    if oh < 1 or ow < 1:
        raise TraceError(f"dnnsim {afile} (layer {row.name!r}): a {kx}x{ky} kernel does not "
                         f"fit the {h}x{w} input with padding {row.padding}; fix {rowref} or "
                         "the files")
    try:
        geom = LayerGeometry(name=name, kind="conv", in_channels=act_in, out_channels=out_ch,
                             kernel_h=kx, kernel_w=ky, stride_h=row.stride,
                             stride_w=row.stride, padding_h=row.padding,
                             padding_w=row.padding, groups=groups, input_h=h, input_w=w,
                             output_h=oh, output_w=ow)
    except GeometryError as exc:  # pragma: no cover - shapes were checked above
        raise TraceError(f"dnnsim layer {row.name!r}: {exc}") from None
    return geom, wgt, act


def _geometry(row: _Row, name: str, wgt: np.ndarray, act: np.ndarray,
              wfile: Path, afile: Path) -> tuple[LayerGeometry, np.ndarray, np.ndarray]:
    """Check one layer's tensors against its row; returns (geometry, weight, activation)."""
    build = _linear_geometry if dnnsim_layer_type(row.name) == "InnerProduct" else _conv_geometry
    return build(row, name, wgt, act, wfile, afile)


def _read_directory(d: Path) -> tuple[list[_Row], list[str]]:
    """The rows of ``d``'s ``trace_params.csv`` and each row's final layer name."""
    if not d.exists():
        raise TraceError(f"dnnsim directory {d} does not exist; give the directory that holds "
                         f"{PARAMS_FILE} and the .npy files")
    if not d.is_dir():
        raise TraceError(f"dnnsim {d} is not a directory; give the directory that holds "
                         f"{PARAMS_FILE} and the .npy files")
    params = d / PARAMS_FILE
    if not params.is_file():
        raise TraceError(f"dnnsim directory {d} has no {PARAMS_FILE}; DNNsim keeps it in "
                         "models/<network>/, copy it next to the .npy files")
    rows = _read_params(params)
    renames = _read_names(d / NAMES_FILE)
    final = [renames.get(row.name, row.name) for row in rows]
    clash = {n for n in final if final.count(n) > 1}
    if clash:
        raise TraceError(f"dnnsim {d / NAMES_FILE}: restores several layers to the name "
                         f"{sorted(clash)[0]!r}; fix the file or delete it")
    return rows, final


def import_dnnsim(in_dir: str | os.PathLike[str], out_trace: str | os.PathLike[str], *,
                  model: str | None = None, dataset: str = "unknown", batch_file: int = 0,
                  encoding: str = "fixed16") -> Path:
    """Convert a DNNsim trace directory into an inference-mode accelsim trace.

    Reads ``trace_params.csv`` (6 or 7 columns), ``wgt-NAME.npy`` and
    ``act-NAME-<batch_file>.npy`` per row, derives each layer's :class:`LayerGeometry`
    (input channels and size from the activation, groups = activation channels / weight
    input channels, output size from the convolution formula; fully connected layers
    become ``kind="linear"``, a 4-D activation of one is flattened to ``[batch, C*H*W]``
    and an ``[out, in, 1, 1]`` weight is accepted as ``[out, in]``) and writes the forward
    pass to ``out_trace`` atomically.  The 7-column form's ``input_layer`` and the stride
    and padding of fully connected rows are ignored; rows DNNsim reads as LSTM, Encoder or
    Decoder layers are refused.  Names listed in ``accelsim-names.csv`` are restored.
    The trace's model is ``model`` or the directory name.  Returns the trace path.

    Every bad input raises :class:`TraceError` naming the file or layer and the fix.
    """
    check_batch_file(batch_file)
    if encoding not in ENCODINGS:
        raise TraceError(f"dnnsim import: unknown value encoding {encoding!r}; use one of "
                         f"{', '.join(ENCODINGS)}")
    d = Path(in_dir)
    rows, final = _read_directory(d)
    model_name = model or d.resolve().name or "dnnsim"

    writer: TraceWriter | None = None
    batch = 0
    try:
        for row, name in zip(rows, final, strict=True):
            wfile = d / f"wgt-{row.name}.npy"
            afile = d / f"act-{row.name}-{batch_file}.npy"
            wgt = _load_npy(wfile, row.name, "weight")
            act = _load_npy(afile, row.name, "activation")
            geom, wgt, act = _geometry(row, name, wgt, act, wfile, afile)
            if writer is None:
                batch = int(act.shape[0])
                metadata = TraceMetadata(
                    model=model_name, dataset=dataset, method="dnnsim-import",
                    mode="inference", batch_indices=tuple(range(batch)),
                    extra={"source": "dnnsim", "batch_file": batch_file})
                writer = TraceWriter(out_trace, metadata, encoding=encoding)
            elif act.shape[0] != batch:
                raise TraceError(f"dnnsim {afile} (layer {row.name!r}): batch of "
                                 f"{act.shape[0]} samples but the first layer has {batch}; "
                                 "all activations of one batch file must hold the same "
                                 "samples")
            writer.add_layer(geom, {"forward": {"weight": wgt, "activation": act}})
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    assert writer is not None  # rows is never empty
    return writer.close()
