"""Import and export of the trace layout of the public DNNsim simulator (isakedo/DNNsim).

DNNsim (which models Bit-Tactical, Bit-Pragmatic, SCNN ...) reads a network from one
directory holding:

``trace_params.csv``
    one row per layer, no header, either ``name,Nn,Kx,Ky,stride,padding`` (6 columns)
    or ``name,input_layer,Nn,Kx,Ky,stride,padding`` (7 columns); ``Nn`` is the number of
    output channels, stride and padding are one value for both axes.  DNNsim infers the
    layer type from the name (case-sensitive substrings, in this order): ``decoder`` ->
    Decoder, ``encoder`` -> Encoder, ``fc`` / ``inner_prod`` / ``Linear`` -> fully
    connected, ``lstm`` -> LSTM, anything else -> convolution.
``wgt-NAME.npy``
    float32 weights, ``[out, in/groups, kx, ky]`` (conv) or ``[out, in]`` (fc).
``act-NAME-BATCH.npy``
    float32 input activations, ``[batch, in, x, y]`` (conv) or ``[batch, in]`` (fc);
    ``BATCH`` is the number of the batch file (0 by default).

Axis order: DNNsim's own traces were dumped from PyTorch/Caffe tensors without any
transposition, so DNNsim's axis 2 ("x", ``Kx``) is our H axis and axis 3 ("y", ``Ky``) is
our W axis.  Tensors are therefore copied as they are, **never transposed**, in both
directions (``kernel_h = Kx``, ``kernel_w = Ky``, ``input_h = act.shape[2]``).

DNNsim has one stride and one padding per layer and no dilation, so :func:`export_dnnsim`
refuses layers with non-square stride or padding or with dilation != 1.  Kernels may be
non-square: the CSV has separate ``Kx`` and ``Ky`` columns and DNNsim takes both from the
weight's shape.  Groups are implicit in DNNsim (``act channels / weight in-channels``);
note that DNNsim's own simulators handle only dense, two-group (AlexNet) and depthwise
convolutions correctly.

Names: DNNsim replaces ``/`` by ``-``.  The export also makes names carry the layer type
DNNsim infers from them: a linear layer whose name lacks ``fc``/``inner_prod``/``Linear``
is exported as ``fc-<name>``; in a convolution's name those substrings are defused
(``fc`` -> ``f_c``, ``inner_prod`` -> ``inner-prod``, ``Linear`` -> ``Lin_ear``); in every
name ``encoder``/``decoder``/``lstm`` are defused the same way, and ``,`` and line breaks
become ``_``.  Renamed layers are listed in ``accelsim-names.csv``
(``exported_name,original_name``, a file DNNsim ignores) so that :func:`import_dnnsim`
restores the original names.

Only the forward pass travels: DNNsim's inference traces hold no gradients.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import GeometryError, TraceError
from accelsim.spec.geometry import LayerGeometry, conv_output_size
from accelsim.trace.container import path_kind
from accelsim.trace.reader import open_trace
from accelsim.trace.schema import ENCODINGS, TraceMetadata
from accelsim.trace.writer import TraceWriter, _fsync_dir

PARAMS_FILE = "trace_params.csv"
NAMES_FILE = "accelsim-names.csv"
NAMES_HEADER = ("exported_name", "original_name")

FC_MARKERS = ("fc", "inner_prod", "Linear")
#: substring -> harmless replacement (keeps DNNsim from inferring the wrong layer type)
_DEFUSE_FC = {"fc": "f_c", "inner_prod": "inner-prod", "Linear": "Lin_ear"}
_DEFUSE_OTHER = {"decoder": "dec_oder", "encoder": "enc_oder", "lstm": "l_stm"}

__all__ = ["NAMES_FILE", "PARAMS_FILE", "dnnsim_layer_type", "export_dnnsim",
           "import_dnnsim"]


def dnnsim_layer_type(name: str) -> str:
    """The layer type DNNsim infers from a ``trace_params.csv`` name (its own rule):
    ``"Decoder"``, ``"Encoder"``, ``"InnerProduct"``, ``"LSTM"`` or ``"Convolution"``."""
    if "decoder" in name:
        return "Decoder"
    if "encoder" in name:
        return "Encoder"
    if any(marker in name for marker in FC_MARKERS):
        return "InnerProduct"
    if "lstm" in name:
        return "LSTM"
    return "Convolution"


def _check_batch_file(batch_file: int) -> None:
    if isinstance(batch_file, bool) or not isinstance(batch_file, int) or batch_file < 0:
        raise TraceError(f"dnnsim: batch_file must be an integer >= 0 (the BATCH in "
                         f"act-NAME-BATCH.npy), got {batch_file!r}")


# ==== export ==============================================================================
def _exported_name(geometry: LayerGeometry) -> str:
    name = geometry.name.replace("/", "-")
    for bad in (",", "\r", "\n"):
        name = name.replace(bad, "_")
    for word, harmless in _DEFUSE_OTHER.items():
        name = name.replace(word, harmless)
    if geometry.kind == "conv":
        for word, harmless in _DEFUSE_FC.items():
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


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, np.ascontiguousarray(array, dtype=np.float32),
                                  allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


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
    _check_batch_file(batch_file)
    src = Path(trace)
    out = Path(os.path.abspath(out_dir))
    if os.path.lexists(out) and not out.is_dir():
        raise TraceError(f"dnnsim export: {out} exists and is not a directory; give a "
                         "directory path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TraceError(f"dnnsim export: {out} exists and is not empty; pass overwrite=True "
                         "(CLI: --force) to replace it, or choose another directory")
    parent = out.parent
    if not parent.is_dir():
        raise TraceError(f"dnnsim export: directory {parent} does not exist; create it first")
    if out.is_dir() and src.exists() and src.resolve().is_relative_to(out.resolve()):
        raise TraceError(f"dnnsim export: {out} holds the input trace {src}; replacing it "
                         "would delete the trace, export to another directory")

    with open_trace(src) as tr:
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

        tmp = _sibling(out, "tmp")
        try:
            os.mkdir(tmp)
            rows = []
            for entry, name in zip(tr.layers, names, strict=True):
                g = entry.geometry
                layer = tr.load_layer(entry.index)
                _write_npy(tmp / f"wgt-{name}.npy", layer.operand("forward", "weight"))
                _write_npy(tmp / f"act-{name}-{batch_file}.npy",
                           layer.operand("forward", "activation"))
                if g.kind == "linear":
                    rows.append(f"{name},{g.out_channels},1,1,1,0\n")
                else:
                    rows.append(f"{name},{g.out_channels},{g.kernel_h},{g.kernel_w},"
                                f"{g.stride_h},{g.padding_h}\n")
            _write_file(tmp / PARAMS_FILE, "".join(rows).encode("utf-8"))
            if renamed:
                buf = io.StringIO(newline="")
                writer = csv.writer(buf, lineterminator="\n")
                writer.writerow(NAMES_HEADER)
                writer.writerows(renamed)
                _write_file(tmp / NAMES_FILE, buf.getvalue().encode("utf-8"))
            _fsync_dir(tmp)
            _move_into_place(tmp, out)
            _fsync_dir(parent)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TraceError(f"dnnsim export to {out}: cannot write ({exc}); check the free "
                             "space and permissions of the directory") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


# ==== import ==============================================================================
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


def _geometry(row: _Row, name: str, wgt: np.ndarray, act: np.ndarray,
              wfile: Path, afile: Path) -> tuple[LayerGeometry, np.ndarray, np.ndarray]:
    """Check one layer's tensors against its row; returns (geometry, weight, activation)."""
    rowref = f"{PARAMS_FILE} line {row.lineno}"
    if dnnsim_layer_type(row.name) == "InnerProduct":
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
    _check_batch_file(batch_file)
    if encoding not in ENCODINGS:
        raise TraceError(f"dnnsim import: unknown value encoding {encoding!r}; use one of "
                         f"{', '.join(ENCODINGS)}")
    d = Path(in_dir)
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
