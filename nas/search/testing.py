"""Run the real worker loop under real concurrency, without training, to check the protocol.

Used by the tests (``tests/search``) and ``nas perf search``: several processes run
:func:`nas.search.worker.run_worker` on one study with a :class:`FixedStrategy` (every
worker wants the same architectures, in the same order: the worst case for duplicates)
and an instant evaluator, all released at the same moment.

    history, reports = run_protocol_race("runs/x/study.journal", "race", "ffn",
                                         arch_texts, budget=8, workers=3)
    history, hits = run_protocol_faults("runs/y/study.journal", "faults", "ffn",
                                        arch_texts, budget=12, workers=3, kills=3)

With ``store_dir`` the evaluations also return the architecture's (untrained) model for
the ``wine`` task, which the worker exports to the ONNX-Bench store at ``store_dir`` for
real, optionally after a pause (``export_seconds``: an export that takes that long).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from dataclasses import asdict
from functools import partial

import torch

from bench.store import OnnxBenchStore
from bench.tasks import get_task
from nas.architecture import Architecture
from nas.builder import build_model
from nas.canonical import function_key
from nas.search.claims import Proposer
from nas.search.config import SearchConfig
from nas.search.evaluate import Outcome, export
from nas.search.history import History
from nas.search.strategies import Proposal, Strategy
from nas.search.study import SearchStudy
from nas.search.worker import SearchContext, WorkerReport, run_worker
from nas.space import load_space


class FixedStrategy(Strategy):
    """Proposes the first of ``archs`` that the history does not hold yet (so that all
    workers contend for the same one), else the first.

    With an ``input_shape`` the proposals are typed on it, so claims also hold their
    function keys (:mod:`nas.canonical`), and an architecture whose network is held
    counts as held; without one (the default) claims hold arch ids only.
    """

    name = "fixed"

    def __init__(self, space, archs, input_shape: tuple[int, ...] = ()):
        super().__init__(space, input_shape, None)
        self.archs = list(archs)
        self.keys = [(arch.id, function_key(space, arch, input_shape) if input_shape else None)
                     for arch in self.archs]

    def free(self, history: History) -> list[Architecture]:
        """The architectures whose id and function key nobody holds, in order."""
        taken = history.claimed_ids()
        return [arch for arch, (arch_id, key) in zip(self.archs, self.keys, strict=True)
                if arch_id not in taken and key not in taken]

    def propose(self, history: History, rng) -> Proposal:
        free = self.free(history)
        return Proposal(free[0] if free else self.archs[0], "fixed")


class SpreadStrategy(FixedStrategy):
    """Proposes a random one of ``archs`` that the history does not hold yet (seeded by
    the trial, like every proposal): workers rarely want the same one, as in a real
    random search. Used to time the protocol rather than to provoke races."""

    name = "spread"

    def propose(self, history: History, rng) -> Proposal:
        free = self.free(history)
        return Proposal(rng.choice(free) if free else self.archs[0], "spread")


def instant_evaluation(ctx, arch, *, trial_number: int, seconds: float = 0.0,
                       judge=None) -> Outcome:
    """An evaluation that takes ``seconds`` and scores ``1 / (1 + trial_number)`` (no
    training, so a successive-halving ``judge`` has no rung to judge)."""
    time.sleep(seconds)
    value = 1.0 / (1 + trial_number)
    return Outcome(value, {"arch": str(arch), "arch_id": arch.id, "val_score": value,
                           "test_score": value, "grammar": ctx.space.name,
                           "strategy": "fixed", "seed": 0})


def model_evaluation(ctx, arch, *, trial_number: int, seconds: float = 0.0,
                     judge=None) -> Outcome:
    """:func:`instant_evaluation` that also returns the architecture's model (untrained,
    seeded by the trial number) with the task's head, for the worker to export."""
    outcome = instant_evaluation(ctx, arch, trial_number=trial_number, seconds=seconds)
    torch.manual_seed(trial_number)
    outcome.model = build_model(arch, ctx.space, ctx.task.input_shape, ctx.task.head)
    outcome.attrs.update(task=ctx.task.name, metric=ctx.task.metric)
    return outcome


def delayed_export(ctx, outcome: Outcome, trial_number: int, *, seconds: float) -> dict:
    """The real export (:func:`nas.search.evaluate.export`), after ``seconds``."""
    time.sleep(seconds)
    return export(ctx, outcome, trial_number)


def protocol_context(spec: str, study: str, grammar: str, arch_texts: list[str], budget: int,
                     eval_seconds: float = 0.0, heartbeat_s: float = 1.0,
                     stale_after_s: float = 5.0, spread: bool = False,
                     store_dir: str | None = None, export_seconds: float = 0.0,
                     background_export: bool = True,
                     input_shape: tuple[int, ...] = ()) -> SearchContext:
    """A :class:`SearchContext` whose evaluations are instant (see the module docstring);
    ``spread`` proposes with :class:`SpreadStrategy` instead of :class:`FixedStrategy`;
    ``store_dir``: evaluations return a model, exported there (``export_seconds`` late,
    on the worker's background thread unless ``background_export`` is False);
    ``input_shape``: claims hold function keys on that shape (:class:`FixedStrategy`)."""
    space = load_space(grammar)
    archs = [space.parse(text) for text in arch_texts]
    # the evaluations here do not train, so there are no rungs to judge (min_epochs None)
    config = SearchConfig(grammar=grammar, budget=budget, study=study, storage=spec,
                          min_epochs=None, export=store_dir is not None, heartbeat_s=heartbeat_s,
                          stale_after_s=stale_after_s, background_export=background_export)
    opened = SearchStudy.open(spec, study, direction="maximize")
    strategy = (SpreadStrategy if spread else FixedStrategy)(space, archs, input_shape)
    if store_dir is None:
        return SearchContext(config, space, None, Proposer(strategy), None, opened, spec,
                             partial(instant_evaluation, seconds=eval_seconds))
    return SearchContext(config, space, get_task("wine"), Proposer(strategy),
                         OnnxBenchStore(store_dir, create=True), opened, spec,
                         partial(model_evaluation, seconds=eval_seconds),
                         partial(delayed_export, seconds=export_seconds))


def protocol_worker(spec: str, study: str, grammar: str, arch_texts: list[str], budget: int,
                    start_at: float, eval_seconds: float, results, spread: bool = False,
                    store_dir: str | None = None, export_seconds: float = 0.0,
                    input_shape: tuple[int, ...] = ()) -> None:
    """One racing worker process: wait for ``start_at`` (wall clock), then run the loop."""
    ctx = protocol_context(spec, study, grammar, arch_texts, budget, eval_seconds,
                           spread=spread, store_dir=store_dir, export_seconds=export_seconds,
                           input_shape=input_shape)
    time.sleep(max(0.0, start_at - time.time()))
    report = run_worker(ctx, poll_s=0.05)
    results.put(asdict(report))


def run_protocol_race(spec: str, study: str, grammar: str, arch_texts: list[str], budget: int,
                      workers: int, eval_seconds: float = 0.0, start_delay: float = 3.0,
                      spread: bool = False, store_dir: str | None = None,
                      input_shape: tuple[int, ...] = ()
                      ) -> tuple[History, list[WorkerReport]]:
    """Race ``workers`` processes on one study; returns its history and their reports.

    ``spread``: each trial proposes a random free architecture (:class:`SpreadStrategy`)
    rather than all workers the same one (for timings); ``store_dir``: evaluations
    return models, exported there; ``input_shape``: claims hold function keys."""
    SearchStudy.open(spec, study, direction="maximize")  # create it before the race
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    start_at = time.time() + start_delay  # after every process has imported torch
    procs = [mp.Process(target=protocol_worker, args=(spec, study, grammar, arch_texts,
                                                      budget, start_at, eval_seconds, results,
                                                      spread, store_dir, 0.0, input_shape))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    reports = [WorkerReport(**results.get(timeout=300)) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    return SearchStudy.open(spec, study, create=False).history(), reports


def run_protocol_faults(spec: str, study: str, grammar: str, arch_texts: list[str],
                        budget: int, workers: int, kills: int, eval_seconds: float = 0.5,
                        seed: int = 0) -> tuple[History, int]:
    """Run ``workers`` racing processes and, ``kills`` times at random moments, SIGKILL
    a random one that is in the middle of a trial, starting a replacement each time;
    then let them finish.

    Returns the study's history and the number of kills made.
    """
    opened = SearchStudy.open(spec, study, direction="maximize")
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    rng = random.Random(seed)

    def launch(start_at: float):
        proc = mp.Process(target=protocol_worker, args=(spec, study, grammar, arch_texts,
                                                        budget, start_at, eval_seconds,
                                                        results))
        proc.start()
        return proc

    procs = [launch(time.time() + 3.0) for _ in range(workers)]
    hits = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.1, 1.0))
        victim = _busy_worker(opened, procs, rng)
        if victim is None:
            break
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        hits += 1
        procs.append(launch(time.time()))
    for proc in procs:
        proc.join(timeout=300)
    return SearchStudy.open(spec, study, create=False).history(), hits


def _busy_worker(study, procs, rng, timeout: float = 60.0):
    """A random live process that holds a running trial (None if none shows up)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = {r.worker.rsplit(":", 1)[1] for r in study.history().running if r.worker}
        busy = [p for p in procs if p.is_alive() and str(p.pid) in pids]
        if busy:
            return rng.choice(busy)
        if not any(p.is_alive() for p in procs):
            return None
        time.sleep(0.05)
    return None
