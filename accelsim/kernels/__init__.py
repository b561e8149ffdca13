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
  that share their work;
* :mod:`~accelsim.kernels.ahead` (with the argument types of
  :mod:`~accelsim.kernels.signatures`): compiling the kernels a machine declares before its
  first call, those missing from the cache shared among forked processes.

Only these modules import numba (:mod:`~accelsim.kernels.ahead` does not, so that the
simulator's import loads none); the array models (:mod:`accelsim.arrays`) call them.

Compile time (the first call of a fresh install compiles what it uses): a machine compiles
only the entry kernels of its own path -- one per fill rule (scheduler) or per back end mode
(bit-serial; the window schedule's cost kernel also per ``skip_zero_weights``), built from one
source by a small factory whose arguments are constants of the compiled code, so the other
rule's or mode's branches are pruned before anything is compiled for them; both bit-serial
schedules share one column recurrence kernel -- and each of them once: the python wrappers
normalise the arguments (dtypes, C order, writable) to one specialisation, allocate outputs
and scratch (except where the hot loop needs arrays of its own to vectorise), and do the small
work around the loops in numpy (argument checks, the chain order, the CSR slot lists, the TCLe
term counts). Helpers are ``inline="always"`` leaves, never compiled on their own (a call from
python, as in the tests, compiles one for itself). TCLe on a 3x3 conv compiles four kernels
(the scheduler's flexible fill, the window costs, the filter costs, the recurrence). What
makes a kernel cheap to compile: few inlined call sites (numba copies a helper's IR into every
one), no allocation of a new dtype or shape kind (each is an overload compiled on its own),
few loops for LLVM to vectorise.

Compile cache: every kernel is compiled once per signature and cached on disk.  Unless the
user set ``NUMBA_CACHE_DIR``, the cache lives in the user's cache directory
(``$XDG_CACHE_HOME/accelsim/numba``, else ``~/.cache/accelsim/numba``), so that it works for
read-only installs too; importing this package sets it before numba is first imported
(``accelsim warm`` fills it).  With an empty cache the kernels a layer's machines declare
(:meth:`accelsim.arrays.base.ArrayModel.kernels`) are compiled before its passes run, shared
among up to the kernel threads' count of processes (:func:`accelsim.kernels.ahead.
compile_ahead`: numba compiles one kernel at a time per process; the README's speed table
gives the first call with an empty cache against the warm one).
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
