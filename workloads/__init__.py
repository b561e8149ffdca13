"""Workloads: the CNN zoo (torch), layer tables derived from it, data-set specs and
synthetic traces.

Importing ``workloads`` does not import torch: ``workloads.catalog`` (names, shapes, cached
layer tables) and ``workloads.synthetic`` are numpy-only, so the simulator can use them;
``workloads.models`` and ``workloads.tables`` need torch.
"""
