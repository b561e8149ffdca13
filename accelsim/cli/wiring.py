"""What the CLI hands to the torch-free core: functions that need the torch rooms.

The core never imports ``workloads`` (torch); a layer table that does not ship with the
package (a non-standard input size) is derived from the torch model by the function below,
which the CLI passes to the API as ``derive=``; the demo trains through ``trainer=``.  Their
imports of :mod:`workloads.tables` and :mod:`training` sit inside the functions, so that
commands on shipped tables and ``demo --synthetic`` never load torch.
"""

from __future__ import annotations

from typing import Any

from accelsim.errors import WorkloadError
from accelsim.spec.geometry import LayerGeometry


def derive_layer_table(inp: Any) -> tuple[LayerGeometry, ...]:
    """Layer table of ``inp`` (an :class:`accelsim.networks.catalog.ModelInput`) derived from
    the torch model on the meta device; needs torch."""
    try:
        from workloads.tables import model_layer_table
    except ImportError as exc:  # torch missing
        raise WorkloadError(f"layer table of {inp.model} at {inp.input_size}x{inp.input_size} "
                            f"must be derived from the torch model, and torch is not installed "
                            f"({exc}); pip install torch==2.13.0") from None
    return model_layer_table(inp)


def train_demo(run: Any, *, model: str, method: str, sparsity: float, epochs: int, seed: int,
               trace_every: int, trace_samples: int, progress: bool, log: Any) -> Any:
    """The ``trainer`` of :func:`accelsim.api.demo`: ``training.loop.train`` on the embedded
    digits set; needs torch."""
    from training.config import TrainConfig
    from training.loop import train

    config = TrainConfig(method=method, sparsity=sparsity, model=model, data="digits",
                         epochs=epochs, seed=seed, trace_every=trace_every,
                         trace_samples=trace_samples)
    return train(config, run, progress=progress, log=log)
