"""The sparse-training methods, one module per family, each a subclass of
:class:`training.sparsifier.Sparsifier` (which owns and applies the masks).

The registry's table (:mod:`training.catalog`) names each method's builder here; nothing in
this package is imported until a method is built.
"""
