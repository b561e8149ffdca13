"""Numba kernels of the simulator, one module per kernel family, each paired with a plain
python reference that the tests compare it against.

* :mod:`~accelsim.kernels.scheduler` (reference :mod:`~accelsim.kernels.scheduler_ref`): the
  Bit-Tactical static T/L scheduler;
* :mod:`~accelsim.kernels.recoding`: fixed-point magnitudes, precisions and the TCLe term
  recoding of the bit-serial back ends (plain numpy, nothing compiled; the term table and its
  rule-by-rule reference side by side);
* :mod:`~accelsim.kernels.serial` (reference :mod:`~accelsim.kernels.serial_ref`): the TCLp /
  TCLe cycle kernels;
* :mod:`~accelsim.kernels.scnn`: SCNN's Cartesian-product PE array (kernel and reference);
* :mod:`~accelsim.kernels.threads`: the kernels' thread count and the kept pool of threads
  that share their work.

Only these modules import numba; the array models (:mod:`accelsim.arrays`) call them.

Compile cache: every kernel is compiled once per signature and cached on disk.  Unless the
user set ``NUMBA_CACHE_DIR``, the cache lives in the user's cache directory
(``$XDG_CACHE_HOME/accelsim/numba``, else ``~/.cache/accelsim/numba``), so that it works for
read-only installs too; importing this package sets it before numba is first imported
(``accelsim warm`` fills it).
"""

from __future__ import annotations

import os


def cache_dir() -> str:
    """The compile cache directory of the kernels: ``NUMBA_CACHE_DIR`` if set, else
    ``$XDG_CACHE_HOME/accelsim/numba`` (``~/.cache/accelsim/numba``)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "accelsim", "numba")


os.environ["NUMBA_CACHE_DIR"] = cache_dir()
