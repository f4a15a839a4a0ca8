"""Final selection: folds, finalists, the winner, its retraining, resume and deadlines."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from bench.tasks import get_task
from nas.errors import OptionError
from nas.search import SearchConfig, run_search
from nas.search.final import (
    POOLED_ROWS,
    FinalSettings,
    _Lab,
    fold_tasks,
    full_task,
    plan_folds,
    retrain_settings,
    run_folds,
    train_on,
)
from nas.search.history import History, TrialRecord
from nas.search.selection import (
    Finalist,
    FinalSelection,
    best_info,
    finalists,
    load_selection,
    pick_winner,
    winner_record,
)
from nas.search.study import SearchStudy
from nas.space import load_space


def _rows(split) -> set[bytes]:
    return {row.numpy().tobytes() for row in split.x}


def test_folds_hold_out_every_labelled_row_once_and_never_read_test():
    task = get_task("wine", seed=0)
    folds = fold_tasks(task, 4, seed=0)
    pooled = _rows(task.train) | _rows(task.val)
    held = [_rows(fold.val) for fold in folds]
    assert set().union(*held) == pooled and sum(map(len, held)) == len(pooled)
    for fold, out in zip(folds, held, strict=True):
        assert _rows(fold.train) == pooled - out
        assert _rows(fold.test) == out  # the fold's "test" is its held-out rows
        assert not _rows(fold.train) & _rows(task.test)
        # stratified: each class's share of a fold is its share of all rows (+-1 row)
        counts = np.bincount(fold.val.y.numpy(), minlength=task.n_outputs)
        share = np.bincount(torch.cat([task.train.y, task.val.y]).numpy()) / 4
        assert np.all(np.abs(counts - share) <= 1)


def test_the_final_model_trains_on_train_and_validation_and_scores_test():
    task = get_task("wine", seed=0)
    full = full_task(task)
    assert _rows(full.train) == _rows(task.train) | _rows(task.val) == _rows(full.val)
    assert torch.equal(full.test.x, task.test.x)


def _record(number, score, arch_id, function_key=None, loss=0.1, hparams=True):
    attrs = {"val_loss": loss, "test_score": 0.5, "train_seconds": 2.0, "inner_trials": 2}
    if hparams:
        attrs["hparams"] = {"lr": 0.01}
    return TrialRecord(number, number, "COMPLETE", score, arch=f"a{number}", arch_id=arch_id,
                       function_key=function_key, user_attrs=attrs)


def test_finalists_are_the_best_by_validation_one_per_function_near_the_best():
    history = History.of([
        _record(0, 0.95, "a", "f1"),
        _record(1, 0.97, "b", "f1"),            # same function as a: a is left out
        _record(2, 0.96, "c", "f2", loss=0.3),
        _record(3, 0.96, "d", "f3", loss=0.2),  # equal score, lower loss: before c
        _record(4, 0.80, "e", "f4"),            # more than 5% behind the best
        _record(5, 0.99, "g", "f5", hparams=False),  # no tuned hyperparameters recorded
    ])
    assert [r.arch_id for r in finalists(history, 5)] == ["b", "d", "c"]
    assert [r.arch_id for r in finalists(history, 2)] == ["b", "d"]


def test_the_winner_is_the_best_only_while_its_finalists_are_the_studys_best():
    records = [_record(0, 0.95, "a", "f1"), _record(1, 0.96, "b", "f2")]
    chosen = finalists(History.of(records), 2)
    selection = FinalSelection(3, [Finalist.of(r) for r in chosen], requested=2)
    selection.finalists[1].fold_scores = [1.0, 1.0, 1.0]  # a cross-validates best
    selection.finalists[0].fold_scores = [0.9, 0.9, 0.9]
    pick_winner(selection, maximize=True)
    best, extra = best_info(History.of(records), selection)
    assert best.arch_id == "a" and extra["cv_score"] == 1.0 and extra["folds"] == 3
    # the search went on and found a better network: the selection is stale
    later = History.of([*records, _record(2, 0.99, "c", "f3")])
    assert winner_record(later, selection) is None
    assert best_info(later, selection) == (later.best(), {})
    assert finalists(later, 0) == []


def test_the_winner_is_the_best_cross_validated_and_validation_breaks_ties():
    def entry(number, folds):
        return Finalist(number, f"id{number}", "x", 0.9, 0.9, {}, folds)

    selection = FinalSelection(2, [entry(0, [0.9, 0.9]), entry(1, [1.0, 0.9]),
                                   entry(2, [0.95, 0.95]), entry(3, [])])
    pick_winner(selection, maximize=True)
    assert selection.winner == 1 and selection.final_val_score == pytest.approx(0.95)
    assert selection.winner_arch_id == "id1"  # finalist 2 ties: finalist 1 is ahead on val
    pick_winner(selection, maximize=False)
    assert selection.winner == 0


def test_folds_in_worker_processes_score_as_in_this_process(workdir):
    cfg = SearchConfig(grammar="ffn", task="wine", epochs=2, folds=2, export=False)
    lab = _Lab.of(cfg.to_dict())
    arch = "sequential(flatten, sequential(linear(16), relu))"
    work = {(0, 0): (arch, {"lr": 0.01}), (0, 1): (arch, {"lr": 0.01})}
    here, pool = {}, {}
    assert run_folds(lab, cfg.to_dict(), 1, work, None, lambda job, r: here.update({job: r}))
    assert run_folds(lab, cfg.to_dict(), 2, work, None, lambda job, r: pool.update({job: r}))
    assert {j: r[0] for j, r in here.items()} == {j: r[0] for j, r in pool.items()}
    # a deadline already past: nothing runs, and the caller learns it
    assert not run_folds(lab, cfg.to_dict(), 1, work, time.monotonic() - 1, lambda *a: None)
    assert run_folds(lab, cfg.to_dict(), 2, {}, None, lambda *a: None)  # nothing to do


def test_the_winners_retraining_gets_time_for_its_extra_rows_but_not_past_the_deadline():
    settings = FinalSettings(epochs=15, trial_seconds=60.0, seed=0)
    # 1.5 x POOLED_ROWS x 60 s: a winner that took 47 s on train alone is not projected
    # over its budget on train + validation (it was at 60 s: stop 27's mnist1d run)
    assert retrain_settings(settings, None).trial_seconds == 1.5 * POOLED_ROWS * 60.0
    assert retrain_settings(settings, None).epochs == 15
    soon = retrain_settings(settings, time.monotonic() + 30.0).trial_seconds
    assert 29.0 < soon <= 30.0  # the time limit still holds
    assert retrain_settings(settings, time.monotonic() - 5.0).trial_seconds == 1.0
    unlimited = FinalSettings(epochs=15, trial_seconds=None, seed=0)
    assert retrain_settings(unlimited, None).trial_seconds is None
    assert 29.0 < retrain_settings(unlimited, time.monotonic() + 30.0).trial_seconds <= 30.0


def test_final_selection_plans_the_finalists_whose_folds_fit():
    """Best first, as many as fit: with 3 folds a fold of a 10 s finalist is estimated at
    1.25 x 2/3 x 10 s, two workers share the runs, the winner's retraining is kept."""
    def entry(number, seconds, folds=()):
        return Finalist(number, f"id{number}", "x", 0.9, 0.9, {}, list(folds),
                        run_seconds=seconds)

    selection = FinalSelection(3, [entry(0, 10), entry(1, 10), entry(2, 30), entry(3, 10)])
    pending = [0, 1, 2, 3]
    # [0, 1] needs 52.1 s, [0, 1, 2] 143.8 s, all four 156.3 s
    assert plan_folds(selection, pending, 2, 60) == [0, 1]
    assert plan_folds(selection, pending, 2, 150) == [0, 1, 2]
    assert plan_folds(selection, pending, 2, 1000) == pending
    assert plan_folds(selection, pending, 1, 60) == []  # one worker: [0] alone would fit
    assert plan_folds(selection, pending, 2, 40) == []  # finalist 0 alone: no choice
    selection.finalists[0].fold_scores = [0.9, 0.9, 0.9]  # scored before (a resume)
    assert plan_folds(selection, [1, 2, 3], 2, 40) == [1]  # now it is a choice of two


def config(**kw) -> SearchConfig:
    kw.setdefault("export", False)
    return SearchConfig(grammar="ffn", task="wine", strategy="random", epochs=3,
                        tune_trials=1, min_epochs=None, seed_references=False, finalists=3,
                        folds=3, **kw)


def test_a_search_ends_with_final_selection_and_a_resume_keeps_it(workdir):
    summary = run_search(config(budget=6))
    final, best = summary.final, summary.best
    assert final["complete"] and 1 <= len(final["finalists"]) <= 3
    winner = next(f for f in final["finalists"] if f["trial_number"] == final["winner"])
    assert best["trial_number"] == winner["trial_number"]
    assert len(winner["fold_scores"]) == 3
    assert best["cv_score"] == pytest.approx(np.mean(winner["fold_scores"]))
    assert best["cv_score"] == max(f["cv_score"] for f in final["finalists"])
    # the winner's retraining, reproduced: same data, hyperparameters, seed and epochs
    space, task = load_space("ffn"), get_task("wine", seed=0)
    arch = space.parse(winner["arch"])
    from nas.builder import build_model

    _, test = train_on(lambda: build_model(arch, space, task.input_shape, task.head),
                       full_task(task), winner["hparams"], FinalSettings(3, 60.0, 0))
    assert best["final_test_score"] == pytest.approx(test)
    assert summary.to_json()["best_final_test_score"] == best["final_test_score"]

    again = run_search(config(budget=6))  # nothing new: nothing is trained again
    assert again.final["finalists"] == final["finalists"]
    assert again.best["final_test_score"] == best["final_test_score"]
    recorded = load_selection(SearchStudy.open("runs/ffn-wine/study.journal", "ffn-wine",
                                               create=False))
    assert recorded.winner == final["winner"]


def test_no_time_left_keeps_the_best_by_validation(workdir):
    cfg = config(budget=4)
    run_search(SearchConfig.from_dict({**cfg.to_dict(), "finalists": 0}))
    study = SearchStudy.open("runs/ffn-wine/study.journal", "ffn-wine", create=False)
    assert load_selection(study) is None  # --finalists 0: off
    from nas.search.final import select_final
    from nas.search.worker import SearchContext

    ctx = SearchContext.load(cfg, "runs/ffn-wine/study.journal", create=False)
    notes = []
    selection = select_final(ctx, deadline=time.monotonic() - 1, note=notes.append)
    assert not selection.complete and selection.winner is None
    assert selection.final_test_score is None and any("no finalist" in n for n in notes)
    summary = run_search(SearchConfig.from_dict({**cfg.to_dict(), "finalists": 0}))
    assert summary.best["trial_number"] == ctx.study.history().best().number


def test_a_time_limit_keeps_a_share_for_final_selection():
    assert SearchConfig(time_limit_s=100, finalists=5).search_seconds == pytest.approx(85)
    assert SearchConfig(time_limit_s=100).search_seconds == 100  # off by default
    assert SearchConfig().search_seconds is None


@pytest.mark.parametrize("field, value", [("finalists", -1), ("folds", 1)])
def test_bad_final_options_are_refused(field, value):
    with pytest.raises(OptionError, match=field):
        SearchConfig(**{field: value})


def test_a_selection_round_trips_through_the_study_and_damage_is_ignored():
    selection = FinalSelection(5, [Finalist(1, "a", "x", 0.9, 0.8, {"lr": 0.1}, [0.9, 0.8],
                                            run_seconds=2.0)],
                               winner=1, requested=5, winner_arch_id="a",
                               final_test_score=0.7, complete=False, note="time")
    assert FinalSelection.from_dict(selection.to_dict()) == selection

    class Study:
        def __init__(self, value):
            self.value = value

        def user_attrs(self):
            return {"final_selection": self.value}

    assert load_selection(Study(selection.to_dict())) == selection
    # written by something else, or damaged: ignored (final selection runs anew)
    assert load_selection(Study({"folds": 5, "finalists": [{"bogus": 1}]})) is None
    assert load_selection(Study("text")) is None
