"""The encoder figures (maintainer.encoders): the GNN and the hashed text fitted on the
same re-exported index records, ranked by grammar and on a real held-out group."""

from __future__ import annotations

import json

import pandas as pd

import maintainer.encoders as encoders
from maintainer.heldout import build
from maintainer.reexport_store import INDEX, reexport_one


def test_both_methods_are_ranked_on_the_same_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = pd.read_csv(INDEX)
    rows = pd.concat([index[(index["grammar"] == g) & (index["task"] == "digits")].head(10)
                      for g in ("ffn", "metamixer")])
    small = tmp_path / "index.csv"
    rows.to_csv(small, index=False)
    graphs = tmp_path / "graphs"
    for _, row in rows.iterrows():
        reexport_one(row, graphs)
    monkeypatch.setattr(encoders, "HELDOUT", [("ffn", "wine", 6, 3)])
    build(tmp_path / "heldout", [("ffn", "wine", 6, 3)], workers=1)
    out = tmp_path / "encoders.json"
    encoders.main(["--index", str(small), "--graphs", str(graphs),
                   "--heldout", str(tmp_path / "heldout"), "--out", str(out)])
    by_grammar, held = json.loads(out.read_text())
    methods = {r["method"] for r in by_grammar["summary"]}
    assert {"hashing+blend", "gnn", "params", "macs"} <= methods
    tested = {r["group"] for r in by_grammar["rows"]}
    assert tested == {"held-out ffn/digits", "held-out metamixer/digits"}
    assert held["figure"] == "held-out ffn/wine" and held["n"] == 6
    assert set(held["tau"]) == {"hashing+blend", "gnn", "params", "macs"}
    assert all(-1 <= t <= 1 for t in held["tau"].values())
