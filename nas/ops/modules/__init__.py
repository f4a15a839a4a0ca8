"""The ``nn.Module`` side of the op registry: one file per spec module of :mod:`nas.ops`.

Each file defines the modules and a ``BUILD`` table, op name ->
``(x, args, ctx, out) -> nn.Module``, which the registry's :class:`~nas.ops.registry.LazyBuild`
imports on the first build. Only building a model imports torch; grammars, sampling and
checking do not (issue 16).
"""
