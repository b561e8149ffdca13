"""Proof that making ``[backend] linear_columns`` default to ``"steps"`` (DNNsim's
convention: a bit-serial linear layer's steps dealt round-robin to the columns) changes no
snapshot number but through this option: set back to ``"windows"``, every case gives the
snapshot committed before the change.

``python -m tests.snapshots.prove_linear_columns [--ref COMMIT]`` runs every snapshot case
with ``linear_columns = "windows"`` on every machine and compares with the snapshot files as
committed at ``COMMIT`` (default :data:`BASE`, main before the change), by the rules of
:mod:`tests.snapshots.prove_dnnsim_defaults` (the key itself dropped, digests renamed to
those of the machines without it).  Exit status 0 when the proof holds, 1 otherwise.
"""

from __future__ import annotations

import sys

from tests.snapshots.prove_dnnsim_defaults import main

BASE = "1d221eb"  # main before linear_columns existed
OPTIONS = {"backend.linear_columns": "windows"}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], OPTIONS, BASE))
