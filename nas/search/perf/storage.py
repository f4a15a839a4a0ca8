"""Suite ``storage``: what the shared-study protocol costs on each Optuna storage.

1, 2 and 4 worker processes run the real worker loop (:func:`nas.search.worker.run_worker`:
budget check, trial creation, lease, claim with its write-then-read, attributes, finish,
stale-trial scan) on one fresh study with an instant evaluation
(:func:`nas.search.testing.run_protocol_race`, proposals spread at random over a fixed
list of architectures as a random search's are), so all the time is storage time.
Storages: the journal file (the baseline), SQLite and PostgreSQL, measured in the same run.

Figures, medians of the repeats:

* trials/s: finished trials over the window in which every worker was at work (from the
  trials' own time stamps; process start-up is left out);
* storage overhead per trial (ms): worker-time per trial, ``workers / (trials/s)``; with
  one worker that is the wall time of one trial's protocol.

PostgreSQL is ``$NAS_TEST_POSTGRES_URL`` if set, else a throwaway server on loopback
(:mod:`nas.search.perf.pgserver`, fsync on as in a real installation); without server binaries
its rows say why they are empty. The protocol reads the whole study several times per
trial, so the cost per trial grows with the study: the rows name the budget.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import uuid
from pathlib import Path

import optuna

from nas.search.perf import load_note
from nas.search.perf.pgserver import PgServerUnavailable, postgres_url
from nas.search.perf.search import steady_rate
from nas.search.testing import run_protocol_race
from nas.space import load_space

WORKERS = (1, 2, 4)
STORAGES = ("journal", "sqlite", "postgresql")


def _architectures(n: int) -> list[str]:
    """``n`` distinct ffn architectures for 13 features, as text."""
    space = load_space("ffn")
    found: dict[str, str] = {}
    for seed in range(50 * n):
        arch = space.sample((13,), seed=seed)
        found.setdefault(arch.id, str(arch))
        if len(found) == n:
            return list(found.values())
    raise RuntimeError(f"the ffn grammar gave fewer than {n} distinct architectures")


def _spec(kind: str, folder: Path, pg_url: str | None, tag: str) -> str:
    if kind == "journal":
        return str(folder / f"{tag}.journal")
    if kind == "sqlite":
        return str(folder / f"{tag}.db")
    return pg_url


def _race(spec: str, texts: list[str], budget: int, workers: int) -> float:
    """Trials/s of one race of ``workers`` processes on a fresh study in ``spec``."""
    study = f"perf-{uuid.uuid4().hex[:10]}"
    history, _ = run_protocol_race(spec, study, "ffn", texts, budget=budget,
                                   workers=workers, spread=True)
    done = history.evaluated
    if len(done) != budget or len({r.arch_id for r in done}) != budget:
        raise RuntimeError(f"{spec}: {len(done)} evaluations for a budget of {budget}: the "
                           "protocol broke; run pytest tests/search")
    return steady_rate(done)


def measure(budget: int, repeats: int, pg_url: str | None) -> dict[tuple[str, int], float]:
    """Median trials/s per (storage, workers); PostgreSQL left out without ``pg_url``."""
    texts = _architectures(2 * budget)
    kinds = [k for k in STORAGES if k != "postgresql" or pg_url]
    runs: dict[tuple[str, int], list[float]] = {(k, w): [] for k in kinds for w in WORKERS}
    with tempfile.TemporaryDirectory(prefix="nas-perf-storage-") as tmp:
        for repeat in range(repeats):  # interleaved, so that load drifts hit all alike
            for workers in WORKERS:
                for kind in kinds:
                    spec = _spec(kind, Path(tmp), pg_url, f"{kind}-w{workers}-r{repeat}")
                    runs[kind, workers].append(_race(spec, texts, budget, workers))
    return {key: statistics.median(rates) for key, rates in runs.items()}


def _rows(rates: dict[tuple[str, int], float], budget: int, repeats: int,
          pg_note: str) -> list[dict]:
    what = load_note(f"real worker loop, instant evaluations, {budget} trials per study, "
                     f"median of {repeats}")
    rows = []
    for kind in STORAGES:
        for workers in WORKERS:
            rate = rates.get((kind, workers), math.nan)
            base = rates[("journal", workers)]
            one = rates.get((kind, 1), math.nan)
            detail = what if (kind, workers) in rates else pg_note
            rows.append({"figure": f"{kind}, {workers} worker(s): trials/s", "value": rate,
                         "unit": "trials/s", "baseline": base,
                         "scaling": rate / one, "detail": detail})
            rows.append({"figure": f"{kind}, {workers} worker(s): storage overhead per trial",
                         "value": 1000 * workers / rate, "unit": "ms",
                         "baseline": 1000 * workers / base, "detail": detail})
    return rows


def run(quick: bool) -> list[dict]:
    """Rows for ``nas perf storage`` (``quick``: 12 trials per study, one repeat, one to
    two minutes; full: 40 trials, 3 repeats, about five). ``baseline`` is the journal
    file's figure, ``scaling`` the trials/s over that storage's 1-worker trials/s."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget, repeats = (12, 1) if quick else (40, 3)
    server, pg_url, pg_note = None, None, ""
    try:
        pg_url, server = postgres_url(durable=True)
    except PgServerUnavailable as exc:
        pg_note = f"PostgreSQL skipped: {exc}"
    try:
        rates = measure(budget, repeats, pg_url)
    finally:
        if server is not None:
            server.stop()
    return _rows(rates, budget, repeats, pg_note)
