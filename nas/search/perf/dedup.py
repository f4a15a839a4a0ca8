"""``nas perf dedup``: the share of duplicate evaluations, keyed by arch id (before)
against keyed by function key (after, :mod:`nas.canonical`).

A duplicate evaluation is one whose network (function key) an earlier evaluation of the
study already had: a different string of the same network, trained again. Measured on
the proposal stream, without training: the real :class:`~nas.search.claims.Proposer`
and the default strategy (regularized evolution with small mutations and crossover,
sized as a time-limited search sizes it) replay ``N`` evaluations of one study on a
task's input shape and head, in one process. Each evaluation gets a synthetic score at
once, fixed by its function key (two strings of one network score the same, as a
deterministic evaluation would): a fresh sample scores uniformly in [0, 1], a child its
best parent's score plus a normal step (sd ``STEP``), as small mutations mostly keep a
parent's level, so the population settles on a lineage as real searches do. The same seed, task
and N run twice: claims keyed by arch id only (``function_keys=False``, the platform
before function keys) and by arch id and function key (today).

Rows per task: the share of duplicate evaluations before and after, and the proposals
the proposer made per evaluation after (a skipped duplicate costs a re-proposal, no
training). :func:`study_duplicates` counts the same share among the evaluations of an
existing study (read only).
"""

from __future__ import annotations

import random
import statistics
import time

from nas.canonical import function_key
from nas.errors import ArchitectureError
from nas.search.claims import NothingToPropose, Proposer
from nas.search.config import SearchConfig
from nas.search.history import History, TrialRecord
from nas.search.perf import load_note
from nas.search.strategy_registry import make_strategy
from nas.space import load_space

SEED = 0
TASKS = ("digits", "mnist1d")
#: sd of a child's score around its parent's
STEP = 0.03


def synthetic_score(key: str, parent: float | None) -> float:
    """The score of the network ``key`` (see the module docstring): uniform in [0, 1)
    without a parent, else ``parent`` plus a normal step, both drawn from the key."""
    rng = random.Random(key)
    return rng.random() if parent is None else parent + rng.gauss(0.0, STEP)


class _CountingProposer(Proposer):
    """A proposer that counts the strategy's proposals (kept or skipped)."""

    proposals = 0

    def keyed(self, proposal):
        self.proposals += 1
        return super().keyed(proposal)


def replay(task_name: str, n: int, function_keys: bool, seed: int = SEED,
           grammar: str = "einspace") -> dict:
    """Replay ``n`` evaluations of a search on ``task_name`` (see the module docstring).

    Returns ``{"evaluations", "duplicates", "proposals", "seconds", "key_ms"}``:
    duplicates are evaluations whose function key an earlier one had; ``key_ms`` the
    median milliseconds of one :func:`~nas.canonical.function_key` (type check included).
    """
    from bench.tasks import get_task  # torch: the task's data side (top layer, on demand)

    space = load_space(grammar)
    task = get_task(task_name, seed=seed)
    config = SearchConfig(grammar=grammar, task=task_name, strategy="evolution",
                          budget=None, time_limit_s=3600.0, seed=seed)
    strategy = make_strategy(config, space, task)
    proposer = _CountingProposer(strategy, seed=seed, function_keys=function_keys)
    records: list[TrialRecord] = []
    scores: dict[str, float] = {}  # function key -> score
    by_id: dict[str, float] = {}  # arch id -> score
    key_times: list[float] = []
    duplicates, started = 0, time.perf_counter()
    for number in range(n):
        try:
            proposal = proposer.propose(History.of(records), number, number, 0)
        except NothingToPropose:
            break
        tic = time.perf_counter()
        key = function_key(space, proposal.arch, task.input_shape)
        key_times.append(time.perf_counter() - tic)
        duplicates += key in scores
        if key not in scores:
            parents = [by_id[p] for p in proposal.parents if p in by_id]
            scores[key] = synthetic_score(key, max(parents) if parents else None)
        by_id[proposal.arch.id] = scores[key]
        records.append(_completed(number, proposal, scores[key]))
        # the replay holds every tree it made: spare the strategy re-parsing its string
        strategy._parsed[str(proposal.arch)] = proposal.arch
    return {"evaluations": len(records), "duplicates": duplicates,
            "proposals": proposer.proposals, "seconds": time.perf_counter() - started,
            "key_ms": 1000 * statistics.median(key_times) if key_times else float("nan")}


def _completed(number: int, proposal, score: float) -> TrialRecord:
    attrs = {"origin": proposal.origin, "parents": list(proposal.parents) or None}
    keyed = proposal.attrs.get("function_key")  # None when claims are keyed by id only
    return TrialRecord(trial_id=number, number=number, state="COMPLETE",
                       value=score, arch=str(proposal.arch),
                       arch_id=proposal.arch.id, function_key=keyed, user_attrs=attrs)


def study_duplicates(storage: str, study: str, input_shape, grammar: str = "einspace"
                     ) -> tuple[int, int]:
    """``(evaluations, duplicates)`` of an existing study: evaluated trials whose
    network (function key on ``input_shape``) an earlier evaluated trial had. Reads only."""
    from nas.search.study import SearchStudy  # optuna storages: only this helper needs them

    space = load_space(grammar)
    history = SearchStudy.open(storage, study, create=False).history()
    seen: set[str] = set()
    evaluations = duplicates = 0
    for record in history.evaluated:
        try:
            key = function_key(space, space.parse(record.arch), input_shape)
        except ArchitectureError:
            continue
        evaluations += 1
        duplicates += key in seen
        seen.add(key)
    return evaluations, duplicates


def run(quick: bool = False) -> list[dict]:
    """The rows of ``nas perf dedup`` (quick: 300 evaluations on digits only)."""
    n, tasks = (300, TASKS[:1]) if quick else (2000, TASKS)
    rows = []
    for task_name in tasks:
        before = replay(task_name, n, function_keys=False)
        after = replay(task_name, n, function_keys=True)
        what = load_note(f"{task_name}, einspace, evolution (small mutations, crossover "
                         f"0.2), {n} replayed evaluations, seed {SEED}, synthetic scores "
                         f"by function key, no training")
        rows += [
            {"figure": f"duplicate evaluations, {task_name}, keyed by function (after)",
             "value": 100 * after["duplicates"] / max(after["evaluations"], 1), "unit": "%",
             "baseline": 100 * before["duplicates"] / max(before["evaluations"], 1),
             "detail": what + f"; baseline: keyed by arch id, {before['duplicates']} of "
                              f"{before['evaluations']}"},
            {"figure": f"proposals per evaluation, {task_name}, keyed by function",
             "value": after["proposals"] / max(after["evaluations"], 1), "unit": "x",
             "baseline": before["proposals"] / max(before["evaluations"], 1),
             "detail": what + f"; replay {after['seconds']:.0f} s after, "
                              f"{before['seconds']:.0f} s before"},
            {"figure": f"one function key, {task_name} (median)", "value": after["key_ms"],
             "unit": "ms", "detail": what + "; type check included, per proposal"},
        ]
    return rows
