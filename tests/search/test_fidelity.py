"""Successive halving across architectures: rungs, promotion, stops, and a killed worker."""

from __future__ import annotations

import time

import pytest

from bench.store import OnnxBenchStore
from nas.search import SearchConfig, run_search
from nas.search.fidelity import (
    BRED,
    FRESH,
    RUNGS,
    RungJudge,
    grace_rungs,
    promoted,
    rung_cohort,
    rung_epochs,
    rung_scores,
)
from nas.search.history import LEASE_UNTIL, History, TrialRecord
from nas.search.study import SearchStudy
from nas.search.worker import SearchContext, run_worker


def test_rungs_are_geometric_and_below_the_full_run():
    assert rung_epochs(1, 5, 3) == [1, 3]
    assert rung_epochs(1, 27, 3) == [1, 3, 9]
    assert rung_epochs(2, 8, 2) == [2, 4]
    assert rung_epochs(5, 5, 3) == []  # the first rung is the full run: no halving


@pytest.mark.parametrize("value, others, goes_on", [
    (0.5, [], True),                     # the first eta - 1 always go on
    (0.1, [0.9], True),
    (0.5, [0.9, 0.8], False),            # 3 values: only the top one goes on
    (0.9, [0.9, 0.1], True),             # ties go on
    (0.8, [0.1, 0.2, 0.9, 0.3, 0.4], True),   # 6 values: the top 2 go on
    (0.4, [0.1, 0.2, 0.9, 0.3, 0.8], False),
])
def test_the_top_third_of_a_rung_goes_on(value, others, goes_on):
    assert promoted(value, others, 3, maximize=True) is goes_on
    flipped = [-v for v in others]
    assert promoted(-value, flipped, 3, maximize=False) is goes_on  # minimising: lowest


def test_requeued_trials_do_not_compete():
    def rec(n, state, score, **kw):
        return TrialRecord(n, n, state, None, user_attrs={RUNGS: {"1": score}}, **kw)

    history = History.of([rec(0, "COMPLETE", 0.9), rec(1, "PRUNED", 0.2),
                          rec(2, "FAIL", 0.99, requeue=True), rec(3, "RUNNING", 0.5)])
    assert sorted(rung_scores(history, 1)) == [0.2, 0.5, 0.9]
    assert sorted(rung_scores(history, 1, exclude_trial_id=3)) == [0.2, 0.9]
    assert rung_scores(history, 3) == []


def test_fresh_samples_are_judged_among_fresh_samples():
    def rec(n, origin, score):
        return TrialRecord(n, n, "PRUNED", None, user_attrs={RUNGS: {"1": score},
                                                            "origin": origin})

    history = History.of([rec(0, "random", 0.2), rec(1, "mutation:leaf", 0.9),
                          rec(2, "random", 0.3), rec(3, "crossover", 0.8),
                          rec(4, "requeue", 0.7), rec(5, "reference:cnn", 0.6)])
    assert sorted(rung_scores(history, 1, cohort=FRESH)) == [0.2, 0.3]
    assert sorted(rung_scores(history, 1, cohort=BRED)) == [0.6, 0.7, 0.8, 0.9]
    assert len(rung_scores(history, 1)) == 6
    assert rung_cohort("random") == FRESH and rung_cohort("mutation:add-conv") == BRED


@pytest.mark.parametrize("origin, grace", [
    ("mutation:deepen", 1), ("mutation:add-conv", 1), ("mutation:insert", 1),
    ("mutation:add-norm", 1), ("mutation:add-activation", 1),
    ("mutation:leaf", 0), ("mutation:swap", 0), ("mutation:remove", 0),
    ("mutation:wrap-residual", 0), ("mutation:subtree", 0), ("mutation", 0),
    ("crossover", 0), ("random", 0), ("reference:cnn", 0), ("deepen", 0), (None, 0),
])
def test_only_children_of_growth_edits_get_grace(origin, grace):
    assert grace_rungs(origin, 1) == grace
    assert grace_rungs(origin, 0) == 0  # --growth-grace 0: every child is judged


def test_a_growth_child_passes_its_first_rung_unjudged_and_is_judged_at_the_next(study):
    for score in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4):  # six rivals at both rungs
        study.create_trial({RUNGS: {"1": score, "3": score}})
    slow = RungJudge(study, study.create_trial()[0], [1, 3, 9], 3, maximize=True,
                     cohort=None, grace=1)
    assert slow(1, 0.3) is True and slow.stopped_at is None  # last at rung 1, goes on
    assert study.history().get(slow.trial_id).user_attrs[RUNGS] == {"1": 0.3}  # recorded
    assert slow(2, 0.1) is True  # not a rung
    assert slow(3, 0.75) is False and slow.stopped_at == 3  # 3rd of 7: not in the top 2
    judged = RungJudge(study, study.create_trial()[0], [1, 3, 9], 3, maximize=True)
    assert judged(1, 0.3) is False and judged.stopped_at == 1  # no grace: stopped at once
    fast = RungJudge(study, study.create_trial()[0], [1, 3, 9], 3, maximize=True, grace=1)
    assert fast(1, 0.3) and fast(3, 0.95) and fast(9, 0.9)  # the grace rung is the first


@pytest.mark.parametrize("fresh_rungs", [True, False])
def test_an_evolution_search_judges_each_cohort_apart(workdir, fresh_rungs):
    """One worker, so each trial is judged against the trials before it: its cohort's
    with --fresh-rungs, all of them with --shared-rungs."""
    run_search(config(budget=14, strategy="evolution", population=4, tournament=2,
                      immigrant_rate=0.5, fresh_rungs=fresh_rungs))
    history = SearchStudy.open("runs/ffn-wine/study.journal", "ffn-wine",
                               create=False).history()
    cohorts = {rung_cohort(r.user_attrs["origin"]) for r in history.evaluated}
    assert cohorts == {FRESH, BRED}  # both cohorts were judged
    earlier: list[tuple[str, float]] = []
    for r in history.evaluated:
        cohort, score = rung_cohort(r.user_attrs["origin"]), r.user_attrs[RUNGS]["1"]
        rivals = [s for c, s in earlier if c == cohort or not fresh_rungs]
        assert (r.state == "PRUNED") is (not promoted(score, rivals, 3, maximize=True))
        earlier.append((cohort, score))


def config(**kw) -> SearchConfig:
    kw.setdefault("export", False)
    kw.setdefault("strategy", "random")
    return SearchConfig(grammar="ffn", task="wine", epochs=3, tune_trials=2, min_epochs=1,
                        seed_references=False, **kw)


def test_only_architectures_in_the_top_of_their_rung_train_further(workdir):
    summary = run_search(config(budget=8, export=True))
    history = SearchStudy.open("runs/ffn-wine/study.journal", "ffn-wine",
                               create=False).history()
    assert summary.completed + summary.pruned + summary.failed == 8
    assert summary.pruned >= 2 and summary.completed >= 1
    earlier: list[float] = []
    for r in history.evaluated:  # one worker: each trial judged against those before it
        score = r.user_attrs[RUNGS]["1"]
        went_on = promoted(score, earlier, 3, maximize=True)
        assert (r.state == "PRUNED") is (not went_on)
        if r.state == "PRUNED":  # stopped after the 1-epoch rung, no tuning trials
            assert r.user_attrs["epochs"] == 1 and r.user_attrs["inner_trials"] == 1
            assert r.user_attrs["stopped_at_rung"] == 1 and r.value == pytest.approx(score)
        else:  # trained in full and tuned
            assert r.user_attrs["inner_trials"] == 2 and r.state == "COMPLETE"
        earlier.append(score)
    assert history.best().state == "COMPLETE"  # a low-fidelity score is never the best
    # the store holds one record per architecture trained in full, at the full fidelity;
    # rung scores stay in the study (docs/SCHEMA.md)
    stored = OnnxBenchStore("runs/ffn-wine/bench").to_dataframe()
    complete = {r.user_attrs["arch_id"] for r in history.evaluated if r.state == "COMPLETE"}
    assert set(stored["arch_id"]) == complete and stored["epochs"].eq(3).all()


def test_a_worker_killed_at_a_rung_loses_nothing(workdir):
    cfg = config(budget=4, stale_after_s=2.0, heartbeat_s=1.0)
    run_search(SearchConfig.from_dict({**cfg.to_dict(), "budget": 3}))
    ctx = SearchContext.load(cfg, "runs/ffn-wine/study.journal")
    before = ctx.study.history()
    # a worker on another machine died after writing its rung score: its lease lapses
    arch = ctx.proposer.strategy.sample(__import__("random").Random(99)).arch
    trial_id, _ = ctx.study.create_trial()
    ctx.study.set_user_attrs(trial_id, {"arch": str(arch), "arch_id": arch.id,
                                        RUNGS: {"1": 0.99}, "worker": "elsewhere:1"})
    ctx.study.set_system_attrs(trial_id, {LEASE_UNTIL: time.time() - 1})
    run_worker(ctx, poll_s=0.05)
    after = ctx.study.history()
    kept = {r.number: (r.state, r.value, r.user_attrs.get(RUNGS)) for r in before.records}
    assert {r.number: (r.state, r.value, r.user_attrs.get(RUNGS))
            for r in after.records if r.number in kept} == kept  # finished rungs stay
    dead = after.get(trial_id)
    assert dead.requeue and "stale" in dead.fail_reason
    rerun = [r for r in after.evaluated if r.arch_id == arch.id]
    assert len(rerun) == 1 and rerun[0].user_attrs[RUNGS]["1"] != 0.99  # run again, judged
    assert len(after.evaluated) == 4
