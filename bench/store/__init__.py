"""The ONNX-Bench store: checked ONNX files with their scores, and an index table.

Public surface::

    from bench.store import OnnxBenchStore
    store = OnnxBenchStore("runs/bench", create=True)
    store.add(model_proto, record)          # one record (docs/SCHEMA.md columns)
    for model, record in store: ...         # or store.records() for (path, record)
    store.get(arch_id); store.to_dataframe(); store.stats()
    store.import_scores("scores.csv"); store.merge(["other/store"]); store.rebuild_index()
"""

from bench.store.merge import Duplicate, MergeReport
from bench.store.schema import COLUMNS, REQUIRED
from bench.store.store import OnnxBenchStore, RebuildReport

__all__ = ["COLUMNS", "Duplicate", "MergeReport", "OnnxBenchStore", "REQUIRED", "RebuildReport"]
