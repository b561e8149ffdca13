"""Run the Triton kernels through triton's CPU interpreter unless a CUDA GPU is present.

``TRITON_INTERPRET`` must be set before triton is first imported, so it is decided here, when
pytest collects ``tests/gpu``: an explicit ``TRITON_INTERPRET`` wins (``benchmarks/gpu_check.py``
sets ``0`` to test the compiled kernels on the device); otherwise the interpreter is used when
torch sees no CUDA device.  No test here is skipped for lack of a GPU.
"""

from __future__ import annotations

import os

import pytest

if "TRITON_INTERPRET" not in os.environ:
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    os.environ["TRITON_INTERPRET"] = "0" if gpu else "1"


@pytest.fixture
def device() -> str:
    """Where the kernels' tensors live: ``cpu`` under the interpreter, else ``cuda``."""
    from accelsim.gpu.ops import default_device

    return default_device()
