"""The einspace module structures: sequential, branching and routing.

Their typing lives in the sampler/checker (:mod:`nas.derive`), their modules in
:mod:`nas.ops.modules.structure`. A branching node's children are ``branch_fn,
module_1 .. module_k, aggregation``; a routing node's are ``pre_routing, module,
post_routing``; a sequential node's are its modules in order.
"""

from __future__ import annotations

from nas.ops.registry import OpSpec, register


def _structural(*_):
    raise AssertionError("structures are typed by nas.derive, not by infer()")


register(OpSpec("sequential", "sequential", _structural, doc="modules applied in order"))
for _k in (2, 4, 8):
    register(OpSpec(f"branch{_k}", "branching", _structural,
                    doc=f"{_k} branches: branch_fn, {_k} modules, aggregation"))
register(OpSpec("routing", "routing", _structural,
                doc="pre-routing, module, post-routing (e.g. im2col, linear, col2im = conv)"))
