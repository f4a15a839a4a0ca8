"""Leaderboard renderers: every format parses back; the HTML report renders in Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import optuna
import pandas as pd
import pytest
from leaderboard_stores import write_store

from bench.leaderboard import FORMATS, compare_runs, load_leaderboard, render
from nas.errors import LeaderboardError
from nas.search.perf.synthetic_studies import synthetic_trials, write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


class ReportParser(HTMLParser):
    """Collects what the tests check in an HTML report."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, int] = {}  # table id -> body rows
        self.svgs = 0
        self.images = 0
        self.external: list[str] = []
        self.h2: list[str] = []
        self.text_by_table: dict[str, list[str]] = {}
        self._table: str | None = None
        self._in_body = False
        self._in_h2 = False
        self.pareto_rows = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if re.match(r"^(https?:)?//", attrs.get(key) or ""):
                self.external.append(attrs[key])
        if tag == "table":
            self._table = attrs.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = 0
            self.text_by_table[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self._table] += 1
            self.pareto_rows += "pareto" in (attrs.get("class") or "")
        elif tag == "svg":
            self.svgs += 1
        elif tag == "img" and (attrs.get("src") or "").startswith("data:image/"):
            self.images += 1
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data
        if self._table:
            self.text_by_table[self._table].append(data)


def parse_html(text: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(text)
    parser.close()
    return parser


def make_run(root, name, n=60, seed=0, strategy="random", task="mnist1d"):
    """runs/<name>/ with study.journal and its ONNX-Bench store (bench/)."""
    run = root / name
    run.mkdir(parents=True)
    trials = synthetic_trials(n, seed=seed, task=task, strategy=strategy, fail_every=9)
    study = write_study(run / "study.journal", trials, name, user_attrs={"budget": n})
    write_store(run / "bench", study.trials, seed=seed, study=name)
    return run


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("runs"), "mnist1d-pred", strategy="predictor")
    return load_leaderboard(storage=run / "study.journal", store=run / "bench",
                            label="mnist1d-pred")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = [make_run(root, name, n=40, seed=i, strategy=strategy)
            for i, (name, strategy) in enumerate(
                [("rs", "random"), ("re", "evolution"), ("pred", "predictor")])]
    return compare_runs(runs)


# ------------------------------------------------------------------ formats


def test_csv_parses_back_to_the_frame(board):
    back = pd.read_csv(io.StringIO(render(board, "csv")))
    rows = board.rows
    assert list(back.columns) == list(rows.columns)
    assert back["arch_id"].tolist() == rows["arch_id"].tolist()
    np.testing.assert_allclose(back["val_score"], rows["val_score"])
    np.testing.assert_allclose(back["latency_ms"], rows["latency_ms"])
    assert back["pareto_params"].tolist() == rows["pareto_params"].tolist()
    assert back["params"].tolist() == rows["params"].tolist()
    assert [json.loads(h) for h in back["hparams"]] == [json.loads(h) for h in rows["hparams"]]
    assert len(pd.read_csv(io.StringIO(render(board, "csv", top=5)))) == 5


def test_json_parses_back_with_its_context(board):
    doc = json.loads(render(board, "json"))
    assert doc["format"] == "nas-leaderboard" and doc["version"] == 1
    assert doc["task"] == "mnist1d" and doc["higher_is_better"] is True
    back = pd.DataFrame(doc["rows"])
    assert list(back.columns) == doc["columns"] == list(board.rows.columns)
    assert back["arch_id"].tolist() == board.rows["arch_id"].tolist()
    np.testing.assert_allclose(back["predicted_score"], board.rows["predicted_score"])
    assert back["hparams"].tolist() == [json.loads(h) for h in board.rows["hparams"]]
    assert all(r["published"] for r in doc["references"])
    assert doc["reproducibility"]["task"] == "mnist1d"
    assert doc["counts"]["failed"] == 6


def test_markdown_is_a_github_table(board):
    text = render(board, "md", top=10)
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| rank |"))
    assert re.fullmatch(r"\|(---\|)+", lines[head + 1])
    width = lines[head].count(" | ")
    body = lines[head + 2: head + 12]
    assert all(line.startswith("| ") and line.count(" | ") >= width for line in body)
    assert lines[head + 12] == ""  # exactly the top 10 rows
    assert "## Published figures" in text and "not measured here" in text
    assert "## Reproducibility" in text
    # the published figures are in their own table, not among the ranked rows
    assert "CNN" not in "\n".join(lines[head: head + 12])


def test_table_is_plain_text(board):
    text = render(board, "table", top=5, width=200)
    assert "Leaderboard: mnist1d-pred" in text and "\x1b[" not in text
    assert board.rows["arch_id"].iloc[0] in text and board.rows["arch_id"].iloc[5] not in text
    assert "Published figures" in text


def test_html_holds_the_table_the_plots_and_nothing_external(board, tmp_path):
    out = tmp_path / "board.html"
    text = render(board, "html", top=25, out_path=out)
    page = parse_html(text)
    assert page.tables["board"] == 25
    assert page.svgs >= 4  # params, latency, distribution, best so far
    assert page.external == []
    assert page.pareto_rows == int((board.rows.head(25)[["pareto_params", "pareto_latency"]]
                                    .any(axis=1)).sum())
    assert "Published figures" in page.h2 and "Reproducibility" in page.h2
    ranked = " ".join(page.text_by_table["board"])
    assert "CNN" not in ranked and "human" not in ranked
    first = board.rows.iloc[0]
    assert f'title="{first["arch"]}"' in text or f"<code>{first['arch']}</code>" in text
    # ONNX links point from the report's folder into the store
    assert re.search(r'href="[^"]*mnist1d/[0-9a-f]{12}\.onnx"', text)


def test_every_format_renders_a_comparison(comparison):
    summary = comparison.summary
    assert summary["run"].tolist() == ["rs", "re", "pred"]
    for board, row in zip(comparison.boards, summary.itertuples(), strict=True):
        assert row.best_val_score == board.rows["val_score"].max()
        assert row.strategy == board.history["strategy"].iloc[0]
    back = pd.read_csv(io.StringIO(render(comparison, "csv")))
    assert back["run"].tolist() == ["rs", "re", "pred"]
    doc = json.loads(render(comparison, "json", top=3))
    assert doc["format"] == "nas-leaderboard-compare" and len(doc["boards"]) == 3
    assert {h["run"] for h in doc["history"]} == {"rs", "re", "pred"}
    assert all(len(b["rows"]) == 3 for b in doc["boards"])
    assert "| pred |" in render(comparison, "md")
    assert "evolution" in render(comparison, "table", width=220)
    page = parse_html(render(comparison, "html"))
    assert page.tables["summary"] == 3 and page.svgs >= 4 and page.external == []


def test_compare_refuses_mixed_tasks_and_single_runs(tmp_path, comparison):
    a = make_run(tmp_path, "a", n=10, task="digits")
    b = make_run(tmp_path, "b", n=10, task="wine")
    with pytest.raises(LeaderboardError, match="differ in tasks"):
        compare_runs([a, b])
    with pytest.raises(LeaderboardError, match="at least two"):
        compare_runs([a])


def test_unknown_format_and_bad_top(board):
    with pytest.raises(LeaderboardError, match="choose one of table, md, csv, json, html"):
        render(board, "xlsx")
    with pytest.raises(LeaderboardError, match="--top"):
        render(board, "csv", top=0)
    assert FORMATS == ("table", "md", "csv", "json", "html")


# ------------------------------------------------------------------ headless browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def screenshot(html_path, png_path, profile) -> subprocess.CompletedProcess:
    """Open ``html_path`` in headless Chromium and save a 1280x2000 screenshot."""
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               f"--screenshot={png_path}", "--window-size=1280,2000",
               f"file://{html_path.resolve()}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def assert_rendered(png_path, result) -> None:
    """The screenshot exists, is not trivially small, not one colour, and is our page."""
    import matplotlib.image

    assert png_path.is_file(), f"no screenshot: {result.stderr[-2000:]}"
    assert png_path.stat().st_size > 30_000
    pixels = matplotlib.image.imread(png_path)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200
    # the page background (#f6f7f9), not a white browser error page
    np.testing.assert_allclose(pixels[8, 8] * 255, [246, 247, 249], atol=2)


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium(board, tmp_path):
    html_path = tmp_path / "board.html"
    html_path.write_text(render(board, "html", out_path=html_path), encoding="utf-8")
    png = tmp_path / "board.png"
    assert_rendered(png, screenshot(html_path, png, tmp_path / "profile"))


@pytest.mark.slow
def test_comparison_report_renders_in_headless_chromium(comparison, tmp_path):
    html_path = tmp_path / "compare.html"
    html_path.write_text(render(comparison, "html", out_path=html_path), encoding="utf-8")
    png = tmp_path / "compare.png"
    assert_rendered(png, screenshot(html_path, png, tmp_path / "profile"))
