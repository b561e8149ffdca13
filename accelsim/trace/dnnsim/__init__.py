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

from accelsim.trace.dnnsim.exporter import export_dnnsim
from accelsim.trace.dnnsim.importer import import_dnnsim
from accelsim.trace.dnnsim.layout import NAMES_FILE, PARAMS_FILE, dnnsim_layer_type

__all__ = ["NAMES_FILE", "PARAMS_FILE", "dnnsim_layer_type", "export_dnnsim",
           "import_dnnsim"]
