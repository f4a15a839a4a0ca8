"""Suite ``scale``: the search loop's fixed cost per evaluation, many workers, big studies.

Simulated workers run the real worker loop (:func:`nas.search.worker.run_worker`:
stale-trial scan, budget check, trial creation with its lease and claim, result and finish)
with a trivial evaluation (a sleep, no training) and random proposals of the ``ffn``
grammar, as 1, 2, 4, 8 and 16 processes on one fresh study per storage (journal file,
SQLite, PostgreSQL on loopback). Each run is bounded in time and in trials. The baseline,
measured in the same run on the same storage with the same processes and sleep, is a
bare Optuna loop (``study.ask()``, sleep, ``study.tell()``): the floor any design pays.

Figures (medians over workers' trials):

* trials/s over the window in which every worker was at work (trials' own time stamps);
* overhead per trial, p50 and p99: the time between two consecutive finishes of one
  worker, less the evaluation's sleep (everything the loop adds to an evaluation);
* the overhead at trial 100 against trial 10,000 of one study (one worker; the study is
  filled with finished trials in between, written as one batch);
* 2 workers against 1 with 0.5-s evaluations.

At the end of every run the study is checked: no trial left running, no architecture
evaluated twice, every finished trial counted by exactly one worker. A run that fails
the check raises (the figures of a broken protocol mean nothing).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from nas.search.perf import load_note
from nas.search.perf.search import steady_rate

STORAGES = ("journal", "sqlite", "postgresql")
#: the evaluation of the PostgreSQL sweep whose 16 workers fit in two cores (the 50-ms
#: sweep asks for more CPU per second than two cores have: its rate is the machine's)
LONG_EVAL_S = 1.0
SHAPE = (13,)  # ffn architectures for 13 features: cheap to sample, plenty of them


# --- simulated workers ------------------------------------------------------------------


def _context(spec: str, study: str, budget: int, eval_s: float, store_dir: str | None = None,
             background: bool = True):
    """A search context with random ffn proposals and a sleeping evaluation; with
    ``store_dir`` the evaluation also returns the architecture's untrained model (for
    the wine task: 13 features), exported to that store for real, on the worker's
    background thread or (``background`` False) before the next evaluation."""
    from functools import partial

    from bench.store import OnnxBenchStore
    from bench.tasks import get_task
    from nas.search.claims import Proposer
    from nas.search.config import SearchConfig
    from nas.search.strategies import RandomStrategy
    from nas.search.study import SearchStudy
    from nas.search.testing import instant_evaluation, model_evaluation
    from nas.search.worker import SearchContext
    from nas.space import load_space

    space = load_space("ffn")
    # simulated evaluations do not train: no rungs to judge (min_epochs None)
    config = SearchConfig(grammar="ffn", budget=budget, study=study, storage=spec,
                          export=store_dir is not None, background_export=background,
                          seed_references=False, min_epochs=None)
    opened = SearchStudy.open(spec, study, direction="maximize")
    proposer = Proposer(RandomStrategy(space, SHAPE, None))
    if store_dir is None:
        return SearchContext(config, space, None, proposer, None, opened, spec,
                             partial(instant_evaluation, seconds=eval_s))
    return SearchContext(config, space, get_task("wine"), proposer,
                         OnnxBenchStore(store_dir, create=True), opened, spec,
                         partial(model_evaluation, seconds=eval_s))


def _protocol_worker(spec, study, budget, eval_s, seconds, go, results, store_dir=None,
                     background=True) -> None:
    import optuna

    from nas.search.worker import run_worker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ctx = _context(spec, study, budget, eval_s, store_dir, background)
    stop_at = _ready_set_go(go, results, seconds)
    report = run_worker(ctx, poll_s=0.05, should_stop=lambda: time.time() > stop_at)
    results.put(asdict(report))


def _ready_set_go(go, results, seconds: float) -> float:
    """Say this process is loaded, wait until every one is, return when to stop."""
    results.put("ready")
    go.wait()
    return time.time() + seconds


def _bare_worker(spec, study, budget, eval_s, seconds, go, results) -> None:
    """``ask``, sleep, ``tell``: what Optuna itself costs on this storage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bare = optuna.load_study(study_name=study, storage=_optuna_storage(spec),
                             sampler=optuna.samplers.RandomSampler())
    stop_at = _ready_set_go(go, results, seconds)
    finishes: list[float] = []
    while time.time() < stop_at and len(finishes) < budget:
        trial = bare.ask()
        time.sleep(eval_s)
        bare.tell(trial, 1.0 / (1 + trial.number))
        finishes.append(time.time())
    results.put({"completed": len(finishes), "finishes": finishes})


def _race(target, spec: str, workers: int, budget: int, eval_s: float, seconds: float,
          bare: bool, **options) -> tuple[str, list[dict]]:
    """Run ``workers`` processes of ``target`` on a fresh study for ``seconds``
    (``options``: keyword arguments of ``target``)."""
    import optuna

    from nas.search.study import SearchStudy

    study = f"scale-{uuid.uuid4().hex[:10]}"
    if bare:
        optuna.create_study(study_name=study, storage=_optuna_storage(spec),
                            direction="maximize")
    else:
        SearchStudy.open(spec, study, direction="maximize")
    mp = multiprocessing.get_context("spawn")
    results, go = mp.Queue(), mp.Event()
    procs = [mp.Process(target=target, args=(spec, study, budget, eval_s, seconds, go,
                                             results), kwargs=options)
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every process has imported and opened the study
        assert results.get(timeout=600) == "ready"
    busy = machine_busy_seconds()
    go.set()
    reports = [results.get(timeout=600) for _ in procs]
    busy = machine_busy_seconds() - busy
    for proc in procs:
        proc.join(timeout=60)
    for report in reports:
        report["machine_busy_s"] = busy
    return study, reports


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process: the
    workers and the database server alike), from ``/proc/stat``; NaN where there is none.

    Divided by a run's trials it is the CPU one trial costs, and the cores over that is
    the most trials/s this machine can give, whatever the protocol."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return math.nan
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6) if i < len(fields))  # user, nice,
    # system, irq, softirq (not idle, iowait, nor the time a hypervisor stole)
    return busy / os.sysconf("SC_CLK_TCK")


def _optuna_storage(spec: str):
    """What a plain Optuna user passes: a database URL (Optuna then caches finished
    trials itself), or the journal storage with the search's own file lock."""
    from bench.storage import open_storage, storage_kind, storage_url, with_driver

    return open_storage(spec) if storage_kind(spec) == "journal" else with_driver(
        storage_url(spec))


# --- figures from a finished run --------------------------------------------------------


def _finishes(spec: str, study: str, reports: list[dict]) -> tuple[list, dict]:
    """The study's finished trials (as records) and, per worker, its finish times (the
    bare loop's workers report their own)."""
    from nas.search.study import SearchStudy

    history = SearchStudy.open(spec, study, create=False).history()
    if reports and "finishes" in reports[0]:
        return history.records, {i: r["finishes"] for i, r in enumerate(reports)}
    by_worker: dict[str, list[float]] = {}
    for record in history.evaluated:
        by_worker.setdefault(record.worker or "?", []).append(record.finished)
    return history.evaluated, {w: sorted(times) for w, times in by_worker.items()}


def _overheads(finishes: dict, eval_s: float) -> list[float]:
    """Per-trial overhead (s): gaps between consecutive finishes of one worker, less the
    evaluation; the first trial of each worker (start-up) is left out."""
    gaps = []
    for times in finishes.values():
        gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
    return [max(0.0, g - eval_s) for g in gaps]


def _check(spec: str, study: str, reports: list[dict]) -> int:
    """No trial lost or duplicated; returns the number of evaluations."""
    from nas.search.study import SearchStudy

    history = SearchStudy.open(spec, study, create=False).history()
    ids = [r.arch_id for r in history.evaluated]
    problems = []
    if history.running:
        problems.append(f"{len(history.running)} trial(s) left running")
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} architecture(s) evaluated twice")
    counted = sum(r["completed"] + r["failed"] for r in reports)
    if counted != len(ids):
        problems.append(f"workers report {counted} evaluations, the study holds {len(ids)}")
    unfinished = [r.number for r in history.records if r.state not in ("COMPLETE", "FAIL")]
    if unfinished or [r.number for r in history.records] != list(range(len(history))):
        problems.append("trial numbers with gaps or unfinished trials")
    if problems:
        raise RuntimeError(f"{spec} study {study}: " + "; ".join(problems))
    return len(ids)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_cell(spec: str, workers: int, budget: int, eval_s: float, seconds: float,
                 repeats: int = 1) -> dict:
    """One storage and worker count: the protocol and the bare loop, side by side, taking
    turns ``repeats`` times (each figure the median over the repeats)."""
    runs: dict[str, list[dict]] = {"bare": [], "nas": []}
    evaluations = 0
    for _ in range(repeats):
        for label, target, bare in (("bare", _bare_worker, True),
                                    ("nas", _protocol_worker, False)):
            study, reports = _race(target, spec, workers, budget, eval_s, seconds, bare)
            records, finishes = _finishes(spec, study, reports)
            if not bare:
                evaluations += _check(spec, study, reports)
            overhead = _overheads(finishes, eval_s)
            runs[label].append({
                "rate": steady_rate(records) if len(records) > 2 else math.nan,
                "p50": _percentile(overhead, 0.5), "p99": _percentile(overhead, 0.99),
                "trials": len(records),
                "cpu_per_trial": reports[0]["machine_busy_s"] / max(len(records), 1)})
    out: dict = {"evaluations": evaluations, "repeats": repeats}
    for label, found in runs.items():
        out[label] = {key: statistics.median(run[key] for run in found) for key in found[0]}
    return out


# --- overhead as the study grows --------------------------------------------------------


def _filler_attrs(i: int) -> dict:
    """The user_attrs of a finished trial like a real one (about 20 of them)."""
    return {"arch": f"filler-{i}", "arch_id": f"f{i:011d}", "worker": "filler:0",
            "origin": "random", "val_score": 0.5, "test_score": 0.5, "params": 1000,
            "macs": 1000, "grammar": "ffn", "grammar_hash": "0" * 12, "task": "none",
            "metric": "accuracy", "strategy": "random", "seed": 0, "train_seconds": 1.0,
            "epochs": 1, "hparams": {"lr": 0.001}, "inner_trials": 1, "inner_failed": 0,
            "inner_pruned": 0}


def _fill(spec: str, study: str, n: int) -> None:
    """Add ``n`` finished trials to ``study`` (created if missing), in bulk: the figure
    is about reading and writing a big study, not about how it got big."""
    import optuna

    from nas.search.study import SearchStudy

    opened = SearchStudy.open(spec, study, direction="maximize")
    start = len(opened.history())
    if isinstance(opened.storage, optuna.storages.JournalStorage):
        _fill_journal(opened.storage, opened.study_id, start, n)
    else:
        _fill_rdb(opened.storage, opened.study_id, start, n)


def _fill_journal(storage, study_id: int, start: int, n: int, chunk: int = 2000) -> None:
    from datetime import datetime, timezone

    from optuna.storages.journal._storage import JournalOperation
    from optuna.trial import TrialState

    now = datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")
    logs = [{"op_code": JournalOperation.CREATE_TRIAL, "worker_id": "filler",
             "study_id": study_id, "datetime_start": now, "datetime_complete": now,
             "state": TrialState.COMPLETE, "value": 0.5, "values": None,
             "user_attrs": _filler_attrs(i), "system_attrs": {}, "intermediate_values": {}}
            for i in range(start, start + n)]
    for at in range(0, len(logs), chunk):
        storage._backend.append_logs(logs[at:at + chunk])


def _fill_rdb(storage, study_id: int, start: int, n: int, chunk: int = 1000) -> None:
    from datetime import datetime

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import TrialState

    now = datetime.now()
    for at in range(start, start + n, chunk):
        with _create_scoped_session(storage.scoped_session) as session:
            models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
            session.add_all([models.TrialModel(
                study_id=study_id, number=i, state=TrialState.COMPLETE, datetime_start=now,
                datetime_complete=now,
                values=[models.TrialValueModel(objective=0, value=0.5,
                                               value_type=models.TrialValueModel.TrialValueType.FINITE)],
                user_attributes=[models.TrialUserAttributeModel(key=k, value_json=json.dumps(v))
                                 for k, v in _filler_attrs(i).items()])
                for i in range(at, min(at + chunk, start + n))])


def _worker_overhead(ctx, trials: int) -> float:
    """Median cycle time (s) of ``trials`` more trials by one worker (instant evaluations:
    the cycle is all overhead)."""
    from nas.search.worker import run_worker

    stamps: list[float] = []  # when each evaluation starts: consecutive ones are a cycle
    evaluate = ctx.evaluator

    def timed(*args, **kwargs):
        stamps.append(time.perf_counter())
        return evaluate(*args, **kwargs)

    ctx.evaluator = timed
    try:
        run_worker(ctx, poll_s=0.05, should_stop=lambda: len(stamps) >= trials)
    finally:
        ctx.evaluator = evaluate
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:], strict=False))


def growth(spec: str, small: int, big: int, trials: int, rounds: int = 3
           ) -> tuple[float, float]:
    """Overhead per trial of one worker on a study at trial ``small`` and on one at
    trial ``big``, in the same storage, measured in alternation (``rounds`` times,
    medians) so that both meet the same disk and load."""
    tag = uuid.uuid4().hex[:8]
    studies = {small: f"grow-{small}-{tag}", big: f"grow-{big}-{tag}"}
    for size, study in studies.items():
        _fill(spec, study, size)
    contexts = {size: _context(spec, study, 10**9, 0.0) for size, study in studies.items()}
    found: dict[int, list[float]] = {small: [], big: []}
    for _ in range(rounds):
        for size, ctx in contexts.items():
            found[size].append(_worker_overhead(ctx, trials))
    return statistics.median(found[small]), statistics.median(found[big])


# --- the suite ------------------------------------------------------------------------


def _specs(folder: Path, pg_url: str | None) -> dict[str, str]:
    specs = {"journal": str(folder / "{tag}.journal"), "sqlite": str(folder / "{tag}.db")}
    if pg_url:
        specs["postgresql"] = pg_url
    return specs


def _rows_for_cell(kind: str, workers: int, cell: dict, one: dict | None, what: str,
                   eval_s: float) -> list[dict]:
    nas, bare = cell["nas"], cell["bare"]
    name = f"{kind}, {workers} worker(s), {_ms(eval_s)} evaluations"
    rows = [{"figure": f"{name}: trials/s", "value": nas["rate"], "unit": "trials/s",
             "baseline": bare["rate"], "detail": what},
            {"figure": f"{name}: overhead per trial p50", "value": 1000 * nas["p50"],
             "unit": "ms", "baseline": 1000 * bare["p50"],
             "ratio": nas["p50"] / bare["p50"] if bare["p50"] else math.nan,
             "target": 2.0 if workers in (1, 4) and kind != "sqlite" else None,
             "detail": what},
            {"figure": f"{name}: overhead per trial p99", "value": 1000 * nas["p99"],
             "unit": "ms", "baseline": 1000 * bare["p99"], "detail": what},
            {"figure": f"{name}: evaluations checked (none lost or repeated)",
             "value": cell["evaluations"], "unit": "trials", "detail": what}]
    if one is not None and workers > 1:
        rows.append({"figure": f"{name}: trials/s vs 1 worker",
                     "value": nas["rate"] / one["nas"]["rate"], "unit": "x",
                     "baseline": bare["rate"] / one["bare"]["rate"],
                     "baseline_is": "bare Optuna's ratio, same run",
                     "target": 8.0 if (kind, workers) == ("postgresql", 16) else None,
                     "detail": f"{_capacity(nas, workers)}; {what}"})
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}-ms" if seconds < 1 else f"{seconds:g}-s"


def _capacity(cell: dict, workers: int) -> str:
    """What the cores allow: the machine's CPU per trial in that run (workers, database
    server and everything else), and the trials/s the cores could give at that cost."""
    cores, cpu = os.cpu_count() or 1, cell["cpu_per_trial"]
    if not cpu or math.isnan(cpu):
        return "machine CPU per trial unknown"
    return (f"{workers} workers cost the machine {1000 * cpu:.0f} CPU-ms per trial: "
            f"{cores} cores give at most {cores / cpu:.0f} trials/s")


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf scale`` (``quick``: 1, 4 and 16 workers, 4 s per run, the
    growth figure at 100 vs 2,000 trials; full: 1, 2, 4, 8, 16 workers, 8 s per run, the
    1- and 4-worker cells three times, 100 vs 10,000 trials). PostgreSQL is also swept
    at 1 and 16 workers with :data:`LONG_EVAL_S` evaluations."""
    import optuna

    from nas.search.perf.pgserver import PgServerUnavailable, postgres_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    worker_counts = (1, 4, 16) if quick else (1, 2, 4, 8, 16)
    seconds, big = (4.0, 2_000) if quick else (8.0, 10_000)
    eval_s, budget = 0.05, 5_000
    server, pg_url, rows = None, None, []
    try:
        pg_url, server = postgres_url(durable=True)
    except PgServerUnavailable as exc:
        rows.append({"figure": "PostgreSQL", "value": math.nan, "detail": f"skipped: {exc}"})
    try:
        with tempfile.TemporaryDirectory(prefix="nas-perf-scale-") as tmp:
            specs = _specs(Path(tmp), pg_url)
            rows += _sweep(specs, worker_counts, budget, eval_s, seconds,
                           1 if quick else 3)
            if "postgresql" in specs:  # where the cores, not the protocol, set the pace
                rows += _sweep({"postgresql": specs["postgresql"]}, (1, 16), budget,
                               LONG_EVAL_S, max(seconds, 12.0))
            rows += _growth_rows(specs, big, 30 if quick else 60)
            rows += _whole_loop_rows(specs["journal"], seconds)
            rows += export_loop_rows(specs["journal"], max(seconds, 8.0), 1 if quick else 3)
    finally:
        if server is not None:
            server.stop()
    return rows


def _sweep(specs: dict[str, str], worker_counts, budget: int, eval_s: float,
           seconds: float, target_repeats: int = 1) -> list[dict]:
    """Rows of each storage at each worker count; the cells with a target (1 and 4
    workers) run ``target_repeats`` times, taking turns with their baseline."""
    rows = []
    for kind, template in specs.items():
        one = None
        for workers in worker_counts:
            repeats = target_repeats if workers in (1, 4) else 1
            what = load_note(f"{_ms(eval_s)} evaluations, {seconds:.0f} s per run, "
                             f"median of {repeats} run(s) taking turns with the baseline, "
                             "baseline: bare Optuna ask/tell on the same storage")
            spec = template.format(tag=f"{kind}-{workers}-{uuid.uuid4().hex[:6]}")
            cell = measure_cell(spec, workers, budget, eval_s, seconds, repeats)
            one = cell if workers == 1 else one
            rows += _rows_for_cell(kind, workers, cell, one, what, eval_s)
    return rows


def _growth_rows(specs: dict[str, str], big: int, trials: int) -> list[dict]:
    rows = []
    for kind in ("journal", "postgresql"):
        if kind not in specs:
            continue
        spec = specs[kind].format(tag=f"grow-{kind}")
        small_s, big_s = growth(spec, 100, big, trials)
        rows.append({"figure": f"{kind}: overhead per trial at trial {big:,} vs trial 100",
                     "value": big_s / small_s, "unit": "x", "baseline": 1.0, "target": 1.5,
                     "detail": load_note(f"one worker, instant evaluations, median cycle of "
                                         f"{trials} trials x 3 rounds alternating between "
                                         f"the two studies: {1000 * small_s:.1f} ms at "
                                         f"100, {1000 * big_s:.1f} ms at {big:,}")})
    return rows


def _whole_loop_rows(journal_template: str, seconds: float) -> list[dict]:
    rates = {}
    for workers in (1, 2):
        spec = journal_template.format(tag=f"whole-{workers}")
        study, reports = _race(_protocol_worker, spec, workers, 10_000, 0.5,
                               max(seconds, 8.0), bare=False)
        _check(spec, study, reports)
        records, _ = _finishes(spec, study, reports)
        rates[workers] = steady_rate(records)
    what = load_note("0.5-s evaluations (sleep), journal storage, real worker loop")
    return [{"figure": "whole loop, 2 workers / 1 worker (0.5-s evaluations)",
             "value": rates[2] / rates[1], "unit": "x", "baseline": 1.0, "target": 1.8,
             "detail": f"{rates[1]:.2f} vs {rates[2]:.2f} evaluations/s; {what}"}]


def export_loop_rows(journal_template: str, seconds: float, repeats: int) -> list[dict]:
    """The whole loop with real ONNX exports (export, checker, onnxruntime parity, store
    with latency) of untrained ffn models after 0.5-s sleeping evaluations, 1 and 2
    workers, the export inline (the baseline) or on the background thread; the four
    runs take turns ``repeats`` times. Rows: 2 workers / 1 worker and the fixed cost
    per evaluation of one worker (finish to finish, less the 0.5 s), medians."""
    from nas.search.history import History

    modes = ("inline", "background")
    rates: dict[tuple[str, int], list[float]] = {(m, w): [] for m in modes for w in (1, 2)}
    costs: dict[str, list[float]] = {m: [] for m in modes}
    for repeat in range(repeats):
        for workers in (1, 2):
            for mode in modes:
                spec = journal_template.format(tag=f"export-{mode}-{workers}-{repeat}")
                store = spec.rsplit(".", 1)[0] + "-bench"
                study, reports = _race(_protocol_worker, spec, workers, 10_000, 0.5, seconds,
                                       bare=False, store_dir=store,
                                       background=mode == "background")
                _check(spec, study, reports)
                records, finishes = _finishes(spec, study, reports)
                _check_exported(store, History.of(records))
                rates[(mode, workers)].append(steady_rate(records))
                if workers == 1:
                    costs[mode].append(statistics.median(_overheads(finishes, 0.5)))
    ratio = {m: statistics.median(rates[(m, 2)]) / statistics.median(rates[(m, 1)])
             for m in modes}
    cost = {m: 1000 * statistics.median(costs[m]) for m in modes}
    runs = "; ".join(f"{m} {w} worker(s) " + "/".join(f"{v:.2f}" for v in rates[(m, w)])
                     for m in modes for w in (1, 2))
    what = load_note(f"0.5-s evaluations (sleep) of random ffn architectures, each model "
                     f"exported with parity and stored (wine, 13 features), journal storage, "
                     f"{seconds:.0f} s per run, median of {repeats} (evaluations/s: {runs})")
    return [
        {"figure": "whole loop with ONNX export, 2 workers / 1 worker, background export",
         "value": ratio["background"], "unit": "x", "baseline": ratio["inline"],
         "target": 1.8, "detail": f"baseline: inline export; {what}"},
        {"figure": "fixed cost per evaluation with ONNX export, 1 worker, background export",
         "value": cost["background"], "unit": "ms", "baseline": cost["inline"],
         "ratio": cost["background"] / cost["inline"] if cost["inline"] else math.nan,
         "detail": f"baseline: inline export; finish to finish less the evaluation; {what}"},
        {"figure": "whole loop with ONNX export, 2 workers, background vs inline",
         "value": statistics.median(rates[("background", 2)]), "unit": "evals/s",
         "baseline": statistics.median(rates[("inline", 2)]), "detail": what},
    ]


def _check_exported(store_dir: str, history) -> None:
    """Every completed trial of the run has its file in the store (else the figures of
    a broken export mean nothing)."""
    from bench.store import OnnxBenchStore

    stored = {row["arch_id"] for _, row in OnnxBenchStore(store_dir).records()}
    missing = [r.number for r in history.completed
               if r.arch_id not in stored or "onnx_path" not in r.user_attrs]
    if missing:
        raise RuntimeError(f"{store_dir}: completed trial(s) {missing} without their file")
