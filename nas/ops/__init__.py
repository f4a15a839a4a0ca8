"""The op registry and the ops of every grammar (einspace and the family spaces)."""

from nas.ops.registry import OpSpec, Shape, all_ops, get_op, is_registered, numel

__all__ = ["OpSpec", "Shape", "all_ops", "get_op", "is_registered", "numel"]
