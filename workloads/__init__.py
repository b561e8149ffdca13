"""Workloads: the CNN zoo (torch) and the layer tables derived from it.

Both modules need torch.  The torch-free parts -- model and data-set names, the shipped layer
tables -- live in :mod:`accelsim.networks.catalog`; synthetic traces in
:mod:`accelsim.trace.synthetic`.
"""
