"""What the store guarantees (issue 14): no impossible score gets in, an import says
what it did, index.parquet is complete when no writer runs, and no JSON output of the
platform holds NaN or Infinity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from test_store import ONNX_TEST_MODELS, _scores_csv, _writer, make_record, tiny_model

from bench.store import OnnxBenchStore
from bench.store.index import JOURNAL_DIR, SNAPSHOT
from nas.cli import run_app
from nas.errors import StoreError
from nas.json_text import dumps, finite_or_none

ALEXNET = ONNX_TEST_MODELS / "light_bvlc_alexnet.onnx"
SQUEEZE = ONNX_TEST_MODELS / "light_squeezenet.onnx"
RESNET = ONNX_TEST_MODELS / "light_resnet50.onnx"


def strict_json(text: str):
    """Parse as RFC 8259 JSON: NaN, Infinity and -Infinity are errors (as in jq or JS)."""
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def store(tmp_path) -> OnnxBenchStore:
    return OnnxBenchStore(tmp_path / "store", create=True)


# --- impossible scores ------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    ({"val_score": math.nan}, "'val_score' is nan"),
    ({"val_score": math.inf}, "'val_score' is inf"),
    ({"test_score": -math.inf}, "'test_score' is -inf"),
    ({"val_score": 1.5}, r"impossible for metric 'accuracy'.*\[0, 1\]"),
    ({"val_score": 93.1}, r"give 93.1% as 0.931"),
    ({"test_score": -0.01}, "impossible for metric 'accuracy'"),
    ({"metric": "sequence_accuracy", "val_score": 2.0}, r"\[0, 1\]"),
    ({"metric": "rmse", "val_score": -0.5}, "an error, >= 0"),
    ({"metric": "val_loss", "val_score": -1.0}, "an error, >= 0"),
    ({"metric": "tour_ratio", "val_score": 0.8}, ">= 1"),
    ({"latency_ms": -3.0}, "'latency_ms' = -3.0 is negative"),
    ({"predicted_score": math.nan}, "'predicted_score' is nan"),
])
def test_impossible_values_are_refused_and_nothing_is_written(store, fields, message):
    with pytest.raises(StoreError, match=message):
        store.add(tiny_model(), make_record("x", **fields))
    assert len(OnnxBenchStore(store.root)) == 0 and not list(store.root.glob("*/*/*.onnx"))


@pytest.mark.parametrize("fields", [
    {"val_score": 0.0, "test_score": 1.0},                # accuracy bounds are inclusive
    {"metric": "rmse", "val_score": 0.0},
    {"metric": "r2", "val_score": -3.5},                  # unknown metric: any finite number
    {"metric": "tour_ratio", "val_score": 1.0, "test_score": 1.2},
    {"metric": "tour_ratio", "val_score": 1.0 - 1e-12, "test_score": None},  # float rounding
])
def test_possible_edge_values_are_kept(store, fields):
    stored = store.add(tiny_model(), make_record("y", **fields))
    assert OnnxBenchStore(store.root).get(stored["arch_id"])["val_score"] == fields["val_score"]


@pytest.mark.parametrize("row, message", [
    ({"score": "nan"}, r"s\.csv:3: record field 'val_score' is nan"),
    ({"score": "inf"}, r"s\.csv:3: record field 'val_score' is inf"),
    ({"score": "93.1"}, r"s\.csv:3: .*impossible for metric 'accuracy'"),
    ({"score": "-0.2", "metric": "rmse"}, r"s\.csv:3: .*an error, >= 0"),
    ({"score": "0.5", "test_score": "1.7"}, r"s\.csv:3: .*'test_score' = 1.7"),
    ({"score": "high"}, r"s\.csv:3: record field 'val_score' must be float"),
    ({"score": "0.5", "params": "1.5"}, r"s\.csv:3: record field 'params' must be int"),
    ({"score": "0.5", "hparams": "{not json"}, r"s\.csv:3: record field 'hparams'"),
    ({"score": ""}, r"s\.csv:3: no score"),
])
def test_every_import_error_names_the_csv_line_and_imports_nothing(store, tmp_path, row,
                                                                   message):
    columns = ["path", "score", "metric", "test_score", "params", "hparams"]
    good = {c: "" for c in columns} | {"path": str(ALEXNET), "score": "0.57"}
    bad = {c: "" for c in columns} | {"path": str(SQUEEZE)} | row
    csv_path = _scores_csv(tmp_path / "s.csv", [good, bad])
    with pytest.raises(StoreError, match=message):
        store.import_scores(csv_path)
    assert len(OnnxBenchStore(store.root)) == 0


def test_header_and_duplicate_errors_name_their_lines(store, tmp_path):
    unknown = _scores_csv(tmp_path / "u.csv", [{"path": str(ALEXNET), "scor": "0.5"}])
    with pytest.raises(StoreError, match=r"u\.csv:1: unknown column\(s\) scor"):
        store.import_scores(unknown)
    twice = _scores_csv(tmp_path / "d.csv", [{"path": str(ALEXNET), "score": "0.5"},
                                             {"path": str(SQUEEZE), "score": "0.5"},
                                             {"path": str(ALEXNET), "score": "0.6"}])
    with pytest.raises(StoreError, match=r"d\.csv:4: .*same model as .* on line 2"):
        store.import_scores(twice)
    assert len(OnnxBenchStore(store.root)) == 0


def test_line_numbers_count_blank_lines_and_quoted_newlines(store, tmp_path):
    text = (f"path,score,name\n{ALEXNET},0.5,\"two\nlines\"\n\n"
            f"{SQUEEZE},nan,squeeze\n")  # the bad row is on line 5
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(StoreError, match=r"m\.csv:5: record field 'val_score' is nan"):
        store.import_scores(tmp_path / "m.csv")
    (tmp_path / "x.csv").write_text(f"path,score\n{ALEXNET},0.5\n{SQUEEZE},0,5\n")
    with pytest.raises(StoreError, match=r"x\.csv:3: more fields than the header"):
        store.import_scores(tmp_path / "x.csv")
    assert len(OnnxBenchStore(store.root)) == 0


def test_a_file_with_an_impossible_score_is_left_out_and_reported(store, capsys):
    from nas.onnx_file import set_metadata

    kept = store.add(tiny_model(seed=1), make_record("kept"))
    bad = store.add(tiny_model(seed=2), make_record("bad"))
    model = onnx.load(str(store.root / bad["onnx_path"]))
    set_metadata(model, {"score": "nan", "val_score": "nan"})  # as an older version wrote
    onnx.save(model, str(store.root / bad["onnx_path"]))
    assert run_app(["bench", "rebuild", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "indexed 1 record(s); unreadable or invalid files: 1" in out
    assert f"unreadable or invalid: {bad['onnx_path']}" in out
    reopened = OnnxBenchStore(store.root)
    assert [r["arch_id"] for _, r in reopened.records()] == [kept["arch_id"]]
    assert reopened.stats()["corrupt_files"] == [bad["onnx_path"]]


# --- what an import did -------------------------------------------------------------------


def test_import_reports_new_updated_and_unchanged_records(store, tmp_path, capsys):
    first = _scores_csv(tmp_path / "a.csv", [{"path": str(ALEXNET), "score": "0.571"},
                                             {"path": str(SQUEEZE), "score": "0.575"}])
    root = str(store.root)
    assert run_app(["bench", "import", str(first), "--store", root]) == 0
    assert "2 new, 0 updated, 0 unchanged" in capsys.readouterr().out
    squeeze_file = next(store.root.glob("foreign/unknown/*.onnx"), None)
    before = {p.name: p.stat().st_mtime_ns for p in store.root.glob("foreign/*/*.onnx")}
    assert squeeze_file is not None
    second = _scores_csv(tmp_path / "b.csv", [{"path": str(ALEXNET), "score": "0.6"},
                                              {"path": str(SQUEEZE), "score": "0.575"},
                                              {"path": str(RESNET), "score": "0.76"}])
    assert run_app(["bench", "import", str(second), "--store", root]) == 0
    out = capsys.readouterr().out
    assert "1 new, 1 updated, 1 unchanged" in out
    assert "(line 2): val_score 0.571 -> 0.6" in out
    after = {p.name: p.stat().st_mtime_ns for p in store.root.glob("foreign/*/*.onnx")}
    squeeze_id = next(r["arch_id"] for _, r in OnnxBenchStore(store.root).records()
                      if r["arch"] == "light_squeezenet")
    assert after[f"{squeeze_id}.onnx"] == before[f"{squeeze_id}.onnx"]  # not rewritten
    assert len(after) == 3


# --- index.parquet is complete when no writer runs --------------------------------------


def test_index_status_says_behind_while_writing_and_current_after(store, capsys):
    store.index_interval_s = 3600
    for i in range(3):
        store.add(tiny_model(seed=i), make_record(f"s{i}"))
    info = OnnxBenchStore(store.root).stats()
    assert info["index_pending"] == 2 and info["index"].startswith("2 record(s) behind (normal")
    assert "stale" not in info["index"]
    store.refresh_index()
    assert OnnxBenchStore(store.root).stats()["index"] == "current"
    assert len(pd.read_parquet(store.root / SNAPSHOT)) == 3


def test_bench_commands_that_write_leave_a_complete_index(tmp_path):
    a = OnnxBenchStore(tmp_path / "a", create=True)
    a.index_interval_s = 3600
    for i in range(4):
        a.add(tiny_model(seed=i), make_record(f"m{i}"))
    assert len(pd.read_parquet(a.root / SNAPSHOT)) == 1  # the writer's own lag
    merged = tmp_path / "merged"
    assert run_app(["bench", "merge", str(a.root), "--store", str(merged)]) == 0
    assert len(pd.read_parquet(merged / SNAPSHOT)) == 4
    csv_path = _scores_csv(tmp_path / "s.csv", [{"path": str(ALEXNET), "score": "0.5"}])
    assert run_app(["bench", "import", str(csv_path), "--store", str(a.root)]) == 0
    assert len(pd.read_parquet(a.root / SNAPSHOT)) == 5


@pytest.mark.slow
def test_compacting_while_another_process_writes_loses_no_row(store):
    writer = _writer(store.root, "w", 60)
    compactions = 0
    while writer.poll() is None:
        compactions += OnnxBenchStore(store.root).refresh_index()
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert compactions > 1  # compaction really ran while the writer appended
    OnnxBenchStore(store.root).refresh_index()  # what the end of a run does
    frame = pd.read_parquet(store.root / SNAPSHOT)
    assert len(frame) == 60 and frame["arch_id"].is_unique
    assert OnnxBenchStore(store.root).stats()["index"] == "current"


# --- no NaN or Infinity in any JSON output -----------------------------------------------


def test_the_json_writer_turns_non_finite_numbers_into_null():
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": (np.float32("nan"), 2),
             "d": {"e": np.float64(0.25), "f": np.int64(3)}, "p": Path("x/y")}
    assert strict_json(dumps(value)) == {"a": None, "b": [None, None, 1.5], "c": [None, 2],
                                         "d": {"e": 0.25, "f": 3}, "p": "x/y"}
    assert finite_or_none([1.0, math.nan]) == [1.0, None]


def _legacy_store_with_infinite_score(root: Path) -> str:
    """A store written by an older version that let an infinite score in (the record's
    journal line says Infinity; index.parquet was never written)."""
    store = OnnxBenchStore(root, create=True)
    record = store.add(tiny_model(), make_record("legacy", metric="rmse", val_score=0.5,
                                               test_score=0.4),
                       refresh_index=False)
    store.add(tiny_model(seed=1), make_record("fine", metric="rmse", val_score=0.3,
                                               test_score=0.4), refresh_index=False)
    (root / SNAPSHOT).unlink(missing_ok=True)
    journal = next((root / JOURNAL_DIR).glob("*.jsonl"))
    journal.write_text(journal.read_text().replace('"val_score":0.5', '"val_score":Infinity'))
    return record["arch_id"]


def test_no_json_output_holds_nan_or_infinity(tmp_path, capsys):
    root = tmp_path / "legacy"
    arch_id = _legacy_store_with_infinite_score(root)
    commands = [["bench", "stats", "--store", str(root), "--json"],
                ["bench", "ls", "--store", str(root), "--json"],
                ["bench", "show", arch_id, "--store", str(root), "--no-text", "--json"],
                ["bench", "merge", str(root), "--store", str(tmp_path / "m"), "--json"],
                ["leaderboard", "--store", str(root), "--format", "json"],
                ["tasks", "--json"]]
    for argv in commands:
        out = _run(capsys, argv)
        try:
            strict_json(out)  # one document
        except json.JSONDecodeError:  # JSON lines
            assert [strict_json(line) for line in out.splitlines()], argv
    stats = strict_json(_run(capsys, ["bench", "stats", "--store", str(root), "--json"]))
    assert stats["tasks"]["digits"]["best"] == 0.3
    assert stats["tasks"]["digits"]["worst"] is None  # was Infinity


def _run(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert run_app(argv) == 0, argv
    return capsys.readouterr().out


def test_every_json_output_of_the_cli_goes_through_the_one_writer():
    """A new ``--json`` output written with ``json.dumps`` would print NaN/Infinity again."""
    import re

    cli = Path(__file__).resolve().parents[2] / "nas" / "cli"
    offenders = [f"{path.name}:{n}" for path in sorted(cli.glob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"echo\(\s*json\.dumps", line)]
    assert not offenders, f"use nas.json_text.dumps in {offenders}"
