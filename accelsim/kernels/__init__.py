"""Numba kernels of the simulator, one module per kernel family, each paired with a plain
python reference that the tests compare it against.

* :mod:`~accelsim.kernels.scheduler` (reference :mod:`~accelsim.kernels.scheduler_ref`): the
  Bit-Tactical static T/L scheduler;
* :mod:`~accelsim.kernels.recoding`: fixed-point magnitudes, precisions and the TCLe term
  recoding of the bit-serial back ends (kernel and reference side by side);
* :mod:`~accelsim.kernels.serial` (reference :mod:`~accelsim.kernels.serial_ref`): the TCLp /
  TCLe cycle kernels;
* :mod:`~accelsim.kernels.scnn`: SCNN's Cartesian-product PE array (kernel and reference).

Only these modules import numba; the array models (:mod:`accelsim.arrays`) call them.
"""
