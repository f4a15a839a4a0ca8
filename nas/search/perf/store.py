"""Suite ``store``: ONNX-Bench store write/read throughput and index rebuild time.

10,000 records of a tiny one-Gemm ONNX model (1,000 with ``--quick``; the rows say how
many). Writes go through the full path (validation, checker, metadata, temp file +
rename, journal line) with ``refresh_index=False``, then one index refresh: first with
``durable=False`` (no fsync) for all records, then with fsync on for 1,000 more (200
quick), since fsync latency depends on the disk and is the cost that dominates. The
baseline is ``onnx.save_model`` of the same files with no metadata, fsync or index.
Reads: loading every record (model + metadata), listing records without opening files,
and ``to_dataframe``. Rebuild: index from the files alone (median of 3). Also the cost of
one ``add`` once the store is full, with a forced ``index.parquet`` rewrite and with the
default policy (rewrite when over 10 s old), medians of 5.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.store import OnnxBenchStore


def _tiny_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "w"], ["output"], transB=1)], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _record(i: int) -> dict:
    return {"arch_id": hashlib.sha256(str(i).encode()).hexdigest()[:12], "arch": f"arch{i}",
            "grammar": "einspace", "task": "digits", "metric": "accuracy",
            "val_score": (i % 1000) / 1000, "hparams": {"lr": 0.04}, "seed": i,
            "params": 12, "macs": 12}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool) -> list[dict]:
    """Rows: write/read records/s, index refresh, rebuild and per-add refresh times."""
    n = 1_000 if quick else 10_000
    n_durable = 200 if quick else 1_000
    note = f"{n:,} records" + (" (quick: full run uses 10,000)" if quick else "")
    model = _tiny_model()
    with tempfile.TemporaryDirectory(prefix="nas-perf-store-") as tmp:
        store = OnnxBenchStore(Path(tmp) / "store", create=True, durable=False)
        write_s = _timed(lambda: [store.add(model, _record(i), refresh_index=False)
                                  for i in range(n)])
        baseline_s = _timed(lambda: _plain_saves(model, Path(tmp) / "plain", n))
        refresh_s = _timed(store.refresh_index)
        durable = OnnxBenchStore(store.root)  # fsync on: same store, extra records
        durable_s = _timed(lambda: [durable.add(model, _record(n + i), refresh_index=False)
                                    for i in range(n_durable)])
        durable.refresh_index()
        total = n + n_durable
        reads = _read_figures(OnnxBenchStore(store.root))
        forced_ms = statistics.median(_timed(
            lambda i=i: durable.add(model, _record(total + i), refresh_index=True)) * 1000
            for i in range(5))
        default_ms = statistics.median(_timed(
            lambda i=i: durable.add(model, _record(total + 5 + i))) * 1000 for i in range(5))
    big = f"{total:,} records" + (" (quick)" if quick else "")
    return [
        {"figure": "write, durable (fsync file + dir)", "value": n_durable / durable_s,
         "unit": "records/s", "baseline": n / baseline_s,
         "baseline_is": "onnx.save_model, no metadata/fsync/index",
         "records": f"{n_durable:,} records"},
        {"figure": "write, durable=False (atomic, no fsync)", "value": n / write_s,
         "unit": "records/s", "baseline": n / baseline_s, "records": note},
        {"figure": "index refresh after the writes", "value": refresh_s, "unit": "s",
         "records": note},
        {"figure": "read: load every model + metadata", "value": total / reads["load"],
         "unit": "records/s", "records": big},
        {"figure": "read: list records (no file opened)", "value": total / reads["list"],
         "unit": "records/s", "records": big},
        {"figure": "to_dataframe", "value": reads["frame"], "unit": "s", "records": big},
        {"figure": "rebuild index from files", "value": reads["rebuild"], "unit": "s",
         "records": big},
        {"figure": "one add (durable) + forced index.parquet rewrite, store full",
         "value": forced_ms, "unit": "ms", "records": big},
        {"figure": "one add (durable), default policy (index.parquet every 10 s)",
         "value": default_ms, "unit": "ms", "records": big},
    ]


def _read_figures(store: OnnxBenchStore) -> dict[str, float]:
    """Median seconds of 3 repeats of each read path."""
    def median(fn) -> float:
        return statistics.median(_timed(fn) for _ in range(3))

    return {
        "load": median(lambda: sum(1 for _ in store)),
        "list": median(lambda: list(store.records())),
        "frame": median(store.to_dataframe),
        "rebuild": median(store.rebuild_index),
    }


def _plain_saves(model: onnx.ModelProto, directory: Path, n: int) -> None:
    directory.mkdir()
    for i in range(n):
        onnx.save_model(model, str(directory / f"{i}.onnx"))
