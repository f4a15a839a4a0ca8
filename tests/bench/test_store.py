"""ONNX-Bench store: round trips, rebuilds, concurrent writers, kill -9, bad input, merge."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.store import COLUMNS, OnnxBenchStore
from bench.store.index import JOURNAL_DIR, SNAPSHOT
from nas.errors import StoreError
from nas.export import read_metadata

REPO = Path(__file__).resolve().parents[2]
ONNX_TEST_MODELS = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def tiny_model(n_in: int = 4, n_out: int = 3, seed: int = 0) -> onnx.ModelProto:
    """A one-Gemm ONNX model with a dynamic batch axis (made without torch, fast)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((n_out, n_in)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(n_out, np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "w", "b"], ["output"], transB=1)], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_out])],
        [w, b],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def make_record(name: str, **fields) -> dict:
    """A valid record for architecture ``name`` (arch_id = sha256 of the name)."""
    return {
        "arch_id": hashlib.sha256(name.encode()).hexdigest()[:12], "arch": f"linear({name})",
        "grammar": "einspace", "task": "digits", "metric": "accuracy", "val_score": 0.5,
        "test_score": 0.4, "hparams": {"lr": 0.04, "batch_size": 64}, "seed": 1,
        "epochs": 3, "train_seconds": 1.5, "strategy": "random", **fields,
    }


@pytest.fixture
def store(tmp_path) -> OnnxBenchStore:
    return OnnxBenchStore(tmp_path / "store", create=True)


def _onnx_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*.onnx"))


# --- round trip -------------------------------------------------------------------


def test_write_reopen_read_back_identical(store):
    written = [store.add(tiny_model(seed=i), make_record(f"a{i}", val_score=0.1 * i + 0.05))
               for i in range(3)]
    reopened = OnnxBenchStore(store.root)
    for record in written:
        assert reopened.get(record["arch_id"]) == record
        path = reopened.path(record["arch_id"])
        assert path == store.root / "einspace" / "digits" / f"{record['arch_id']}.onnx"
        meta = read_metadata(path)
        assert list(meta)[0] == "score" and float(meta["score"]) == record["val_score"]
        assert json.loads(meta["hparams"]) == record["hparams"] == {"lr": 0.04, "batch_size": 64}
    given = make_record("a1", val_score=0.1 * 1 + 0.05)
    assert {k: written[1][k] for k in given} == given
    assert written[0]["params"] == 15 and written[0]["macs"] == 12 and written[0]["opset"] == 18
    assert written[0]["source"] == "nas" and written[0]["created_at"].endswith("+00:00")


def test_iteration_dataframe_and_parquet_index(store):
    for i in range(4):
        store.add(tiny_model(seed=i), make_record(f"b{i}"))
    pairs = list(OnnxBenchStore(store.root))
    assert len(pairs) == 4
    assert all(isinstance(m, onnx.ModelProto) and m.metadata_props[0].key == "score"
               for m, _ in pairs)
    frame = store.to_dataframe()
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 4
    store.refresh_index()
    on_disk = pd.read_parquet(store.root / SNAPSHOT)
    assert list(on_disk.columns) == list(COLUMNS) and len(on_disk) == 4
    assert json.loads(frame.loc[0, "hparams"]) == {"batch_size": 64, "lr": 0.04}
    assert {p.name for p, _ in store.records()} == {f"{m}.onnx" for m in frame["arch_id"]}


def test_parquet_index_refresh_policy(store):
    def parquet_rows():
        return len(pd.read_parquet(store.root / SNAPSHOT))

    store.index_interval_s = 3600
    store.add(tiny_model(), make_record("r0"))  # no index yet: written
    store.add(tiny_model(), make_record("r1"))  # index is fresh: not rewritten
    assert parquet_rows() == 1 and len(store.to_dataframe()) == 2  # readers see both
    store.add(tiny_model(), make_record("r2"), refresh_index=True)
    assert parquet_rows() == 3
    store.index_interval_s = 0
    store.add(tiny_model(), make_record("r3"))
    store.add(tiny_model(), make_record("r4"), refresh_index=False)
    assert parquet_rows() == 4 and len(OnnxBenchStore(store.root)) == 5


def test_same_key_written_twice_keeps_the_last(store):
    store.add(tiny_model(), make_record("c", val_score=0.1))
    store.add(tiny_model(), make_record("c", val_score=0.9), refresh_index=False)
    reopened = OnnxBenchStore(store.root)
    assert len(reopened) == 1 and reopened.get(make_record("c")["arch_id"])["val_score"] == 0.9


def test_rebuild_index_from_files_alone(store):
    written = [store.add(tiny_model(seed=i), make_record(f"d{i}")) for i in range(5)]
    (store.root / SNAPSHOT).unlink()
    for journal in (store.root / JOURNAL_DIR).iterdir():
        journal.unlink()
    report = OnnxBenchStore(store.root).rebuild_index()
    assert report.records == 5 and report.corrupt == ()
    reopened = OnnxBenchStore(store.root)
    assert sorted(reopened.to_dataframe()["arch_id"]) == sorted(r["arch_id"] for r in written)
    assert all(reopened.get(r["arch_id"]) == r for r in written)


def test_corrupt_snapshot_and_torn_journal_line_lose_nothing(store):
    for i in range(3):
        store.add(tiny_model(seed=i), make_record(f"e{i}"))
    (store.root / SNAPSHOT).write_bytes(b"garbage, not parquet")
    journal = next((store.root / JOURNAL_DIR).iterdir())
    with open(journal, "ab") as fh:
        fh.write(b'{"arch_id": "0123456789ab", "onnx_pa')  # a writer died mid-line
    reopened = OnnxBenchStore(store.root)
    assert len(reopened) == 3 and reopened.state().snapshot == "corrupt"
    assert reopened.refresh_index() and len(pd.read_parquet(store.root / SNAPSHOT)) == 3


def test_file_without_index_row_is_picked_up(store, tmp_path):
    store.add(tiny_model(), make_record("f0"))
    other = OnnxBenchStore(tmp_path / "other", create=True)
    extra = other.add(tiny_model(seed=5), make_record("f1"), refresh_index=False)
    target = store.root / extra["onnx_path"]
    target.write_bytes((other.root / extra["onnx_path"]).read_bytes())  # no journal line
    assert OnnxBenchStore(store.root).get(extra["arch_id"]) == extra


# --- many writers, kill -9 ----------------------------------------------------------

WRITER = """
import sys
sys.path[:0] = [{repo!r}, {tests!r}]
from test_store import make_record, tiny_model
from bench.store import OnnxBenchStore
root, tag, n, width = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
store = OnnxBenchStore(root)
model = tiny_model(n_in=width)
for i in range(n):
    store.add(model, make_record(f"{{tag}}-{{i}}"), refresh_index=i % 7 == 0)
    print(i, flush=True)
"""


def _writer(root: Path, tag: str, n: int, width: int = 4) -> subprocess.Popen:
    code = WRITER.format(repo=str(REPO), tests=str(Path(__file__).parent))
    return subprocess.Popen([sys.executable, "-c", code, str(root), tag, str(n), str(width)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_consistent(root: Path) -> OnnxBenchStore:
    """Every row has a complete, valid file and every file has a row."""
    reopened = OnnxBenchStore(root)
    rows = reopened.to_dataframe()
    files = _onnx_files(root)
    assert sorted(rows["onnx_path"]) == sorted(str(p.relative_to(root)) for p in files)
    for model, record in reopened:
        onnx.checker.check_model(model)
        assert model.metadata_props[0].key == "score"
        assert read_metadata(model)["arch_id"] == record["arch_id"]
    assert reopened.stats()["corrupt_files"] == []
    return reopened


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(store):
    writers = [_writer(store.root, tag, 40) for tag in ("p", "q")]
    for proc in writers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    reopened = _assert_consistent(store.root)
    assert len(reopened) == 80
    reopened.refresh_index()
    assert len(pd.read_parquet(store.root / SNAPSHOT)) == 80
    assert len(list((store.root / JOURNAL_DIR).glob("*.jsonl"))) == 2


@pytest.mark.slow
def test_sigkill_during_writes_leaves_a_readable_consistent_store(store):
    written = 0
    for attempt, delay in enumerate((0.05, 0.13, 0.31)):
        proc = _writer(store.root, f"k{attempt}", 10_000, width=50_000)  # ~200 kB files
        proc.stdout.readline()  # the writer is in its write loop
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        reopened = _assert_consistent(store.root)
        assert len(reopened) > written  # earlier records are all still there
        written = len(reopened)
    assert OnnxBenchStore(store.root).rebuild_index().records == written


# --- bad input ------------------------------------------------------------------------


def test_missing_or_foreign_directory_says_how_to_create(tmp_path):
    with pytest.raises(StoreError, match=r"no ONNX-Bench store .*create=True"):
        OnnxBenchStore(tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not an ONNX-Bench store"):
        OnnxBenchStore(tmp_path / "plain")
    assert not (tmp_path / "absent").exists()


def test_unknown_arch_id_names_close_ids(store):
    record = store.add(tiny_model(), make_record("g"))
    near = record["arch_id"][:-1] + ("0" if record["arch_id"][-1] != "0" else "1")
    with pytest.raises(StoreError, match=f"did you mean {record['arch_id']}"):
        store.get(near)
    assert store.get(record["arch_id"][:6]) == record  # unique prefix


@pytest.mark.parametrize("change, message", [
    ({"val_score": None}, "missing required field.*val_score"),
    ({"colour": "red"}, "unknown record field.*colour"),
    ({"arch_id": "XYZ"}, "12 lowercase hex"),
    ({"params": "many"}, "'params' must be int"),
    ({"hparams": [1, 2]}, "'hparams' must be dict"),
])
def test_bad_records_are_refused(store, change, message):
    record = {k: v for k, v in make_record("h", **change).items() if k != "colour" or change}
    with pytest.raises(StoreError, match=message):
        store.add(tiny_model(), record)
    assert _onnx_files(store.root) == []


def test_invalid_model_is_refused(store):
    broken = tiny_model()
    broken.graph.node[0].input[1] = "no_such_tensor"
    with pytest.raises(StoreError, match="onnx.checker"):
        store.add(broken, make_record("i"))


def test_truncated_file_in_store_is_a_clear_error(store):
    record = store.add(tiny_model(n_in=500), make_record("j"))
    path = store.path(record["arch_id"])
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(StoreError, match="truncated"):
        store.load(record["arch_id"])
    assert OnnxBenchStore(store.root).rebuild_index().corrupt == (record["onnx_path"],)


# --- foreign import -----------------------------------------------------------------


def _scores_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_import_foreign_onnx_models(store, tmp_path):
    alexnet = ONNX_TEST_MODELS / "light_bvlc_alexnet.onnx"
    squeeze = ONNX_TEST_MODELS / "light_squeezenet.onnx"
    csv_path = _scores_csv(tmp_path / "scores.csv", [
        {"path": str(alexnet), "score": "0.571", "task": "imagenet", "name": "alexnet"},
        {"path": str(squeeze), "score": "0.575", "task": "imagenet", "name": ""},
    ])
    report = store.import_scores(csv_path)
    records = report.records
    assert (report.new, report.updated, report.unchanged) == (2, (), 0)
    assert [r["arch"] for r in records] == ["alexnet", "light_squeezenet"]
    first = records[0]
    assert first["grammar"] == "foreign" and first["source"] == "import"
    assert first["arch_id"] == hashlib.sha256(alexnet.read_bytes()).hexdigest()[:12]
    assert first["metric"] == "accuracy" and first["higher_is_better"] is True
    assert first["macs"] > 600_000_000  # AlexNet: ~0.65-0.72 GMACs per image
    copied = store.path(first["arch_id"])
    assert copied.parent == store.root / "foreign" / "imagenet"
    assert onnx.load(str(copied)).metadata_props[0].value == "0.571"
    again = store.import_scores(csv_path)  # idempotent: nothing rewritten
    assert (again.new, again.updated, again.unchanged) == (0, (), 2)
    assert OnnxBenchStore(store.root).get(first["arch_id"]) == first
    assert len(OnnxBenchStore(store.root)) == 2


def test_import_refuses_truncated_file_and_missing_score(store, tmp_path):
    good = ONNX_TEST_MODELS / "light_bvlc_alexnet.onnx"
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good.read_bytes()[:1500])
    bad = _scores_csv(tmp_path / "a.csv", [{"path": str(good), "score": "0.5"},
                                           {"path": "cut.onnx", "score": "0.5"}])
    with pytest.raises(StoreError, match=r"a\.csv:3: .*cut\.onnx"):
        store.import_scores(bad)
    no_score = _scores_csv(tmp_path / "b.csv", [{"path": str(good), "score": ""}])
    with pytest.raises(StoreError, match="no score"):
        store.import_scores(no_score)
    no_path = _scores_csv(tmp_path / "c.csv", [{"file": str(good), "score": "1"}])
    with pytest.raises(StoreError, match="needs a 'path' column"):
        store.import_scores(no_path)
    assert len(OnnxBenchStore(store.root)) == 0  # nothing half-imported


# --- merge ----------------------------------------------------------------------------


def _machine_stores(tmp_path):
    a = OnnxBenchStore(tmp_path / "a", create=True)
    b = OnnxBenchStore(tmp_path / "b", create=True)
    a.add(tiny_model(seed=1), make_record("m1", created_at="2025-01-01T00:00:00+00:00"))
    a.add(tiny_model(seed=2), make_record("m2", val_score=0.3,
                                          created_at="2025-01-02T00:00:00+00:00"))
    b.add(tiny_model(seed=2), make_record("m2", val_score=0.9,
                                          created_at="2025-01-03T00:00:00+00:00"))
    b.add(tiny_model(seed=3), make_record("m3", created_at="2025-01-04T00:00:00+00:00"))
    shared = make_record("m4", created_at="2025-01-05T00:00:00+00:00", params=15, macs=12)
    for s in (a, b):
        s.add(tiny_model(seed=4), dict(shared, platform_version="0.1.0"))
    return a, b


def _contents(store: OnnxBenchStore) -> dict[str, str]:
    return {str(p.relative_to(store.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in _onnx_files(store.root)}


def test_merge_is_deterministic_and_reports_duplicates(tmp_path):
    a, b = _machine_stores(tmp_path)
    ab = OnnxBenchStore(tmp_path / "ab", create=True)
    report = ab.merge([a.root, b.root])
    ba = OnnxBenchStore(tmp_path / "ba", create=True)
    ba.merge([b.root, a.root])
    assert _contents(ab) == _contents(ba) and len(_contents(ab)) == 4
    assert report.added == 4 and report.replaced == 0
    by_key = {d.key: d for d in report.duplicates}
    m2 = make_record("m2")
    keys = {f"einspace/digits/{make_record(n)['arch_id']}.onnx" for n in ("m2", "m4")}
    assert set(by_key) == keys
    assert by_key[f"einspace/digits/{m2['arch_id']}.onnx"].kept == str(a.root)
    assert OnnxBenchStore(ab.root).get(m2["arch_id"])["val_score"] == 0.3  # earliest kept
    assert by_key[f"einspace/digits/{make_record('m4')['arch_id']}.onnx"].identical
    _assert_consistent(ab.root)


def test_merge_into_an_existing_store_and_into_itself(tmp_path):
    a, b = _machine_stores(tmp_path)
    report = b.merge([a.root])  # b's m2 is later than a's: a's replaces it
    assert report.replaced == 1 and report.added == 1
    assert OnnxBenchStore(b.root).get(make_record("m2")["arch_id"])["val_score"] == 0.3
    with pytest.raises(StoreError, match="into itself"):
        a.merge([a.root])
    with pytest.raises(StoreError, match="no ONNX-Bench store"):
        a.merge([tmp_path / "absent"])


# --- CLI --------------------------------------------------------------------------------


def test_cli_bench_commands(tmp_path, capsys):
    from nas.cli import run_app

    root = tmp_path / "cli-store"
    alexnet = ONNX_TEST_MODELS / "light_bvlc_alexnet.onnx"
    csv_path = _scores_csv(tmp_path / "s.csv", [{"path": str(alexnet), "score": "0.57"}])
    assert run_app(["bench", "ls", "--store", str(root)]) == 2
    assert "no ONNX-Bench store" in capsys.readouterr().err
    assert run_app(["bench", "import", str(csv_path), "--store", str(root)]) == 0
    assert run_app(["bench", "ls", "--store", str(root)]) == 0
    arch_id = hashlib.sha256(alexnet.read_bytes()).hexdigest()[:12]
    assert arch_id in capsys.readouterr().out
    assert run_app(["bench", "show", arch_id[:8], "--store", str(root), "--no-text"]) == 0
    assert "score = 0.57" in capsys.readouterr().out
    assert run_app(["bench", "stats", "--store", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 1
    assert run_app(["bench", "merge", str(root), "--store", str(tmp_path / "merged")]) == 0
    assert "added 1" in capsys.readouterr().out
    assert run_app(["bench", "show", "ffffffffffff", "--store", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no record") and len(err.strip().splitlines()) == 1
    assert run_app(["bench", "rebuild", "--store", str(root)]) == 0
    assert os.path.exists(root / SNAPSHOT)
