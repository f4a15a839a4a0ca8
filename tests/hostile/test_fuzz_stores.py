"""Fuzz: damaged ONNX-Bench stores read and merged (issue 14).

A small store is copied and damaged at random (its STORE.json, ONNX file, index.parquet
or index journal edited, emptied or deleted), then read (`bench ls`, `bench stats`,
`leaderboard --store`) and merged into a store that already holds a record. Every
command gives a result or one clean line; the destination's earlier record and file
stay exactly as they were and every record it lists has its file.
"""

from __future__ import annotations

import shutil

import onnx
import pytest
from fuzzing import NASTY, fuzz_settings, mutated
from hostile_cli import assert_clean_cli, run_cli
from hypothesis import event, given
from hypothesis import strategies as st
from test_fuzz_files import tiny_model

from bench.store import OnnxBenchStore

pytestmark = pytest.mark.slow


def _store_with(root, width: int, score: str):
    onnx.save(tiny_model(width=width), root.parent / f"m{width}.onnx")
    (root.parent / f"m{width}.csv").write_text(
        f"path,score,metric,task\nm{width}.onnx,{score},accuracy,t\n")
    store = OnnxBenchStore(root, create=True)
    store.import_scores(root.parent / f"m{width}.csv")
    store.refresh_index()
    return store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("stores")
    _store_with(base / "template", 3, "0.6")
    dest = _store_with(base / "dest", 2, "0.5")
    (victim,) = [r for _, r in dest.records()]
    return base, victim, (dest.root / victim["onnx_path"]).read_bytes()


DAMAGE = st.lists(st.tuples(st.sampled_from(["STORE.json", "onnx", "index.parquet",
                                             "journal"]),
                            st.sampled_from(["edit", "edit", "empty", "delete"]),
                            st.data()), min_size=1, max_size=3)


def _damage(root, damage) -> None:
    files = {"STORE.json": [root / "STORE.json"],
             "onnx": sorted(root.rglob("*.onnx")),
             "index.parquet": [root / "index.parquet"],
             "journal": sorted((root / "index.d").glob("*"))}
    for target, how, data in damage:
        for path in files[target]:
            if not path.exists():
                continue
            if how == "delete":
                path.unlink()
            elif how == "empty":
                path.write_bytes(b"")
            else:
                path.write_bytes(data.draw(mutated(path.read_bytes(), max_edits=3)))
            event(f"{how} {target}")


@fuzz_settings(50)
@given(damage=DAMAGE, extra=st.sampled_from([b"", *NASTY[:4]]))
def test_fuzz_damaged_stores_are_read_and_merged_cleanly(stores, damage, extra):
    base, victim, victim_bytes = stores
    source = base / "source"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(base / "template", source)
    _damage(source, damage)
    if extra:
        (source / "foreign" / "t" / "stray.onnx").write_bytes(extra)
    for args in (["bench", "ls", "--store", source], ["bench", "stats", "--store", source],
                 ["leaderboard", "--store", source, "--format", "csv"]):
        outcome = run_cli(*args)
        event(f"{args[0]} {args[1]}: exit {outcome.code}")
        assert_clean_cli(outcome, allowed=(0, 2))
    merged = run_cli("bench", "merge", source, "--store", base / "dest")
    event(f"merge: exit {merged.code}")
    assert_clean_cli(merged, allowed=(0, 2))
    dest = OnnxBenchStore(base / "dest")
    key = {"task": victim["task"], "grammar": victim["grammar"]}
    assert dest.get(victim["arch_id"], **key) == victim
    assert (dest.root / victim["onnx_path"]).read_bytes() == victim_bytes
    for _, record in dest.records():
        assert (dest.root / record["onnx_path"]).is_file()
