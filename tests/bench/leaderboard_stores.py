"""Real ONNX-Bench stores for the leaderboard tests, written by the store's own code.

The records carry the synthetic trials' fields (:func:`store_index`) and a small ONNX
graph each; the store checks every record, counts params and MACs from the graph and
writes its own index, as it does for a search.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from bench.store import COLUMNS, OnnxBenchStore
from nas.search.perf.synthetic_studies import store_index

#: fields the store computes itself (from the graph, or where it writes the file)
COMPUTED = ("params", "macs", "onnx_path")


def tiny_model() -> onnx.ModelProto:
    """A checked one-node ONNX graph (Identity on a 1x4 input)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def write_store(root: str | Path, trials: list, **index_options) -> Path:
    """A store at ``root`` holding one record per completed trial; returns ``root``."""
    store = OnnxBenchStore(root, create=True)
    model = tiny_model()
    for row in store_index(trials, **index_options).to_dict("records"):
        store.add(model, {k: v for k, v in row.items() if k in COLUMNS and k not in COMPUTED},
                  refresh_index=False)
    store.refresh_index()
    return Path(root)
