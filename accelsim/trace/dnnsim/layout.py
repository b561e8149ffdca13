"""DNNsim's directory layout: its file names, the layer type it infers from a name, the
batch-file number (see :mod:`accelsim.trace.dnnsim` for the format)."""

from __future__ import annotations

from accelsim.errors import TraceError

PARAMS_FILE = "trace_params.csv"
NAMES_FILE = "accelsim-names.csv"
NAMES_HEADER = ("exported_name", "original_name")

FC_MARKERS = ("fc", "inner_prod", "Linear")
#: substring -> harmless replacement (keeps DNNsim from inferring the wrong layer type)
DEFUSE_FC = {"fc": "f_c", "inner_prod": "inner-prod", "Linear": "Lin_ear"}
DEFUSE_OTHER = {"decoder": "dec_oder", "encoder": "enc_oder", "lstm": "l_stm"}

__all__ = ["DEFUSE_FC", "DEFUSE_OTHER", "FC_MARKERS", "NAMES_FILE", "NAMES_HEADER", "PARAMS_FILE",
           "check_batch_file", "dnnsim_layer_type"]


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


def check_batch_file(batch_file: int) -> None:
    if isinstance(batch_file, bool) or not isinstance(batch_file, int) or batch_file < 0:
        raise TraceError(f"dnnsim: batch_file must be an integer >= 0 (the BATCH in "
                         f"act-NAME-BATCH.npy), got {batch_file!r}")
