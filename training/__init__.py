"""Sparse training that writes accelsim traces (uses torch; accelsim itself never does)."""
