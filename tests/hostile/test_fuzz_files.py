"""Fuzz: ONNX files and the score CSVs of `nas bench import` (issue 14).

ONNX: valid small models with byte-level damage, and well-formed protobufs that make no
sense (unknown ops, dangling inputs, odd shapes and attributes). Each is read by the
metadata scanner, the graph loader, the text encoder and `nas predict`: a result or one
clean error. Store CSVs: generated rows (bad paths, NaN/inf/out-of-range scores, unknown
metrics, odd columns, bad UTF-8) imported into a store that already holds a record;
every case imports cleanly or fails in one line, and the earlier record and its file
stay exactly as they were.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import onnx
import pytest
from fuzzing import fuzz_settings, mutated
from hostile_cli import assert_clean_cli, assert_clean_message, run_cli
from hypothesis import event, example, given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from bench.store import OnnxBenchStore
from nas.errors import NasError
from nas.onnx_file import read_metadata
from predictors.features import graph_features
from predictors.graph import load_graph
from predictors.text import onnx_to_text

pytestmark = pytest.mark.slow


def tiny_model(width: int = 4, score: str | None = "0.5") -> onnx.ModelProto:
    """x (N, 3) -> Gemm -> Relu: a valid model made without torch."""
    weight = numpy_helper.from_array(np.ones((width, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
         helper.make_node("Relu", ["h"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if score is not None:
        model.metadata_props.add(key="score", value=score)
    return model


BASE = tiny_model().SerializeToString()
OPS = ["Relu", "Gemm", "MatMul", "Conv", "Reshape", "Add", "Concat", "NoSuchOp", "If",
       "Softmax", "LSTM", ""]
ATTRS = st.sampled_from([{}, {"axis": -7}, {"kernel_shape": [0, 0]}, {"perm": [5, 5]},
                         {"alpha": float("nan")}, {"mode": "é"}, {"pads": [1] * 9}])
DIMS = st.sampled_from([1, 0, -1, 3, 2**40, "N", ""])


@st.composite
def nonsense_models(draw) -> bytes:
    """Well-formed protobufs whose graphs make no sense."""
    nodes = []
    names = ["x"]
    for i in range(draw(st.integers(0, 6))):
        inputs = draw(st.lists(st.sampled_from([*names, "missing", ""]), max_size=3))
        nodes.append(helper.make_node(draw(st.sampled_from(OPS)), inputs, [f"t{i}"],
                                      domain=draw(st.sampled_from(["", "", "com.other"])),
                                      **draw(ATTRS)))
        names.append(f"t{i}")
    shape = draw(st.lists(DIMS, max_size=4))
    graph = helper.make_graph(
        nodes, "nonsense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, None)])
    opset = draw(st.sampled_from([1, 18, 99]))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]
                             ).SerializeToString()


#: a damaged metadata entry (found by the fuzz suite: escaped as protobuf's DecodeError)
CORRUPT_METADATA = BASE.replace(b"r\x0c\n\x05score", b'r\x0c\n"\x05score') + b'"'

onnx_bytes = st.one_of(mutated(BASE, max_edits=3), nonsense_models(),
                       st.binary(max_size=64))


@fuzz_settings(300)
@given(data=onnx_bytes)
@example(data=CORRUPT_METADATA)
def test_fuzz_onnx_files(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(data)
    readers = {"metadata": read_metadata, "graph": lambda p: graph_features(load_graph(p)),
               "text": onnx_to_text}
    for name, read in readers.items():
        try:
            read(path)
            event(f"{name}: read")
        except NasError as exc:
            assert_clean_message(exc)
            event(f"{name}: clean error")


@fuzz_settings(60)
@given(data=onnx_bytes)
def test_fuzz_predict_command(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("predict") / "model.onnx"
    path.write_bytes(data)
    outcome = run_cli("predict", path, "--json")
    event(f"exit {outcome.code}")
    assert_clean_cli(outcome, allowed=(0, 2))


# --- nas bench import ------------------------------------------------------------------

SCORES = st.sampled_from(["0.7", "0.91", "0.2", "0.64", "", "nan", "inf", "-inf", "-1",
                          "1.5", "abc", "1e309", "0x10", " 0.8 ", "3"])
PATHS = st.sampled_from(["b.onnx", "b.onnx", "b.onnx", "c.onnx", "c.onnx", "missing.onnx",
                         "folder", "plain.txt", "", "../b.onnx", "/dev/null", "b.onnx\x00",
                         "B.ONNX"])
COLUMNS = ["path", "score", "metric", "task", "name", "higher_is_better", "test_score",
           "params", "epochs", "hparams", "surprise"]
VALUES = {"metric": st.sampled_from(["accuracy", "rmse", "", "weird", "ACCURACY"]),
          "task": st.sampled_from(["t", "u", "", "é", "a/b", ".."]),
          "name": st.sampled_from(["x", "", "a" * 200, "new\nline"]),
          "higher_is_better": st.sampled_from(["true", "false", "", "maybe", "1"]),
          "test_score": SCORES, "params": st.sampled_from(["10", "-3", "1.5", "", "x"]),
          "epochs": st.sampled_from(["1", "0", "-1", ""]),
          "hparams": st.sampled_from(["{}", '{"lr": 0.1}', "{", "[1]", ""]),
          "surprise": st.sampled_from(["", "1"]), "path": PATHS, "score": SCORES}


@st.composite
def score_csvs(draw) -> bytes:
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=4, unique=True))
    if draw(st.integers(0, 3)) and "path" not in columns:
        columns = ["path", "score", *[c for c in columns if c != "score"]]
    rows = [[draw(VALUES[c]) for c in columns] for _ in range(draw(st.integers(0, 4)))]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows(rows)
    edits = draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
    return draw(mutated(buf.getvalue().encode("utf-8"), max_edits=edits))


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """A store that already holds one record (model a, score 0.5 on task t)."""
    root = tmp_path_factory.mktemp("store")
    onnx.save(tiny_model(width=2), root / "a.onnx")
    onnx.save(tiny_model(width=5), root / "b.onnx")
    onnx.save(tiny_model(width=6, score=None), root / "c.onnx")
    (root / "folder").mkdir()
    (root / "plain.txt").write_text("not a model\n")
    (root / "seed.csv").write_text("path,score,metric,task\na.onnx,0.5,accuracy,t\n")
    store = OnnxBenchStore(root / "bench", create=True)
    store.import_scores(root / "seed.csv")
    (record,) = [r for _, r in store.records()]
    return root, record, (root / "bench" / record["onnx_path"]).read_bytes()


@fuzz_settings(200)
@given(data=score_csvs(), lower=st.booleans())
@example(data=b'"pat\nh",score\n', lower=False)  # a line break in a column name
def test_fuzz_bench_import_keeps_what_is_stored(seeded_store, data, lower):
    root, before, file_before = seeded_store
    (root / "scores.csv").write_bytes(data)
    args = ["bench", "import", root / "scores.csv", "--store", root / "bench"]
    outcome = run_cli(*args, *(["--lower-is-better"] if lower else []))
    event(f"exit {outcome.code}")
    assert_clean_cli(outcome, allowed=(0, 2))
    store = OnnxBenchStore(root / "bench")
    after = store.get(before["arch_id"], task="t", grammar=before["grammar"])
    assert after == before
    assert (root / "bench" / before["onnx_path"]).read_bytes() == file_before
    for _, record in store.records():  # nothing impossible got in
        score = record["val_score"]
        assert score is None or np.isfinite(score)
